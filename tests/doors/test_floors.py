"""Elevator floors on eight relays (gpiozero mock pins): after a grant at the lift, only
the user's floors are enabled, for `floor_enable_s`, and nothing stays enabled after a
fault or a stop."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gateway.doors.floors import FloorOutputs
from gateway.hw.factory import SimulatedHardware
from gateway.hw.lines import OutputLine
from gateway.model import Event
from gateway.settings import FloorSettings, LiftSettings
from tests.fakes import ManualClock, ManualTimers

# Floors "1".."8" on BCM 4..11; floor "3"'s relay board switches on a low output.
PINS = {str(n): 3 + n for n in range(1, 9)}
FLOORS = tuple(FloorSettings(name, pin, active_high=name != "3") for name, pin in PINS.items())


@dataclass
class Lift:
    """Eight floor relays on simulated pins, a manual clock, the events journaled."""

    floors: FloorOutputs
    hardware: SimulatedHardware
    timers: ManualTimers
    events: list[Event] = field(default_factory=list)

    def enabled(self) -> set[str]:
        """The floors whose relay is energised, read from the pins' electrical levels."""
        on = set()
        for floor in FLOORS:
            level = self.hardware.level(PINS[floor.name])
            if level == floor.active_high:
                on.add(floor.name)
        return on


def build(default_floors: tuple[str, ...] = (), hardware: SimulatedHardware | None = None) -> Lift:
    clock = ManualClock()
    timers = ManualTimers(clock)
    pins = hardware or SimulatedHardware()
    events: list[Event] = []
    lift = LiftSettings(floor_enable_s=10, default_floors=default_floors)
    outputs = FloorOutputs(FLOORS, lift, pins, timers, clock, events.append)
    return Lift(outputs, pins, timers, events)


def test_all_floors_start_disabled_whatever_their_polarity() -> None:
    lift = build()
    assert lift.enabled() == set()
    assert lift.hardware.level(PINS["3"]) is True  # active low: disabled = high
    assert lift.floors.status()["enabled"] == []


def test_only_the_users_floors_go_active_then_all_go_inactive_after_the_time() -> None:
    lift = build()
    seen: set[str] = set()
    lift.floors.enable(("2", "3", "7"), door="lift", reader="car", user_id="A1")
    for _ in range(99):
        seen |= lift.enabled()
        assert lift.enabled() == {"2", "3", "7"}
        lift.timers.advance(0.1)
    lift.timers.advance(0.2)
    assert lift.enabled() == set()
    assert seen == {"2", "3", "7"}  # the other five never went active
    (event,) = lift.events
    assert (event.type, event.reason, event.user_id, event.door, event.reader) == (
        "door",
        "floors_enabled",
        "A1",
        "lift",
        "car",
    )
    assert event.trace == "floors:2,3,7 for 10s"


def test_a_user_without_floors_gets_the_default_floors_and_unknown_names_nothing() -> None:
    lift = build(default_floors=("1",))
    lift.floors.enable((), door="lift", reader="car", user_id="B2")
    assert lift.enabled() == {"1"}
    lift.timers.advance(11)
    lift.floors.enable(("roof", "9"), door="lift", reader="car", user_id="C3")
    assert lift.enabled() == set()  # floors this lift does not have: none, not the default


def test_without_default_floors_a_user_without_floors_enables_nothing() -> None:
    lift = build()
    lift.floors.enable((), door="lift", reader="car", user_id="B2")
    assert lift.enabled() == set()
    assert lift.events[-1].trace == "floors:none"


def test_the_next_grant_replaces_the_previous_floors() -> None:
    lift = build()
    lift.floors.enable(("1", "2"), door="lift", reader="car", user_id="A1")
    lift.timers.advance(6)
    lift.floors.enable(("5",), door="lift", reader="car", user_id="B2")
    assert lift.enabled() == {"5"}
    lift.timers.advance(6)
    assert lift.enabled() == {"5"}  # its own 10 s, not what was left of the first
    lift.timers.advance(5)
    assert lift.enabled() == set()


def test_stop_disables_every_floor_at_once() -> None:
    lift = build()
    lift.floors.enable(("4", "8"), door="lift", reader="car", user_id="A1")
    lift.floors.close()
    assert lift.enabled() == set()
    lift.timers.advance(20)  # the timer left behind changes nothing
    assert lift.enabled() == set()


class FailingLine:
    """A floor relay whose driver fails when switched on."""

    def __init__(self) -> None:
        self.active = False

    def set(self, active: bool) -> None:
        if active:
            raise OSError("relay board unplugged")
        self.active = False

    def close(self) -> None:
        pass


class OneFailingFloor(SimulatedHardware):
    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> OutputLine:
        if pin == PINS["6"]:
            return FailingLine()  # type: ignore[return-value]
        return super().output(pin, active_high, initial)


def test_a_fault_while_enabling_disables_every_floor_and_is_journaled() -> None:
    lift = build(hardware=OneFailingFloor())
    lift.floors.enable(("5", "6", "7"), door="lift", reader="car", user_id="A1")
    assert lift.enabled() == set()
    assert [e.reason for e in lift.events] == ["floors_fault"]
    assert lift.floors.status()["faults"] == 1


def test_status_shows_each_floor_output() -> None:
    lift = build()
    lift.floors.enable(("2",), door="lift", reader="car", user_id="A1")
    status = lift.floors.status()
    assert status["enabled"] == ["2"]
    assert status["floors"]["2"] == {"pin": PINS["2"], "active": True}
    assert status["floors"]["1"] == {"pin": PINS["1"], "active": False}
    assert status["enable_s"] == 10


@pytest.mark.parametrize("floors", [("1",), ()])
def test_disabled_again_after_the_time_even_when_enabled_twice(floors: tuple[str, ...]) -> None:
    lift = build(default_floors=("8",))
    lift.floors.enable(floors, door="lift", reader="car", user_id="A1")
    lift.floors.enable(floors, door="lift", reader="car", user_id="A1")
    lift.timers.advance(10.01)
    assert lift.enabled() == set()
