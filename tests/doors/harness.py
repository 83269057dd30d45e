"""A door on simulated pins and a manual clock, with verbs: open_door, press_rex, ...

Edges go through the real gpiozero mock pins and `GpioInput`, stamped with the manual
clock's time, so the debouncers see the edge times a Pi would give them.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.doors.controller import DoorController, DoorLinks
from gateway.doors.outputs import relay_initial
from gateway.hw.factory import SimulatedHardware
from gateway.model import Event
from gateway.settings import DoorSettings
from tests.fakes import ManualClock, ManualTimers

RELAY, CONTACT, REX, TAMPER, ALARM, SECOND, DOORBELL = 17, 27, 22, 23, 24, 18, 26
# 2026-03-02 is a Monday.
MONDAY_0855 = datetime(2026, 3, 2, 8, 55, tzinfo=UTC)
DEBOUNCE = 0.05  # DoorSettings.contact_debounce_s default
BUTTON = 0.05  # DoorSettings.button_debounce_s default

FRONT = DoorSettings(
    name="front",
    relay_pin=RELAY,
    relay_pulse_s=5,
    door_open_timeout_s=30,
    held_open_prealarm_s=10,
    contact_pin=CONTACT,
    rex_pin=REX,
    tamper_pin=TAMPER,
    alarm_pin=ALARM,
    doorbell_pin=DOORBELL,
)


@dataclass
class FakePrealarm:
    """A reader that records pre-alarm on/off calls."""

    calls: list[bool] = field(default_factory=list)

    def set_prealarm(self, on: bool) -> None:
        self.calls.append(on)


@dataclass
class Rig:
    """One door, its pins, its clock and the events it emitted."""

    door: DoorController
    hardware: SimulatedHardware
    timers: ManualTimers
    clock: ManualClock
    events: list[Event]
    feedback: FakePrealarm
    startup: list[Event]  # what the door emitted while it was built

    # -- what happened ---------------------------------------------------------------

    def reasons(self, kind: str | None = None) -> list[str]:
        """Reasons of the events so far (of one type when `kind` is given)."""
        return [e.reason for e in self.events if kind is None or e.type == kind]

    def traced(self) -> list[tuple[str, str]]:
        """(reason, trace) of the events so far."""
        return [(e.reason, e.trace) for e in self.events]

    def event(self, reason: str) -> Event:
        """The only event with this reason."""
        found = [e for e in self.events if e.reason == reason]
        assert len(found) == 1, f"{reason}: {len(found)} events in {self.reasons()}"
        return found[0]

    def take(self) -> list[str]:
        """The reasons so far, then forget them."""
        reasons = self.reasons()
        self.events.clear()
        return reasons

    def pin(self, number: int) -> bool:
        """The electrical level of an output pin."""
        return self.hardware.level(number)

    @property
    def relay_energised(self) -> bool:
        return self.pin(RELAY)

    # -- verbs -----------------------------------------------------------------------

    def edge(self, pin: int, level: bool) -> None:
        """One electrical edge, stamped with the manual clock."""
        self.hardware.drive_at(pin, level, self.timers.now())

    def open_door(self, settle: bool = True) -> None:
        self.edge(CONTACT, True)  # NC contact to ground: high = open
        if settle:
            self.advance(DEBOUNCE)

    def close_door(self, settle: bool = True) -> None:
        self.edge(CONTACT, False)
        if settle:
            self.advance(DEBOUNCE)

    def press_rex(self, settle: bool = True) -> None:
        self.edge(REX, False)  # NO button to ground: low = pressed
        if settle:
            self.advance(BUTTON)

    def release_rex(self, settle: bool = True) -> None:
        self.edge(REX, True)
        if settle:
            self.advance(BUTTON)

    def press_doorbell(self) -> None:
        self.edge(DOORBELL, False)  # NO button to ground, as the exit button
        self.advance(BUTTON)

    def release_doorbell(self) -> None:
        self.edge(DOORBELL, True)
        self.advance(BUTTON)

    def trip_tamper(self) -> None:
        self.edge(TAMPER, False)
        self.advance(BUTTON)

    def restore_tamper(self) -> None:
        self.edge(TAMPER, True)
        self.advance(BUTTON)

    def chatter(
        self, pin: int, seconds: float, gaps: tuple[float, float] = (0.015, 0.045), seed: int = 1
    ) -> None:
        """A worn switch: the line flips level every `gaps` seconds (random, repeatable)
        for `seconds`, then stays where it ended."""
        pick = random.Random(seed)
        end = self.timers.now() + seconds
        level = self.hardware.level(pin)
        while self.timers.now() < end:
            level = not level
            self.edge(pin, level)
            self.advance(pick.uniform(*gaps))

    def advance(self, seconds: float) -> None:
        self.timers.advance(seconds)


def rig(
    links: DoorLinks | None = None,
    *,
    contact_open: bool = False,
    rex_pressed: bool = False,
    tamper_tripped: bool = False,
    relay_left_unlocked: bool = False,
    start: bool = True,
    clock: ManualClock | None = None,
    **overrides: Any,
) -> Rig:
    """The front door (fully wired) with `overrides` applied to its settings."""
    settings = dataclasses.replace(FRONT, **overrides)
    clock = clock or ManualClock.at(MONDAY_0855)
    timers = ManualTimers(clock)
    hardware = SimulatedHardware()
    locked = relay_initial(settings)
    relay = hardware.output(RELAY, initial=(not locked) if relay_left_unlocked else locked)
    contact = hardware.input(CONTACT, active_low=False)
    hardware.drive(CONTACT, contact_open)
    rex = hardware.input(REX)
    hardware.drive(REX, not rex_pressed)
    tamper = hardware.input(TAMPER)
    hardware.drive(TAMPER, not tamper_tripped)
    doorbell = hardware.input(DOORBELL)  # at rest: not pressed
    events: list[Event] = []
    second = hardware.output(SECOND) if settings.second_relay_pin is not None else None
    links = dataclasses.replace(links or DoorLinks(), second_relay=second)
    door = DoorController(
        settings,
        timers,
        clock,
        events.append,
        relay,
        links,
        contact=contact,
        rex=rex,
        tamper=tamper,
        doorbell=doorbell,
        alarm=hardware.output(ALARM),
    )
    # Every door journals its start-up lock first (tests/doors/test_startup.py); the
    # scenarios start after it, with the other start-up events.
    startup = list(events)
    if events[:1] and (events[0].reason, events[0].trace) == ("locked", "startup"):
        del events[0]
    feedback = FakePrealarm()
    door.attach_feedback(feedback)
    if start:
        door.start()
    return Rig(door, hardware, timers, clock, events, feedback, startup)
