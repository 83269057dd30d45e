"""Akuvox "Open Relay via HTTP" and HTTP anti-passback: `GET /fcgi/OpenDoor` (reference 003).

An Akuvox authentication device (A01, A02, ... or another door-gateway with `apb_urls`)
sends, after it has recognised someone,

    http://USER:PASSWORD@gateway/fcgi/OpenDoor?action=OpenDoor&DoorNum=1
        &AntiPassbackMode=Entry&Name=Ada%20Lovelace&UnlockType=RF%20Card&Code=0C8707

and this gateway is the door-opening device: it checks the basic auth against
`[http_unlock]`, finds the user (by `Code`, else by `Name`), applies its own rules for that
user and door, checks and updates the user's in/out state when `AntiPassbackMode` is given
and `[http_unlock] antipassback` is "soft" or "hard", opens door `DoorNum` (the `[[doors]]`
in config order, from 1) through the door controller, and journals the event. Without any
user field it is a plain remote unlock by the basic-auth user.

Answers: 200 {"result": "granted"}; 403 {"result": "denied", "reason": ...}; 401 (with
`WWW-Authenticate: Basic`) for missing or wrong credentials; 400 / 404 {"result": "error",
"reason": ...} for a malformed query or a DoorNum with no door; 429 while the login
throttle makes the client wait; 404 when `[http_unlock] enabled = false`.
docs/akuvox-opendoor.md has the details and the choices made.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.access.autoinout import AutoInOut, CheckResult
from gateway.access.schedules import applicable_groups, schedule_allows
from gateway.cardnumbers import from_printed
from gateway.clock import Clock, Instant, Stamp
from gateway.model import PIN_MASK, Direction, Event, shown_credential
from gateway.settings import AutoInOutSettings, HttpUnlockSettings, Settings
from gateway.store.index import CredentialRef, RulesSnapshot, UserRule
from gateway.store.secrets import PinHasher
from gateway.web import security

if TYPE_CHECKING:
    from gateway.access.engine import AccessEngine
    from gateway.doors.controller import DoorController

log = logging.getLogger(__name__)

PATH = "/fcgi/OpenDoor"
READER = "http_unlock"  # the journal's `reader` for these events
PARAMS = ("action", "DoorNum", "AntiPassbackMode", "Name", "UnlockType", "Code")
# Longest accepted value of each parameter (DoorNum: 3 digits).
MAX_LENGTHS = {
    "action": 16,
    "DoorNum": 3,
    "AntiPassbackMode": 16,
    "Name": 128,
    "UnlockType": 32,
    "Code": 64,
}
MODES: dict[str, Direction] = {"entry": "in", "exit": "out"}
REALM = 'Basic realm="door-gateway OpenDoor", charset="UTF-8"'
_CARD_SEPARATORS = re.compile(r"[\s:\-]")
_HEX_BYTES = re.compile(r"(?:[0-9A-F]{2}){1,10}\Z")


# -- the in/out state of HTTP unlocks ------------------------------------------------------


class HttpUnlockState:
    """Who is in and who is out, as far as HTTP unlocks tell: a dedicated anti-passback
    state (the engine's autoInOut mode and its hard/soft choice are the local readers'),
    kept in the store beside the engine's state so that it survives a restart."""

    def __init__(
        self, settings: HttpUnlockSettings, tz: ZoneInfo, on_change: Callable[[], None]
    ) -> None:
        self.settings = settings
        on = settings.antipassback != "off"
        rule = AutoInOutSettings(
            mode="anti_passback" if on else "disable",
            anti_passback="soft" if settings.antipassback == "soft" else "hard",
        )
        self._passages = AutoInOut(rule, tz)
        self._on_change = on_change
        self.version = 0  # moves with every change, for tests and the status page

    @property
    def enforced(self) -> bool:
        return self.settings.antipassback != "off"

    def check(self, user_id: str, direction: Direction, now: Instant) -> CheckResult:
        return self._passages.check(user_id, direction, now)

    def commit(self, user_id: str, direction: Direction, now: Instant) -> None:
        """Record a passage that really opened the door, and save."""
        if self._passages.commit(user_id, direction, now):
            self.version += 1
            self._on_change()

    def export_state(self, now: Stamp) -> dict[str, Any]:
        return self._passages.export_state(now)

    def import_state(self, state: dict[str, Any], now: Stamp) -> None:
        """Restore `export_state`; raises ValueError (state unchanged) if malformed."""
        self._passages.import_state(state, now)

    def status(self, now: Instant) -> dict[str, Any]:
        passages = self._passages.status(now)
        return {
            "enabled": self.settings.enabled,
            "antipassback": self.settings.antipassback,
            "tracked_users": passages["tracked_users"],
            "users_in": passages["users_in"],
        }


