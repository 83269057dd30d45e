"""The access engine: one credential at one door -> one Decision, from the rules snapshot.

Pure: no disk, no network, no clock reads. Time comes in as `now`, an `Instant` of both
clocks: the wall clock for the calendar (schedules, expiry, TOTP steps, event times), the
monotonic clock for durations. Whether the door would open a grant (lockdown, stopping)
comes in as `door_refusal`, so that a grant the door refuses commits nothing. The only
state kept between calls is what the rules need: keypad lockouts, autoInOut history (both
persistent, see `export_state`) and the pending first factor of two-factor doors
(deliberately not persisted: it lives for seconds).

Rules, in order, each adding a line to the decision's trace:
0. a card the reader refused (`Credential.refusal`: a secure card that failed its
   authentication) is denied with the reader's reason, nothing looked up;
0b. a credential of a kind the door has switched off (`cards_enabled`, `pins_enabled`,
    `qr_enabled`) is refused before it is looked up;
1. a PIN at a locked-out keypad is refused without being looked up;
2. credential lookup (private PINs by keyed hash, then public PINs; a QR code that is no
   stored code may be a TOTP payload, checked against its user's secret, once per step);
3. credential enabled, user exists, active, not expired;
4. door permitted for the user and a group, then the weekly schedule;
5. the door's auth mode (single factor, or two factors of the same user);
6. the autoInOut mode, committed only on a final grant.

Rules 2-4 are public (`credential_owner`, `resolve_owner`, `check_user`) and rule 6 is
`AutoInOut.check_traced`: the HTTP unlock decision (`gateway.access.http_unlock`) is built
on the same methods, so a user another device recognised gets the same reasons and trace
lines as at a reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.access.autoinout import AutoInOut
from gateway.access.lockout import PinLockout
from gateway.access.pins import PinHasher
from gateway.access.schedules import applicable_groups, schedule_allows
from gateway.access.snapshot import CredentialRef, RulesSnapshot, UserRule
from gateway.access.totp import matching_step, parse_payload, step_at, unseal
from gateway.clock import Instant, Stamp
from gateway.model import Credential, CredentialKind, Decision, Direction, Event
from gateway.settings import AccessSettings, AutoInOutSettings, DoorSettings, ReaderSettings

STATE_VERSION = 1
# Per user: the codes of the last 8 uses stay refused when a wall clock stepped back
# brings their step round again.
TOTP_STEPS_REMEMBERED = 8
# The door switch of each credential kind that has one (plates have none).
METHOD_SWITCHES: dict[str, str] = {
    "card": "cards_enabled",
    "pin": "pins_enabled",
    "qr": "qr_enabled",
}

# Why the door would refuse a grant now, given whether the grant carries the user's
# lockdown override (`DoorController.grant_refusal`): "lockdown", "shutdown", or None.
DoorRefusal = Callable[[bool], str | None]


@dataclass(frozen=True)
class PendingFactor:
    """A first factor accepted at a two-factor door, waiting for the second."""

    user_id: str
    kind: str
    reader: str
    time: float  # monotonic seconds
    pin_reader: str | None  # the keypad to credit on success when the first factor was a PIN


@dataclass
class Attempt:
    """The working state of one `decide` call."""

    credential: Credential
    door: DoorSettings
    now: Instant
    trace: list[str]
    door_refusal: DoorRefusal | None = None
    user: UserRule | None = None
    public_pin: bool = False


class AccessEngine:
    """Decides access from the current `snapshot`; assign `snapshot` to swap in new rules."""

    def __init__(
        self,
        access: AccessSettings,
        doors: Mapping[str, DoorSettings],
        readers: Mapping[str, ReaderSettings],
        tz: ZoneInfo,
        hasher: PinHasher,
        snapshot: RulesSnapshot,
    ) -> None:
        self.snapshot = snapshot
        self._access = access
        self._doors = dict(doors)
        # door -> {kind: the switch that refuses it}: empty for a door that takes every kind
        self._switched_off = {name: _switched_off(door) for name, door in self._doors.items()}
        self._readers = dict(readers)
        self._tz = tz
        self._hasher = hasher
        self._lockout = PinLockout(access.lockout)
        self._auto = AutoInOut(access.auto_in_out, tz)
        self._pending: dict[str, PendingFactor] = {}
        # user id -> the TOTP steps last accepted, newest last: a code opens once (not
        # persisted: after a restart a code could be replayed within its 60 s at most).
        self._totp_used: dict[str, tuple[int, ...]] = {}
        self._events: list[Event] = []
        self._state_version = 0

    @property
    def state_version(self) -> int:
        """Increases whenever lockout or autoInOut state changes (the daemon saves then)."""
        return self._state_version

    def _changed(self, changed: bool = True) -> None:
        if changed:
            self._state_version += 1

    def decide(
        self,
        credential: Credential,
        door: str,
        now: Instant,
        door_refusal: DoorRefusal | None = None,
    ) -> Decision:
        """Decide whether `credential` opens `door` at `now`; a grant that `door_refusal`
        says the door would refuse is that refusal (and no passage, no keypad credit).

        Never raises for bad input: an unknown door or credential is a denial with a reason.
        """
        settings = self._doors.get(door)
        if settings is None:
            return denial("unknown_door", None, [f"door:{door}=unknown"])
        switch = self._switched_off[door].get(credential.kind)
        if switch is not None:
            # Before the lookup: no owner named, no keypad failure counted, no upstream.
            return denial("method_off", None, [f"door:{switch}=false"])
        attempt = Attempt(credential, settings, now, [], door_refusal)
        refused = self._identify(attempt)
        if refused is not None:
            return refused
        if attempt.public_pin:
            return self._decide_public_pin(attempt)
        refused = self._check_user(attempt)
        if refused is not None:
            return refused
        return self._apply_auth_mode(attempt)

    # -- rules 1-2: lockout and lookup ---------------------------------------------------

    def _identify(self, attempt: Attempt) -> Decision | None:
        """Find the credential's owner (sets attempt.user / public_pin) or deny."""
        cred, trace = attempt.credential, attempt.trace
        if cred.refusal:  # the reader could not read a credential: nothing to look up
            return denial(cred.refusal, None, [*trace, "reader:refused"])
        if cred.kind == "pin":
            left = self._lockout.is_locked(cred.reader, attempt.now.mono)
            if left is not None:
                trace.append(f"lockout:locked,reader={cred.reader},left={left:.0f}s")
                return denial("keypad_locked", None, trace)
            return self._identify_pin(attempt)
        ref = self.credential_owner(cred.kind, cred.value)
        claimed = parse_payload(cred.value) if ref is None and cred.kind == "qr" else None
        if claimed is not None:
            return self._identify_totp(attempt, *claimed)
        if ref is None:
            trace.append(f"lookup:{cred.kind}=unknown")
            return denial("unknown_credential", None, trace)
        trace.append(f"lookup:{cred.kind},user={ref.user_id}")
        user, reason = self.resolve_credential(ref, attempt.now.wall, trace)
        if user is None:
            return denial(reason or "unknown_credential", ref.user_id, trace)
        attempt.user = user
        return None

    def resolve_credential(
        self, ref: CredentialRef, wall: float, trace: list[str]
    ) -> tuple[UserRule | None, str | None]:
        """Rule 3's first half for a stored credential found by `credential_owner`: its
        owner, or why not: `credential_disabled`, `plate_outside_window` (a plate valid
        only within a window that does not hold the wall time `wall`), `unknown_credential`."""
        user, reason = self.resolve_owner(ref.user_id, ref.enabled, trace)
        start, end = ref.valid_from, ref.valid_until
        if user is None or (start is None and end is None):
            return user, reason  # the usual case: no window
        inside = (start is None or start <= wall) and (end is None or wall < end)
        trace.append(f"window:{_utc(start)}..{_utc(end)}={'in' if inside else 'out'}")
        return (user, None) if inside else (None, "plate_outside_window")

    def credential_owner(self, kind: CredentialKind, value: str) -> CredentialRef | None:
        """Rule 2 for a stored credential: who owns `value` of `kind` (the canonical value;
        a PIN in clear, found by its keyed hash among private PINs), or None."""
        if kind == "pin":
            key = self._pin_key(value)
            return self.snapshot.owner("pin", key) if key is not None else None
        return self.snapshot.owner(kind, value)

    def _pin_key(self, pin: str) -> str | None:
        # The keyed hash is ASCII-only; a non-ASCII "PIN" (API input) cannot match anything.
        return self._hasher.hash(pin) if pin.isascii() else None

    def _identify_pin(self, attempt: Attempt) -> Decision | None:
        cred, trace = attempt.credential, attempt.trace
        key = self._pin_key(cred.value)
        ref = self.snapshot.owner("pin", key) if key is not None else None
        if ref is not None:
            trace.append(f"lookup:pin,user={ref.user_id}")
            return self._resolve_owner(attempt, ref.user_id, ref.enabled)
        if key is not None and key in self.snapshot.public_pins:
            trace.append("lookup:pin,public_pin")
            attempt.public_pin = True
            return None
        trace.append("lookup:pin=unknown")
        self._pin_failure(attempt)
        return denial("unknown_credential", None, trace)

    def _identify_totp(self, attempt: Attempt, user_id: str, code: str) -> Decision | None:
        """A TOTP QR payload: the code must be the named user's, current, and unused."""
        trace = attempt.trace
        sealed = self.snapshot.totp.get(user_id)
        secret = unseal(self._hasher, user_id, sealed) if sealed is not None else None
        if secret is None:
            trace.append("lookup:qr,totp=unknown")
            return denial("unknown_credential", None, trace)
        step = matching_step(secret, code, attempt.now.wall)
        used = self._totp_used.get(user_id, ())
        if step is None or _totp_replayed(step, used, step_at(attempt.now.wall)):
            verdict = "wrong_code" if step is None else "replayed"
            trace.append(f"lookup:qr,totp,user={user_id}={verdict}")
            return denial("totp_rejected", user_id, trace)
        self._totp_used[user_id] = (*used, step)[-TOTP_STEPS_REMEMBERED:]
        trace.append(f"lookup:qr,totp,user={user_id}")
        return self._resolve_owner(attempt, user_id, True)

    def _pin_failure(self, attempt: Attempt) -> None:
        """Count a wrong PIN; queue a reader event when it locks the keypad."""
        reader, now = attempt.credential.reader, attempt.now
        duration = self._lockout.record_failure(reader, now.mono)
        self._changed()
        if duration is None:
            return
        attempt.trace.append(f"lockout:locked_for={duration:.0f}s")
        self._events.append(
            Event(
                type="reader",
                time=now.wall,
                door=attempt.door.name,
                reader=reader,
                credential_kind="pin",
                reason="keypad_locked_out",
                trace=f"lockout:{duration:.0f}s",
            )
        )

    def _resolve_owner(self, attempt: Attempt, user_id: str, enabled: bool) -> Decision | None:
        user, reason = self.resolve_owner(user_id, enabled, attempt.trace)
        if user is None:
            return denial(reason or "unknown_credential", user_id, attempt.trace)
        attempt.user = user
        return None

    def resolve_owner(
        self, user_id: str, enabled: bool, trace: list[str]
    ) -> tuple[UserRule | None, str | None]:
        """Rule 3, first half: the user who owns a credential that was found, or why not
        (`credential_disabled`, or `unknown_credential` for an owner the rules lack)."""
        if not enabled:
            return None, "credential_disabled"
        user = self.snapshot.user(user_id)
        if user is None:
            trace.append("user:missing")
            return None, "unknown_credential"
        return user, None

    # -- rules 3-4: user validity, doors, schedule ---------------------------------------

    def _check_user(self, attempt: Attempt) -> Decision | None:
        user = attempt.user
        assert user is not None  # _identify set it for every non-public credential
        reason = self.check_user(user, attempt.door.name, attempt.now, attempt.trace)
        return None if reason is None else denial(reason, user.user_id, attempt.trace)

    def check_user(self, user: UserRule, door: str, now: Instant, trace: list[str]) -> str | None:
        """Rules 3-4: active, not expired, permitted at `door` (by the user's own door list
        and an access group), inside the schedule. Appends the trace lines; the deny
        reason, or None."""
        if not user.active:
            trace.append("user:inactive")
            return "user_inactive"
        if user.expiry is not None and user.expiry <= now.wall:
            trace.append(f"user:expired={user.expiry:.0f}")
            return "user_expired"
        trace.append("user:ok")
        if user.doors is not None and door not in user.doors:
            trace.append(f"doors:user,{door}")
            return "door_not_permitted"
        if not applicable_groups(self.snapshot, user, door):
            trace.append(f"doors:no_group,{door}")
            return "door_not_permitted"
        allowed, schedule_trace = schedule_allows(self.snapshot, user, door, now.wall, self._tz)
        trace.append(schedule_trace)
        return None if allowed else "outside_schedule"

    # -- rule 5: auth mode -----------------------------------------------------------------

    def _decide_public_pin(self, attempt: Attempt) -> Decision:
        """A public PIN: anonymous, no schedule, only where a PIN alone may open the door."""
        mode = attempt.door.auth_mode
        if mode not in ("any", "pin"):
            return denial("auth_mode", None, [*attempt.trace, f"auth_mode:{mode},public_pin"])
        attempt.trace.append(f"auth_mode:{mode}")
        return self._final_grant(attempt, pin_reader=None)

    def _apply_auth_mode(self, attempt: Attempt) -> Decision:
        """Single-factor modes grant or deny here; two-factor modes go to `_two_factor`."""
        mode, kind = attempt.door.auth_mode, attempt.credential.kind
        user = attempt.user
        assert user is not None
        pin_reader = attempt.credential.reader if kind == "pin" else None
        if mode in ("card+pin", "pin+card"):
            return self._two_factor(attempt, user)
        if (mode == "card" and kind == "pin") or (mode == "pin" and kind != "pin"):
            return denial("auth_mode", user.user_id, [*attempt.trace, f"auth_mode:{mode},{kind}"])
        attempt.trace.append(f"auth_mode:{mode}")
        return self._final_grant(attempt, pin_reader)

    def _two_factor(self, attempt: Attempt, user: UserRule) -> Decision:
        """card+pin / pin+card: the second factor must be the same user's, within the timeout."""
        cred, door, now, trace = attempt.credential, attempt.door, attempt.now, attempt.trace
        mode = door.auth_mode
        first_is_pin = mode == "pin+card"
        is_first_kind = (cred.kind == "pin") == first_is_pin
        pending = self._pending.pop(door.name, None)
        timed_out = False
        if pending is not None and now.mono - pending.time > self._access.two_factor_timeout_s:
            trace.append(f"auth_mode:{mode},first_factor_expired")
            pending, timed_out = None, True
        if is_first_kind:
            # A first factor always (re)starts the sequence: the latest person at the door
            # is the one about to type or badge, not whoever gave up before them.
            return self._await_second(attempt, user, mode)
        if pending is None:
            reason = "second_factor_timeout" if timed_out else "auth_mode"
            return denial(reason, user.user_id, [*trace, f"auth_mode:{mode},no_first_factor"])
        if pending.user_id != user.user_id:
            trace.append(f"auth_mode:{mode},first={pending.user_id},second={user.user_id}")
            return denial("second_factor_mismatch", user.user_id, trace)
        trace.append(f"auth_mode:{mode},first={pending.kind}@{pending.reader},second={cred.kind}")
        pin_reader = cred.reader if cred.kind == "pin" else pending.pin_reader
        return self._final_grant(attempt, pin_reader)

    def _await_second(self, attempt: Attempt, user: UserRule, mode: str) -> Decision:
        cred = attempt.credential
        self._pending[attempt.door.name] = PendingFactor(
            user_id=user.user_id,
            kind=cred.kind,
            reader=cred.reader,
            time=attempt.now.mono,
            pin_reader=cred.reader if cred.kind == "pin" else None,
        )
        attempt.trace.append(f"auth_mode:{mode},first_factor={cred.kind}")
        return Decision(
            granted=False,
            reason="awaiting_second_factor",
            user_id=user.user_id,
            source="cache",
            trace=tuple(attempt.trace),
            final=False,
        )

    # -- rule 6: autoInOut, then grant -----------------------------------------------------

    def _final_grant(self, attempt: Attempt, pin_reader: str | None) -> Decision:
        """Run the autoInOut check; when the door will open, commit it, credit the keypad
        and grant."""
        user = attempt.user
        user_id = user.user_id if user is not None else None
        direction = self._direction(attempt)
        check = self._auto.check_traced(user_id, direction, attempt.now, attempt.trace)
        if not check.allowed:
            return denial(check.reason, user_id, attempt.trace)
        attempt.trace.append("granted")
        granted = Decision(
            granted=True,
            reason="granted",
            user_id=user_id,
            source="cache",
            trace=tuple(attempt.trace),
            notes=(check.note,) if check.note is not None else (),
            lockdown_override=user is not None and user.lockdown_override,
            # A public PIN is nobody's: it keeps what every grant did before the permission.
            schedule_activation=user is None or user.schedule_activation,
        )
        refusal = attempt.door_refusal(granted.lockdown_override) if attempt.door_refusal else None
        if refusal is not None:
            # The door stays shut: nobody passes, so nothing is committed or credited.
            return granted.refused_by_door(refusal)
        self._changed(self._auto.commit(user_id, direction, attempt.now))
        if pin_reader is not None:
            # Only a PIN that actually opened the door clears the keypad's counters; a known
            # PIN of a disabled or out-of-schedule user must not reset a guessing attacker.
            self._changed(self._lockout.record_success(pin_reader, attempt.now.mono))
        return granted

    def _direction(self, attempt: Attempt) -> Direction:
        reader = self._readers.get(attempt.credential.reader)
        if reader is None:
            # Credentials injected through the API may name no configured reader: count
            # them as entering, the direction every single-reader door has.
            attempt.trace.append(f"reader:{attempt.credential.reader}=unconfigured,in")
            return "in"
        return reader.direction

    # -- state, events, status -------------------------------------------------------------

    def drain_events(self) -> list[Event]:
        """Events produced by decisions since the last call (keypad lockouts), oldest first."""
        events, self._events = self._events, []
        return events

    def export_state(self, now: Stamp) -> dict[str, Any]:
        """Persistent state (lockouts, autoInOut) as JSON-serialisable data, saved `now`."""
        return {
            "version": STATE_VERSION,
            "lockout": self._lockout.export_state(now),
            "auto_in_out": self._auto.export_state(now),
        }

    def import_state(self, state: dict[str, Any], now: Stamp) -> None:
        """Restore an `export_state` result; raises ValueError (state unchanged) if malformed.

        No duration is longer after the restart than it had left to run at the save (see
        `Stamp.elapsed_since`), whatever the wall clock did in between."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("engine state: unsupported or missing version")
        lockout = PinLockout(self._access.lockout)
        auto = AutoInOut(self._access.auto_in_out, self._tz)
        lockout.import_state(state.get("lockout", {}), now)
        auto.import_state(state.get("auto_in_out", {}), now)
        # Swap only once both parts parsed, so a bad file leaves the engine as it was.
        self._lockout, self._auto = lockout, auto

    @property
    def auto_in_out(self) -> AutoInOutSettings:
        """The autoInOut settings in force (the configuration's, or the API's)."""
        return self._access.auto_in_out

    def set_auto_in_out(self, settings: AutoInOutSettings, now: Instant) -> None:
        """Apply new autoInOut settings from the next decision on (ACTAtek setAutoInOut).

        What is known of each user (last passage, last grant, occupancy) is kept, so
        changing a limit does not let everyone through once; it is re-read under the new
        settings, which prunes repeats older than the new window and applies a crowd reset
        that is due. Raises ValueError for a crowd reset that is not HH:MM (nothing changes).
        """
        auto = self._auto.with_settings(settings, now)
        self._access = replace(self._access, auto_in_out=settings)
        self._auto = auto
        self._changed()

    def status(self, now: Instant) -> dict[str, Any]:
        """Plain-dict status: rules snapshot, lockouts, autoInOut, pending two-factor doors."""
        timeout = self._access.two_factor_timeout_s
        pending = {
            door: round(p.time + timeout - now.mono, 1)
            for door, p in sorted(self._pending.items())
            if now.mono - p.time <= timeout
        }
        return {
            "snapshot_version": self.snapshot.version,
            "rules": self.snapshot.counts(),
            "lockout": self._lockout.status(now.mono),
            "auto_in_out": self._auto.status(now),
            "awaiting_second_factor": pending,
            "state_version": self._state_version,
            "events_queued": len(self._events),
        }


def _utc(when: float | None) -> str:
    """A window bound in the trace: UTC to the minute, empty when unbounded."""
    if when is None:
        return ""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _switched_off(door: DoorSettings) -> dict[str, str]:
    """Kind -> the door's switch that refuses it ("qr" -> "qr_enabled"), for each kind the
    door has switched off."""
    return {kind: switch for kind, switch in METHOD_SWITCHES.items() if not getattr(door, switch)}


def _totp_replayed(step: int, used: tuple[int, ...], current: int) -> bool:
    """A code already accepted, or older than one accepted up to now (RFC 6238 5.2).

    A step accepted "in the future" (the wall clock has since been stepped back) does not
    make the older, never used codes of the present a replay: only its own code is one.
    """
    return step in used or any(step < accepted <= current for accepted in used)


def denial(reason: str, user_id: str | None, trace: list[str]) -> Decision:
    """A final denial decided from the cache; its trace ends with the reason."""
    return Decision(
        granted=False, reason=reason, user_id=user_id, source="cache", trace=(*trace, reason)
    )
