"""The HTTP unlock decision: another device recognised someone and asks this gateway to open
a door for them (Akuvox "Open Relay via HTTP" with anti-passback, reference 003).

The sender vouches for *who* it is; this gateway still decides *whether they may pass here*,
with the engine's own checks (`AccessEngine.credential_owner`, `resolve_owner`,
`check_user`, `AutoInOut.check_traced`), so the same user in the same situation gets the
same reason and the same trace lines as at one of its readers:

    lookup:card,user=1001 > user:ok > schedule:... > auth_mode:sender > autoinout:... > granted

`auth_mode:sender`: the door's own auth mode is for its readers; the sender authenticated.
The in/out state is the HTTP unlocks' own (`HttpUnlockState`, `[http_unlock] antipassback`).

Pure, like the engine: no I/O, no clock reads. Moving the door and journaling the decision
are the caller's (`gateway.opendoor`); the parsing of the request is the web module's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from gateway.access.autoinout import ALLOW, AutoInOut, CheckResult
from gateway.access.engine import AccessEngine, denial
from gateway.access.snapshot import UserRule
from gateway.cardnumbers import from_printed
from gateway.clock import Instant, Stamp
from gateway.model import (
    PIN_MASK,
    CredentialKind,
    Decision,
    Direction,
    UnlockClaim,
    shown_credential,
)
from gateway.settings import AutoInOutSettings, HttpUnlockSettings

CODE_KINDS: tuple[CredentialKind, ...] = ("card", "pin", "qr", "plate")
_CARD_SEPARATORS = re.compile(r"[\s:\-]")
_HEX_BYTES = re.compile(r"(?:[0-9A-F]{2}){1,10}\Z")


def classify(unlock_type: str) -> CredentialKind | None:
    """The credential kind an Akuvox UnlockType names (card, pin, qr, plate), or None.

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
    return None


def card_canonical(code: str, card_format: str) -> str | None:
    """The canonical card number for `code` as the sender shows it; None if it is not one."""
    if card_format:
        try:
            return from_printed(code, card_format)
        except ValueError:
            return None
    digits = _CARD_SEPARATORS.sub("", code).upper()
    return digits if _HEX_BYTES.match(digits) else None


# -- the in/out state of HTTP unlocks ------------------------------------------------------


class HttpUnlockState:
    """Who is in and who is out, as far as HTTP unlocks tell: a dedicated anti-passback
    state (the engine's autoInOut mode and its hard/soft choice are the local readers'),
    kept in the store beside the engine's state so that it survives a restart."""

    def __init__(
        self, settings: HttpUnlockSettings, tz: ZoneInfo, on_change: Callable[[], None]
    ) -> None:
        self.settings = settings
        rule = AutoInOutSettings(
            mode="anti_passback" if self.enforced else "disable",
            anti_passback="soft" if settings.antipassback == "soft" else "hard",
        )
        self._passages = AutoInOut(rule, tz)
        self._on_change = on_change
        self.version = 0  # moves with every change, for tests and the status page

    @property
    def enforced(self) -> bool:
        return self.settings.antipassback != "off"

    def check_traced(
        self, user_id: str, direction: Direction | None, now: Instant, trace: list[str]
    ) -> CheckResult:
        """The in/out check, traced as the engine's autoInOut is; a request without a
        direction is not checked (`autoinout:MODE,-,unchecked`)."""
        if direction is None:
            trace.append(f"autoinout:{self._passages.mode},-,unchecked")
            return ALLOW
        return self._passages.check_traced(user_id, direction, now, trace)

    def commit(self, user_id: str, direction: Direction | None, now: Instant) -> None:
        """Record a passage that really opened the door, and save."""
        if direction is not None and self._passages.commit(user_id, direction, now):
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


# -- the decision ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpUnlockDecision:
    """The decision, and what the journal shows of the credential (a PIN never)."""

    decision: Decision
    credential_kind: CredentialKind | None
    credential: str | None
    direction: Direction | None


@dataclass
class _Found:
    """The outcome of identification: the user, or the reason nobody was found."""

    kind: CredentialKind | None
    shown: str | None
    user: UserRule | None = None
    user_id: str | None = None  # the credential's owner, even when refused
    reason: str = "unknown_user"
    by_code: bool = False  # found by a credential the sender read, not by a name