# -- what the endpoint may use of the gateway ------------------------------------------------


class OpenDoorContext(Protocol):
    """The parts of the running gateway that the OpenDoor endpoint works with."""

    settings: Settings
    clock: Clock
    tz: ZoneInfo
    hasher: PinHasher
    doors: dict[str, DoorController]
    engine: AccessEngine
    http_unlock: HttpUnlockState

    def emit(self, event: Event) -> None: ...

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...


CONTEXT = web.AppKey("open_door_context", OpenDoorContext)


# -- the query -----------------------------------------------------------------------------


class QueryError(Exception):
    """A malformed query (400) or a DoorNum without a door (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OpenDoorRequest:
    door_num: int
    direction: Direction | None  # from AntiPassbackMode; None: no anti-passback check
    name: str = ""
    unlock_type: str = ""
    code: str = ""

    @property
    def names_a_user(self) -> bool:
        """Any user field given: an identified passage, not a plain remote unlock."""
        return bool(self.direction or self.name or self.unlock_type or self.code)


def parse_query(query: Mapping[str, str], getall: Callable[[str], list[str]]) -> OpenDoorRequest:
    """The query as an `OpenDoorRequest`; QueryError for anything unexpected."""
    for key in query:
        if key not in PARAMS:
            raise QueryError(f"unknown parameter {key!r}; expected {', '.join(PARAMS)}")
        if len(getall(key)) > 1:
            raise QueryError(f"{key}: given more than once")
    values = {key: _param(query, key) for key in PARAMS}
    if values["action"].lower() != "opendoor":
        raise QueryError("action: expected OpenDoor")
    raw_door = values["DoorNum"]
    if not (raw_door.isascii() and raw_door.isdigit()):
        raise QueryError("DoorNum: expected a door number from 1")
    mode = values["AntiPassbackMode"].lower()
    if mode and mode not in MODES:
        raise QueryError("AntiPassbackMode: expected Entry or Exit")
    return OpenDoorRequest(
        door_num=int(raw_door),
        direction=MODES.get(mode),
        name=values["Name"],
        unlock_type=values["UnlockType"],
        code=values["Code"],
    )


def _param(query: Mapping[str, str], key: str) -> str:
    """One value, bounded and printable; the message never repeats it (it may be a PIN)."""
    value = query.get(key, "").strip()
    limit = MAX_LENGTHS[key]
    if len(value) > limit or not value.isprintable():
        raise QueryError(f"{key}: expected at most {limit} printable characters")
    return value


def door_by_number(settings: Settings, number: int) -> str:
    """The name of the `number`-th `[[doors]]` entry (from 1); QueryError 404 if none."""
    if not 1 <= number <= len(settings.doors):
        raise QueryError(f"DoorNum: no door {number}; doors are 1 to {len(settings.doors)}", 404)
    return settings.doors[number - 1].name


# -- who is it -------------------------------------------------------------------------------


def classify(unlock_type: str) -> str:
    """The credential kind an Akuvox UnlockType names: card, pin, qr, plate, or other.

    The reference shows `$unlocktype` without listing its values; Akuvox UIs say "RF Card",
    "PIN", "Private PIN", "QR Code", "License Plate", "Face", and older firmware "Private
    Key" for a PIN. Matching is on lowercase letters and digits only."""
    key = "".join(ch for ch in unlock_type.lower() if ch.isalnum())
    if "qr" in key:
        return "qr"
    if "plate" in key or "license" in key:
        return "plate"
    if "card" in key or key in ("rf", "rfid", "nfc", "ic", "id"):
        return "card"
    pin_words = ("pin", "privatekey", "publickey", "password", "passcode", "keypad")
    if any(word in key for word in pin_words):
        return "pin"
    return "other"


def card_canonical(code: str, card_format: str) -> str | None:
    """The canonical card number for `code` as the sender shows it; None if it is not one."""
    if card_format:
        try:
            return from_printed(code, card_format)
        except ValueError:
            return None
    digits = _CARD_SEPARATORS.sub("", code).upper()
    return digits if _HEX_BYTES.match(digits) else None


@dataclass
class Found:
    """The outcome of identification: the user, or the reason nobody was found."""

    user: UserRule | None = None
    kind: str | None = None  # the credential kind that matched (or the one named)
    shown: str | None = None  # the code as the journal may show it
    reason: str = "unknown_user"
    by_code: bool = False  # found by a credential (Code), not by Name
    trace: list[str] = field(default_factory=list)


