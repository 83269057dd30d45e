"""Time as an input: everything that waits or schedules reads a `Clock`."""

from __future__ import annotations

import time
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