class HttpUnlockRules:
    """Decides an identified HTTP unlock on the engine's checks and the in/out state."""

    def __init__(self, engine: AccessEngine, passages: HttpUnlockState, card_format: str) -> None:
        self._engine = engine
        self._passages = passages
        self._card_format = card_format

    def decide(
        self, claim: UnlockClaim, door: str, now: Instant, origin: str
    ) -> HttpUnlockDecision:
        """Whether the user `claim` names may pass `door` at `now`; `origin` (who sent the
        request) is the trace's first line. The in/out state is only read here: commit
        the passage once the door really opened."""
        trace = [origin]
        if self._engine.snapshot.loading:
            # The cache holds only what readers asked for so far: a user it lacks may
            # exist. Refuse as "not decided yet", never as an unknown user.
            trace.append("rules:loading")
            loading = denial("rules_loading", None, trace)
            return HttpUnlockDecision(loading, None, None, claim.direction)
        found = self._identify(claim, trace, now.wall)
        decision = self._judge(found, claim.direction, door, now, trace)
        shown = PIN_MASK if found.kind == "pin" else found.shown
        return HttpUnlockDecision(decision, found.kind, shown, claim.direction)

    def _judge(
        self, found: _Found, direction: Direction | None, door: str, now: Instant, trace: list[str]
    ) -> Decision:
        user = found.user
        if user is None:
            return denial(found.reason, found.user_id, trace)
        reason = self._engine.check_user(user, door, now, trace)
        if reason is not None:
            return denial(reason, user.user_id, trace)
        trace.append("auth_mode:sender")
        check = self._passages.check_traced(user.user_id, direction, now, trace)
        if not check.allowed:
            return denial(check.reason, user.user_id, trace)
        trace.append("granted")
        return Decision(
            granted=True,
            reason="granted",
            user_id=user.user_id,
            source="cache",
            trace=tuple(trace),
            notes=(check.note,) if check.note is not None else (),
            # A name is no proof of presence: only a credential the sender read (Code)
            # may carry its owner's lockdown override.
            lockdown_override=user.lockdown_override and found.by_code,
            schedule_activation=user.schedule_activation,
        )

    # -- who is it ---------------------------------------------------------------------------

    def _identify(self, claim: UnlockClaim, trace: list[str], wall: float) -> _Found:
        """By Code when given (no fallback for a card/PIN/QR/plate code: a revoked card
        must not open by its owner's name), else by Name."""
        kind = classify(claim.unlock_type)
        if not claim.code:
            return self._by_name(_Found(kind, None), claim.name, trace)
        for candidate in (kind,) if kind is not None else CODE_KINDS:
            found = self._by_code(candidate, claim.code, trace, wall)
            if found is not None:
                return found
        if kind is not None:
            trace.append(f"lookup:{kind}=unknown")
            return _Found(kind, shown_credential(kind, claim.code))
        # Tried as every kind: it may be a PIN, so it is masked.
        trace.append("lookup:code=unknown")
        return self._by_name(_Found(None, PIN_MASK), claim.name, trace)

    def _by_code(
        self, kind: CredentialKind, code: str, trace: list[str], wall: float
    ) -> _Found | None:
        value = card_canonical(code, self._card_format) if kind == "card" else code
        if value is None:
            return None
        ref = self._engine.credential_owner(kind, value)
        if ref is None:
            return None
        trace.append(f"lookup:{kind},user={ref.user_id}")
        user, reason = self._engine.resolve_credential(ref, wall, trace)
        found = _Found(kind, shown_credential(kind, value), user, ref.user_id, by_code=True)
        if reason is not None:
            found.reason = reason
        return found

    def _by_name(self, found: _Found, name: str, trace: list[str]) -> _Found:
        if not name:
            trace.append("lookup:none")
            return found
        matches = self._engine.snapshot.users_called(name)
        if len(matches) != 1:
            found.reason = "ambiguous_name" if matches else "unknown_user"
            trace.append(f"lookup:name={'ambiguous' if matches else 'unknown'}")
            return found
        found.user = found_user = matches[0]
        found.user_id = found_user.user_id
        trace.append(f"lookup:name,user={found_user.user_id}")
        return found
