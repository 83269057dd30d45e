"""Akuvox "Open Relay via HTTP" and HTTP anti-passback: `GET /fcgi/OpenDoor` (reference 003).

An Akuvox authentication device (A01, A02, ... or another door-gateway with `apb_urls`)
sends, after it has recognised someone,

    http://USER:PASSWORD@gateway/fcgi/OpenDoor?action=OpenDoor&DoorNum=1
        &AntiPassbackMode=Entry&Name=Ada%20Lovelace&UnlockType=RF%20Card&Code=0C8707

and this gateway is the door-opening device: it checks the basic auth against
`[http_unlock]` and the query, and hands the request on. Whether the named user (by `Code`,
else by `Name`) may pass door `DoorNum` (the `[[doors]]` in config order, from 1) is decided
by the access rules (`gateway.access.http_unlock`, on the engine's own checks, with the
in/out state of HTTP unlocks when `AntiPassbackMode` is given); the decision is journaled,
then the door moves (`gateway.opendoor.OpenDoorService`), as for a card at a reader.
Without any user field it is a plain remote unlock by the basic-auth user.

Answers: 200 {"result": "granted"}; 403 {"result": "denied", "reason": ...}; 401 (with
`WWW-Authenticate: Basic`) for missing or wrong credentials; 400 / 404 {"result": "error",
"reason": ...} for a malformed query or a DoorNum with no door; 429 while the login
throttle makes the client wait; 404 when `[http_unlock] enabled = false`.
docs/akuvox-opendoor.md has the details and the choices made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from gateway.model import Direction, UnlockClaim
from gateway.settings import HttpUnlockSettings, Settings
from gateway.web import security
from gateway.web.common import BadRequest

PATH = "/fcgi/OpenDoor"
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


# -- what the endpoint may use of the gateway ------------------------------------------------


class OpenDoorContext(Protocol):
    """What the OpenDoor endpoint works with (`gateway.opendoor.OpenDoorService`)."""

    @property
    def settings(self) -> Settings: ...

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...

    def remote_unlock(self, door: str, by: str, address: str) -> str | None:
        """Unlock `door` for the sender itself; None when it unlocked, else why not."""
        ...

    def identified_unlock(self, door: str, claim: UnlockClaim, by: str, address: str) -> str | None:
        """Unlock `door` for the user `claim` names; None when it unlocked, else why not."""
        ...


CONTEXT = web.AppKey("open_door_context", OpenDoorContext)


# -- the query -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenDoorRequest:
    door_num: int
    claim: UnlockClaim


def parse_query(query: Mapping[str, str], getall: Callable[[str], list[str]]) -> OpenDoorRequest:
    """The query as an `OpenDoorRequest`; BadRequest for anything unexpected."""
    for key in query:
        if key not in PARAMS:
            raise BadRequest(f"unknown parameter {key!r}; expected {', '.join(PARAMS)}")
        if len(getall(key)) > 1:
            raise BadRequest(f"{key}: given more than once")
    values = {key: _param(query, key) for key in PARAMS}
    if values["action"].lower() != "opendoor":
        raise BadRequest("action: expected OpenDoor")
    raw_door = values["DoorNum"]
    if not (raw_door.isascii() and raw_door.isdigit()):
        raise BadRequest("DoorNum: expected a door number from 1")
    mode = values["AntiPassbackMode"].lower()
    if mode and mode not in MODES:
        raise BadRequest("AntiPassbackMode: expected Entry or Exit")
    claim = UnlockClaim(
        direction=MODES.get(mode),
        name=values["Name"],
        unlock_type=values["UnlockType"],
        code=values["Code"],
    )
    return OpenDoorRequest(door_num=int(raw_door), claim=claim)


def _param(query: Mapping[str, str], key: str) -> str:
    """One value, bounded and printable; the message never repeats it (it may be a PIN)."""
    value = query.get(key, "").strip()
    limit = MAX_LENGTHS[key]
    if len(value) > limit or not value.isprintable():
        raise BadRequest(f"{key}: expected at most {limit} printable characters")
    return value


def door_by_number(settings: Settings, number: int) -> str:
    """The name of the `number`-th `[[doors]]` entry (from 1); BadRequest 404 if none."""
    if not 1 <= number <= len(settings.doors):
        raise BadRequest(f"DoorNum: no door {number}; doors are 1 to {len(settings.doors)}", 404)
    return settings.doors[number - 1].name


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
    req = parse_query(request.query, request.query.getall)
    door = door_by_number(ctx.settings, req.door_num)
    address = security.client_address(request)
    if req.claim.names_a_user:
        reason = ctx.identified_unlock(door, req.claim, settings.username, address)
    else:
        reason = ctx.remote_unlock(door, settings.username, address)
    return _answer(200, "granted") if reason is None else _answer(403, "denied", reason)


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


def add_routes(app: web.Application, context: OpenDoorContext) -> None:
    """GET only: a HEAD must never open a door, so aiohttp's automatic HEAD is off."""
    app[CONTEXT] = context
    app.router.add_get(PATH, open_door, allow_head=False)
