"""Keypad lockout: slow down PIN guessing, one counter per reader.

`max_failures` wrong PINs within `window_s` lock that reader's keypad for `lock_s`. Each
further lockout doubles the duration (capped at `max_lock_s`). The escalation goes back to
the start after a correct PIN, or after `reset_after_s` of quiet: no failure and no active
lockout (the quiet time starts when the keypad becomes usable again, so a long lockout does
not count as good behaviour).

Every window and lockout is a duration: all times are monotonic seconds passed in by the
caller, so a step of the wall clock neither lengthens nor lifts a lockout. The state is
exported as plain JSON-able data so the daemon can persist it and a lockout survives a
restart (see `import_state` for how its times are carried across).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from gateway.clock import Stamp, restore_offset
from gateway.settings import LockoutSettings

# 2: times relative to the `saved` stamp (1, still read: absolute wall-clock times).
STATE_VERSION = 2


@dataclass
class ReaderLockout:
    """What one reader's keypad remembers."""

    failures: list[float] = field(default_factory=list)  # times of recent wrong PINs
    locked_until: float | None = None
    level: int = 0  # lockouts so far in the current escalation
    last_activity: float | None = None  # last failure or end of last lockout

    def is_idle(self, now: float) -> bool:
        """True when nothing here can still affect a decision (the entry can be dropped)."""
        return not self.failures and self.level == 0 and not self.locked(now)

    def locked(self, now: float) -> bool:
        """True while the keypad is locked."""
        return self.locked_until is not None and now < self.locked_until