class Identifier:
    """Finds the user of an OpenDoor request in the current rules snapshot."""

    def __init__(self, snapshot: RulesSnapshot, hasher: PinHasher, card_format: str) -> None:
        self._snapshot = snapshot
        self._hasher = hasher
        self._card_format = card_format

    def find(self, req: OpenDoorRequest) -> Found:
        """By Code when given (no fallback for a card/PIN/QR/plate code: a revoked card
        must not open by its owner's name), else by Name."""
        kind = classify(req.unlock_type) if req.unlock_type else "other"
        found = Found(kind=None if kind == "other" else kind)
        if req.code:
            kinds = (kind,) if kind != "other" else ("card", "pin", "qr", "plate")
            for candidate in kinds:
                ref = self._lookup(candidate, req.code)
                if ref is not None:
                    return self._owner(found, candidate, req.code, ref)
            # Shown as its kind is shown (a QR code as its fingerprint); an unknown kind may
            # be a PIN, so it is masked.
            found.shown = shown_credential(kind, req.code) if kind != "other" else PIN_MASK
            found.trace.append(f"lookup:code={kind},unknown")
            if kind != "other":
                return found
        return self._by_name(found, req.name)

    def _lookup(self, kind: str, code: str) -> CredentialRef | None:
        snapshot = self._snapshot
        if kind == "card":
            canonical = card_canonical(code, self._card_format)
            return snapshot.cards.get(canonical) if canonical is not None else None
        if kind == "pin":
            # The keyed hash is ASCII-only; anything else cannot be anyone's PIN.
            return snapshot.pins.get(self._hasher.hash(code)) if code.isascii() else None
        if kind == "qr":
            return snapshot.qr_codes.get(code)
        return snapshot.plates.get(code) if kind == "plate" else None

    def _owner(self, found: Found, kind: str, code: str, ref: CredentialRef) -> Found:
        found.kind = kind
        found.shown = shown_credential(kind, code)
        if kind == "card":
            found.shown = card_canonical(code, self._card_format)
        found.trace.append(f"lookup:{kind},user={ref.user_id}")
        found.by_code = True
        if not ref.enabled:
            found.reason = "credential_disabled"
            return found
        found.user = self._snapshot.users.get(ref.user_id)
        return found

    def _by_name(self, found: Found, name: str) -> Found:
        if not name:
            found.trace.append("lookup:no_code_no_name")
            return found
        wanted = " ".join(name.split()).casefold()
        matches = [
            u
            for u in self._snapshot.users.values()
            if u.user_id == name or (u.name and " ".join(u.name.split()).casefold() == wanted)
        ]
        if len(matches) != 1:
            found.reason = "ambiguous_name" if matches else "unknown_user"
            found.trace.append(f"lookup:name,{found.reason}")
            return found
        found.user = matches[0]
        found.trace.append(f"lookup:name,user={found.user.user_id}")
        return found


def user_denial(
    snapshot: RulesSnapshot, user: UserRule, door: str, now: float, tz: ZoneInfo, trace: list[str]
) -> str | None:
    """The engine's rules 3-4 for a user another device recognised: active, not expired,
    permitted at this door, inside the schedule. The deny reason, or None."""
    if not user.active:
        return "user_inactive"
    if user.expiry is not None and user.expiry <= now:
        return "user_expired"
    if (user.doors is not None and door not in user.doors) or not applicable_groups(
        snapshot, user, door
    ):
        return "door_not_permitted"
    allowed, schedule_trace = schedule_allows(snapshot, user, door, now, tz)
    trace.append(schedule_trace)
    return None if allowed else "outside_schedule"


# -- the endpoint ----------------------------------------------------------------------------


def _answer(status: int, result: str, reason: str | None = None) -> web.Response:
    body = {"result": result} if reason is None else {"result": result, "reason": reason}
    return web.json_response(body, status=status)


def _unauthorized() -> web.Response:
    response = _answer(401, "error", "basic authentication required")
    response.headers["WWW-Authenticate"] = REALM
    return response


async def open_door(request: web.Request) -> web.Response:
    """GET /fcgi/OpenDoor: authenticate, parse, then a plain or an identified unlock."""
    ctx = request.app[CONTEXT]
    settings = ctx.settings.http_unlock
    if not settings.enabled:
        return _answer(404, "error", "unknown endpoint")
    refused = _authenticate(request, ctx, settings)
    if refused is not None:
        return refused
    try:
        req = parse_query(request.query, request.query.getall)
        door = door_by_number(ctx.settings, req.door_num)
    except QueryError as exc:
        return _answer(exc.status, "error", str(exc))
    address = security.client_address(request)
    if not req.names_a_user:
        return _remote_unlock(ctx, door, settings.username, address)
    return _identified_unlock(ctx, door, req, settings.username, address)


