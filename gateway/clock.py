"""Time as an input: everything that waits or schedules reads a `Clock`.

There are two clocks, for two different questions. The wall clock (UTC epoch seconds) says
what day and hour it is: schedules, holidays, expiry dates, the daily crowd reset and the
timestamps of events read it. The monotonic clock only measures how long something took:
every duration (lockouts, PIN digit timeouts, repeat and two-factor windows, sessions, door
timers) reads it, so that a step of the wall clock (NTP, an admin, a Pi without a real-time
clock booting with yesterday's time) changes no decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


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
