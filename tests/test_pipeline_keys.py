"""Key presses through the access pipeline: PIN entry times out on the monotonic clock.

A keypad stamps each key with its wall-clock time; the pipeline measures the PIN digit
timeout on the monotonic clock it reads when the key arrives, so a step of the wall
clock neither keeps stale digits (the next person's PIN would be refused) nor drops the
digits being typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from gateway.model import Event
from gateway.pipeline import AccessPipeline
from gateway.settings import ReaderSettings
from tests.access.rules import engine, snapshot
from tests.doors.harness import MONDAY_0855, Rig, rig
from tests.fakes import ManualClock, ManualHandle, ManualTimers

HOUR = 3600.0
KEYPAD = ReaderSettings("kp", "wiegand_keypad", "front", pin_timeout_s=10.0)


class LoopOnTimers:
    """The event-loop call the pipeline uses for key timeouts, on `ManualTimers`."""

    def __init__(self, timers: ManualTimers) -> None:
        self._timers = timers

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> ManualHandle:
        return self._timers.call_at(self._timers.now() + delay, lambda: callback(*args))


class Keypad:
    """A keypad at the front door, its pipeline and what it journaled."""

    def __init__(self) -> None:
        self.clock = ManualClock.at(MONDAY_0855)
        self.door: Rig = rig(clock=self.clock)
        self.events: list[Event] = []
        loop = cast(asyncio.AbstractEventLoop, LoopOnTimers(self.door.timers))
        self.pipeline = AccessPipeline(
            loop,
            self.clock,
            engine(snapshot(pins={"1234": "u1"}), readers=[KEYPAD]),
            {KEYPAD.name: KEYPAD},
            {"front": self.door.door},
            {},
            self.events.append,
            lambda: None,
        )

    def type(self, keys: str) -> None:
        """Keys as the reader delivers them: stamped with the wall clock it reads."""
        for key in keys:
            self.pipeline.key(KEYPAD.name, key, self.clock.time())

    def pending_digits(self) -> int:
        pending: dict[str, int] = self.pipeline.status()["pending_pin_digits"]
        return pending.get(KEYPAD.name, 0)

    def decisions(self) -> list[tuple[bool | None, str]]:
        return [(e.granted, e.reason) for e in self.events if e.type == "access"]


def test_stale_digits_are_dropped_after_the_wall_clock_stepped_back() -> None:
    keypad = Keypad()
    keypad.type("99")  # someone gives up
    keypad.clock.step_wall(-HOUR)
    keypad.clock.advance(15)
    keypad.type("1234#")
    assert keypad.decisions() == [(True, "granted")]


def test_digits_being_typed_are_kept_when_the_wall_clock_steps_forward() -> None:
    keypad = Keypad()
    keypad.type("12")
    keypad.clock.step_wall(HOUR)
    keypad.clock.advance(2)
    keypad.type("34#")
    assert keypad.decisions() == [(True, "granted")]


def test_the_timeout_timer_clears_the_entry_on_time_after_the_wall_clock_stepped_back() -> None:
    keypad = Keypad()
    keypad.type("1")
    keypad.clock.step_wall(-HOUR)
    keypad.type("2")
    assert keypad.pending_digits() == 2
    keypad.door.advance(9.9)
    assert keypad.pending_digits() == 2
    keypad.door.advance(0.2)
    assert keypad.pending_digits() == 0
