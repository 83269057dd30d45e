"""Time as an input: everything that waits or schedules reads a `Clock`.

There are two clocks, for two different questions. The wall clock (UTC epoch seconds) says
what day and hour it is: schedules, holidays, expiry dates, the daily crowd reset and the
timestamps of events read it. The monotonic clock only measures how long something took:
every duration (lockouts, PIN digit timeouts, repeat and two-factor windows, sessions, door
timers) reads it, so that a step of the wall clock (NTP, an admin, a Pi without a real-time
clock booting with yesterday's time) changes no decision.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeGuard

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    """Wall-clock UTC seconds for timestamps, monotonic seconds for durations."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class SteppableClock(SystemClock):
    """The system clock whose wall time a simulation can step, as an NTP correction or an
    installer's `date -s` would, while the monotonic clock runs on untouched."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def time(self) -> float:
        return time.time() + self.offset_s

    def step(self, seconds: float) -> None:
        """Move the wall clock by `seconds` (negative: back)."""
        self.offset_s += seconds


@dataclass(frozen=True)
class Instant:
    """One moment read from both clocks: `wall` for the calendar, `mono` for durations."""

    wall: float  # UTC epoch seconds
    mono: float  # monotonic seconds (meaningful only within one boot)

    @classmethod
    def read(cls, clock: Clock) -> Instant:
        """The clock's present moment."""
        return cls(clock.time(), clock.monotonic())

    def __add__(self, seconds: float) -> Instant:
        """`seconds` later on both clocks (time passing, no step of the wall clock)."""
        return Instant(self.wall + seconds, self.mono + seconds)

    def __sub__(self, seconds: float) -> Instant:
        """`seconds` earlier on both clocks."""
        return Instant(self.wall - seconds, self.mono - seconds)


@dataclass(frozen=True)
class Stamp:
    """An instant and the kernel boot it was read in: where saved durations are measured from.

    A monotonic reading is meaningful after a restart of the daemon only if the kernel has
    not rebooted since; `boot` (the kernel's boot_id, "" when unknown) tells which.
    """

    wall: float
    mono: float
    boot: str

    @classmethod
    def read(cls, clock: Clock, boot: str) -> Stamp:
        """The clock's present moment in boot `boot`."""
        return cls(clock.time(), clock.monotonic(), boot)

    def as_dict(self) -> dict[str, float | str]:
        """JSON-serialisable, for `from_dict`."""
        return {"wall": self.wall, "mono": self.mono, "boot": self.boot}

    @classmethod
    def from_dict(cls, raw: object) -> Stamp:
        """The inverse of `as_dict`; ValueError when `raw` is not one."""
        if not isinstance(raw, dict):
            raise ValueError("'saved' must be an object")
        wall, mono, boot = raw.get("wall"), raw.get("mono"), raw.get("boot")
        if not (_is_finite(wall) and _is_finite(mono) and isinstance(boot, str)):
            raise ValueError("'saved' must have numbers 'wall' and 'mono' and a string 'boot'")
        return cls(float(wall), float(mono), boot)

    def elapsed_since(self, saved: Stamp) -> float:
        """Seconds from `saved` to now, for carrying durations across a restart.

        In the same boot the monotonic clock says it exactly, whatever the wall clock did.
        After a reboot only the wall clock can say it; it is never taken below zero, so a
        wall clock stepped back across the reboot cannot lengthen a duration (one stepped
        forward shortens it: nothing better is known).
        """
        same_boot = bool(self.boot) and self.boot == saved.boot and self.mono >= saved.mono
        if same_boot:
            return self.mono - saved.mono
        return max(0.0, self.wall - saved.wall)

    def offset_of(self, saved: Stamp | None) -> float:
        """What to add to a saved time to place it on this stamp's monotonic clock: a time
        saved relative to `saved`, or (`saved` None) an absolute wall-clock time as older
        state formats kept them, taken as seen from this stamp's wall clock."""
        if saved is None:
            return self.mono - self.wall
        return self.mono - self.elapsed_since(saved)


def restore_offset(state: dict[str, object], what: str, now: Stamp, version: int) -> float:
    """`now.offset_of` the stamp saved in a versioned state (format 1 has none: absolute
    wall-clock times); ValueError naming `what` when the version or the stamp is wrong."""
    if state.get("version") not in (1, version):
        raise ValueError(f"{what} state: unsupported or missing version")
    if state["version"] == 1:
        return now.offset_of(None)
    try:
        return now.offset_of(Stamp.from_dict(state.get("saved")))
    except ValueError as exc:
        raise ValueError(f"{what} state: {exc}") from None


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    """The kernel's id of the current boot; "" when it cannot be read (then every restart
    is taken for a reboot, which can only shorten saved durations)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _is_finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
