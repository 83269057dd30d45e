"""Protocols for the digital lines the rest of the daemon drives or watches.

Outside `gateway/hw/` nothing knows about gpiozero: doors and reader feedback get an
`OutputLine`, inputs an `InputLine`, both made by a `LineFactory` (the lines part of
`gateway.hw.factory.Hardware`), and the simulation drives inputs through a `LineDriver`.
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


class LineFactory(Protocol):
    """Makes lines by BCM pin number: gpiozero's pin factory, in logical terms."""

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> OutputLine:
        """An output line, set to `initial` at once (so a relay starts in its safe state)."""
        ...

    def input(self, pin: int, active_low: bool = True) -> InputLine:
        """An input line with the pull-up on (switches wire to ground)."""
        ...


class LineDriver(Protocol):
    """Sets the electrical level of an input from outside (only simulated pins have one)."""

    def drive(self, pin: int, level: bool) -> None: ...

    def drive_at(self, pin: int, level: bool, ticks: float) -> None:
        """Like `drive`, with the edge stamped at `ticks` (monotonic seconds)."""
        ...


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
