"""Protocols for the digital lines the rest of the daemon drives or watches.

Outside `gateway/hw/` nothing knows about gpiozero: doors and reader feedback get an
`OutputLine`, inputs an `InputLine`, and the simulation API a `LineDriver`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Called with (timestamp_s, active): the timestamp comes from the pin factory's edge
# ticks (kernel event time on a Pi), in seconds on a monotonic scale.
EdgeCallback = Callable[[float, bool], None]


class OutputLine(Protocol):
    """A digital output in logical terms: active means energised (relay on, LED lit)."""

    @property
    def active(self) -> bool: ...

    def set(self, active: bool) -> None: ...

    def close(self) -> None: ...


class InputLine(Protocol):
    """A digital input in logical terms: active means the contact/button/tamper is tripped."""

    @property
    def active(self) -> bool: ...

    def on_change(self, callback: EdgeCallback | None) -> None: ...

    def close(self) -> None: ...


class LineDriver(Protocol):
    """Drives a simulated input from outside (only the simulated backend has one)."""

    def drive(self, pin: int, level: bool) -> None: ...


class MemoryOutput:
    """An output with no pin behind it: the logical state only (simulation of unwired lines)."""

    def __init__(self, active: bool = False) -> None:
        self._active = active

    @property
    def active(self) -> bool:
        return self._active

    def set(self, active: bool) -> None:
        self._active = active

    def close(self) -> None:
        self._active = False