class PinLockout:
    """Per-reader wrong-PIN counters and lockouts."""

    def __init__(self, settings: LockoutSettings) -> None:
        self._settings = settings
        self._readers: dict[str, ReaderLockout] = {}

    def is_locked(self, reader: str, now: float) -> float | None:
        """Seconds left on `reader`'s lockout, or None when its keypad may be used."""
        entry = self._readers.get(reader)
        if entry is None or entry.locked_until is None or now >= entry.locked_until:
            return None
        return entry.locked_until - now

    def record_failure(self, reader: str, now: float) -> float | None:
        """Count a wrong PIN at `reader`; return the lockout duration if this one locks it.

        Failures while locked are not counted: the engine refuses PINs without looking them
        up then, so such a call would be a caller bug, and extending the lock on it would let
        a prankster keep a keypad locked forever.
        """
        entry = self._readers.setdefault(reader, ReaderLockout())
        if entry.locked(now):
            return None
        self._forget_old(entry, now)
        entry.failures.append(now)
        entry.last_activity = now
        if len(entry.failures) < self._settings.max_failures:
            return None
        duration = min(self._settings.lock_s * 2.0**entry.level, self._settings.max_lock_s)
        entry.locked_until = now + duration
        entry.last_activity = entry.locked_until
        if duration < self._settings.max_lock_s:
            # Stop counting at the cap: a keypad attacked for weeks must not overflow 2**n.
            entry.level += 1
        entry.failures.clear()
        return duration

    def record_success(self, reader: str, now: float) -> bool:
        """A correct PIN at `reader`: clear its counters. True when that changed the state."""
        entry = self._readers.get(reader)
        if entry is None or entry.locked(now):
            # A success cannot happen while locked; never let it cut a lockout short.
            return False
        del self._readers[reader]
        return True

    def _forget_old(self, entry: ReaderLockout, now: float) -> None:
        """Drop failures outside the window and end the escalation after a quiet period."""
        window_start = now - self._settings.window_s
        entry.failures = [t for t in entry.failures if t > window_start]
        quiet_since = entry.last_activity
        if quiet_since is not None and now - quiet_since >= self._settings.reset_after_s:
            entry.level = 0
        if entry.locked_until is not None and now >= entry.locked_until:
            entry.locked_until = None

    def status(self, now: float) -> dict[str, Any]:
        """Plain-dict status: locked readers with seconds left, recent failure counts."""
        locked: dict[str, float] = {}
        failures: dict[str, int] = {}
        window_start = now - self._settings.window_s
        for reader, entry in sorted(self._readers.items()):
            left = self.is_locked(reader, now)
            if left is not None:
                locked[reader] = round(left, 1)
            recent = sum(1 for t in entry.failures if t > window_start)
            if recent:
                failures[reader] = recent
        return {
            "locked": locked,
            "recent_failures": failures,
            "max_failures": self._settings.max_failures,
            "window_s": self._settings.window_s,
        }

    def export_state(self, now: Stamp) -> dict[str, Any]:
        """JSON-serialisable state for `import_state` after a restart: every time is in
        seconds relative to the moment of the save, `saved` (negative: before it)."""

        def relative(t: float | None) -> float | None:
            return None if t is None else t - now.mono

        return {
            "version": STATE_VERSION,
            "saved": now.as_dict(),
            "readers": {
                reader: {
                    "failures": [t - now.mono for t in entry.failures],
                    "locked_until": relative(entry.locked_until),
                    "level": entry.level,
                    "last_activity": relative(entry.last_activity),
                }
                for reader, entry in sorted(self._readers.items())
            },
        }

    def import_state(self, state: dict[str, Any], now: Stamp) -> None:
        """Replace the state with an `export_state` result; raises ValueError if malformed.

        Everything is validated before anything is replaced. The time since the save is
        `now.elapsed_since(saved)` (monotonic in the same boot, wall after a reboot, never
        negative), so no lockout is longer after a restart than it had left to run. A
        format-1 state holds wall-clock times: they are read as seen from `now.wall`.
        Whatever the state says, a lockout ends at most `max_lock_s` from now and no
        failure lies in the future, so a clock fault cannot lock a keypad for days.
        """
        if not isinstance(state, dict):
            raise ValueError("lockout state: unsupported or missing version")
        base = restore_offset(state, "lockout", now, STATE_VERSION)
        readers = state.get("readers")
        if not isinstance(readers, dict):
            raise ValueError("lockout state: 'readers' must be an object")
        parsed = {str(name): _parse_reader(name, raw, base) for name, raw in readers.items()}
        for entry in parsed.values():
            self._clamp(entry, now.mono)
            self._forget_old(entry, now.mono)
        self._readers = {name: e for name, e in parsed.items() if not e.is_idle(now.mono)}

    def _clamp(self, entry: ReaderLockout, now: float) -> None:
        """Nothing restored may reach further than a fresh lockout could."""
        latest = now + self._settings.max_lock_s
        entry.failures = [min(t, now) for t in entry.failures]
        if entry.locked_until is not None:
            entry.locked_until = min(entry.locked_until, latest)
        if entry.last_activity is not None:
            entry.last_activity = min(entry.last_activity, latest)


def _parse_reader(name: object, raw: object, base: float) -> ReaderLockout:
    """One reader's exported entry, checked field by field; times are shifted by `base`."""
    if not isinstance(raw, dict):
        raise ValueError(f"lockout state: reader {name!r} must be an object")
    failures = raw.get("failures", [])
    if not isinstance(failures, list) or not all(_is_number(t) for t in failures):
        raise ValueError(f"lockout state: reader {name!r}: 'failures' must be numbers")
    level = raw.get("level", 0)
    if not isinstance(level, int) or isinstance(level, bool) or level < 0:
        raise ValueError(f"lockout state: reader {name!r}: 'level' must be an integer >= 0")
    locked_until = _optional_number(raw.get("locked_until"), name, "locked_until")
    last_activity = _optional_number(raw.get("last_activity"), name, "last_activity")
    return ReaderLockout(
        failures=[base + t for t in failures],
        locked_until=None if locked_until is None else base + locked_until,
        level=level,
        last_activity=None if last_activity is None else base + last_activity,
    )


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_number(value: object, name: object, key: str) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise ValueError(f"lockout state: reader {name!r}: {key!r} must be a number or null")
    return float(value)
