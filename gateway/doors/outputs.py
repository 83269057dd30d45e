"""The door's outputs in door terms: a lock relay that knows its lock type, a pulsed relay.

`OutputLine.active` means "energised". Whether an energised relay locks or unlocks the door
depends on the lock: a fail-secure strike unlocks when powered, a fail-safe maglock locks
when powered. Only `LockRelay` translates between the two, so no other code can get the
polarity wrong.
"""

from __future__ import annotations

from gateway.doors.timers import Later, Timers
from gateway.hw.lines import OutputLine
from gateway.settings import DoorSettings, LockType


def locked_level(lock_type: LockType) -> bool:
    """The relay state (energised or not) that keeps a lock of this type locked."""
    return lock_type == "fail_safe"


def relay_initial(settings: DoorSettings) -> bool:
    """The `initial` value to build a door's relay output with: its locked state."""
    return locked_level(settings.lock_type)


class LockRelay:
    """The strike/maglock relay: `lock()` and `unlock()`, whatever the lock type."""

    def __init__(self, line: OutputLine, lock_type: LockType) -> None:
        self._line = line
        self.lock_type = lock_type
        self._locked_level = locked_level(lock_type)

    @property
    def unlocked(self) -> bool:
        return self._line.active != self._locked_level

    @property
    def energised(self) -> bool:
        return self._line.active

    def lock(self) -> None:
        self._line.set(self._locked_level)

    def unlock(self) -> None:
        self._line.set(not self._locked_level)


class PulsedOutput:
    """An output that is switched on for a moment (second relay) or held on (bell schedule)."""

    def __init__(self, line: OutputLine, timers: Timers) -> None:
        self._line = line
        self._off = Later(timers)
        self._held = False
        self._line.set(False)

    @property
    def on(self) -> bool:
        return self._line.active

    def pulse(self, seconds: float) -> None:
        """On now, off after `seconds` (a repeat pulse restarts the time)."""
        self._line.set(True)
        self._off.after(seconds, self._pulse_ended)

    def _pulse_ended(self) -> None:
        if not self._held:
            self._line.set(False)

    def hold(self, on: bool) -> None:
        """Keep the output on (or release it) until told otherwise."""
        self._held = on
        if on:
            self._line.set(True)
        elif not self._off.pending:
            self._line.set(False)

    def off(self) -> None:
        self._off.cancel()
        self._held = False
        self._line.set(False)