def _authenticate(
    request: web.Request, ctx: OpenDoorContext, settings: HttpUnlockSettings
) -> web.Response | None:
    """None when the basic auth is right; else 401, or 429 while the address must wait.
    Throttled by client address only (see `LoginThrottle`)."""
    throttle = request.app[security.THROTTLE]
    address = security.client_address(request)
    refusal = throttle.begin(None, address)
    if refusal is not None:
        response = _answer(429, "error", refusal.message)
        response.headers["Retry-After"] = str(refusal.retry_after_s)
        return response
    header = request.headers.get("Authorization", "")
    if security.check_basic_auth(header, settings.username, settings.password):
        throttle.succeeded(None, address)
        return None
    throttle.failed(None, address, "http_unlock")
    given = security.parse_basic_auth(header)
    who = given[0][:64] if given is not None else ""
    ctx.record_api("http_unlock_auth_failed", who, f"from {address}")
    return _unauthorized()


def _remote_unlock(ctx: OpenDoorContext, door: str, by: str, address: str) -> web.Response:
    """No user named: the sender itself unlocks (journaled with the basic-auth user)."""
    opened = ctx.doors[door].pulse(f"http:{by}")
    reason = "remote_unlock" if opened else "remote_unlock_refused"
    ctx.record_api(reason, by, f"http_unlock door={door} from {address}")
    return _answer(200, "granted") if opened else _answer(403, "denied", "lockdown")


def _identified_unlock(
    ctx: OpenDoorContext, door: str, req: OpenDoorRequest, by: str, address: str
) -> web.Response:
    now = Instant.read(ctx.clock)
    snapshot = ctx.engine.snapshot
    found = Identifier(snapshot, ctx.hasher, ctx.settings.http_unlock.card_format).find(req)
    trace = [f"http_unlock:by={by},from={address},unlock_type={req.unlock_type or '-'}"]
    trace += found.trace
    user = found.user
    reason = (
        found.reason if user is None else user_denial(snapshot, user, door, now.wall, ctx.tz, trace)
    )
    note = None
    if user is not None and reason is None:
        reason, note = _antipassback(ctx, user.user_id, req.direction, now, trace)
    if user is not None and reason is None:
        # A name is no proof of presence: only a credential the sender read (Code)
        # may carry its owner's lockdown override.
        override = user.lockdown_override and found.by_code
        if ctx.doors[door].grant(user.user_id, override_lockdown=override, reason=READER):
            if req.direction is not None and ctx.http_unlock.enforced:
                ctx.http_unlock.commit(user.user_id, req.direction, now)
        else:
            reason = "lockdown"
    if note is not None:
        trace.append(f"note:{note}")
    _journal(ctx, door, found, req.direction, reason, trace, now.wall)
    return _answer(200, "granted") if reason is None else _answer(403, "denied", reason)


def _antipassback(
    ctx: OpenDoorContext, user_id: str, direction: Direction | None, now: Instant, trace: list[str]
) -> tuple[str | None, str | None]:
    """(deny reason, note) of the in/out check: only with a mode and the check switched on."""
    state = ctx.http_unlock
    if direction is None or not state.enforced:
        trace.append(f"antipassback:{ctx.settings.http_unlock.antipassback},{direction or '-'}")
        return None, None
    check = state.check(user_id, direction, now)
    verdict = check.note or check.reason or "ok"
    trace.append(f"antipassback:{ctx.settings.http_unlock.antipassback},{direction},{verdict}")
    return (None if check.allowed else check.reason), check.note


def _journal(
    ctx: OpenDoorContext,
    door: str,
    found: Found,
    direction: Direction | None,
    reason: str | None,
    trace: list[str],
    now: float,
) -> None:
    """One access event per identified request, with the direction AntiPassbackMode gave
    (whether or not anti-passback is enforced); a PIN is never shown."""
    kind = found.kind
    shown = PIN_MASK if kind == "pin" else found.shown
    ctx.emit(
        Event(
            type="access",
            time=now,
            door=door,
            reader=READER,
            user_id=found.user.user_id if found.user is not None else None,
            credential_kind=kind,
            credential=shown,
            granted=reason is None,
            reason=reason or "granted",
            source=READER,
            trace=" > ".join([*trace, reason or "granted"]),
            direction=direction,
        )
    )


def add_routes(app: web.Application, context: OpenDoorContext) -> None:
    """GET only: a HEAD must never open a door, so aiohttp's automatic HEAD is off."""
    app[CONTEXT] = context
    app.router.add_get(PATH, open_door, allow_head=False)
