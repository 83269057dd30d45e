"""Trigger levels of every input and "Execute Relay" input actions (the Akuvox input page),
on gpiozero mock pins and a manual clock: an input of one door pulses a relay of another."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.doors.build import input_lines
from gateway.doors.controller import DoorController, DoorLinks
from gateway.hw.factory import SimulatedHardware
from gateway.model import Event
from gateway.settings import DoorSettings, InputActionSettings
from tests.doors.harness import BUTTON, MONDAY_0855
from tests.fakes import ManualClock, ManualTimers

FRONT_RELAY, FRONT_REX, FRONT_BELL = 17, 22, 26
BACK_RELAY, BACK_SECOND, BACK_REX = 16, 12, 21


@dataclass
class Site:
    """Two doors on one set of mock pins and one manual clock."""

    hardware: SimulatedHardware
    timers: ManualTimers
    doors: dict[str, DoorController] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def press(self, pin: int, level: bool) -> None:
        """Drive an input pin to `level` and let it settle."""
        self.hardware.drive_at(pin, level, self.timers.now())
        self.timers.advance(BUTTON)

    def advance(self, seconds: float) -> None:
        self.timers.advance(seconds)

    def pin(self, number: int) -> bool:
        return self.hardware.level(number)

    def traced(self, door: str, reason: str) -> list[str]:
        return [e.trace for e in self.events if e.door == door and e.reason == reason]


def site(*actions: InputActionSettings, **front: object) -> Site:
    """Door "front" (exit button, doorbell; `actions` and `front` settings) and door "back"
    (lock relay, a second relay with no mode of its own, exit button)."""
    timers = ManualTimers(ManualClock.at(MONDAY_0855))
    hardware = SimulatedHardware()
    built = Site(hardware, timers)
    settings = (
        DoorSettings(
            name="front",
            relay_pin=FRONT_RELAY,
            rex_pin=FRONT_REX,
            doorbell_pin=FRONT_BELL,
            input_actions=actions,
            **front,  # type: ignore[arg-type]
        ),
        DoorSettings(
            name="back",
            relay_pin=BACK_RELAY,
            relay_pulse_s=3,
            rex_pin=BACK_REX,
            second_relay_pin=BACK_SECOND,
            second_relay_pulse_s=2,
        ),
    )
    for door in settings:
        relay = hardware.output(door.relay_pin or 0)
        second = hardware.output(door.second_relay_pin) if door.second_relay_pin else None
        links = DoorLinks(second_relay=second, doors=built.doors)
        lines, _ = input_lines(door, hardware)
        controller = DoorController(
            door, timers, timers.clock, built.events.append, relay, links, **lines
        )
        built.doors[door.name] = controller
    return built


def doorbell_opens_back(**action: object) -> InputActionSettings:
    return InputActionSettings(input="doorbell", relay="lock", relay_door="back", **action)  # type: ignore[arg-type]


def test_a_doorbell_press_pulses_the_lock_relay_of_another_door() -> None:
    gateway = site(doorbell_opens_back())
    gateway.press(FRONT_BELL, False)  # a normally-open button to GND: pressed = low
    assert gateway.pin(BACK_RELAY) is True  # back's strike energised: unlocked
    assert gateway.pin(FRONT_RELAY) is False  # the doorbell's own door stays locked
    assert gateway.traced("front", "input_relay") == ["doorbell > back:lock pulsed"]
    assert gateway.traced("back", "unlocked") == ["input_action:front:doorbell"]
    gateway.advance(3)  # back's relay_pulse_s
    assert gateway.pin(BACK_RELAY) is False


def test_the_action_delay_holds_the_pulse_back() -> None:
    gateway = site(doorbell_opens_back(delay_s=2))
    gateway.press(FRONT_BELL, False)
    gateway.advance(1.9)
    assert gateway.pin(BACK_RELAY) is False
    gateway.advance(0.1)
    assert gateway.pin(BACK_RELAY) is True


def test_only_if_still_triggered_skips_a_button_released_before_the_delay() -> None:
    gateway = site(doorbell_opens_back(delay_s=2, only_if_still_active=True))
    gateway.press(FRONT_BELL, False)
    gateway.advance(1)
    gateway.press(FRONT_BELL, True)  # released
    gateway.advance(5)
    assert gateway.pin(BACK_RELAY) is False
    assert gateway.traced("front", "input_relay") == []


def test_only_if_still_triggered_pulses_a_button_still_held() -> None:
    gateway = site(doorbell_opens_back(delay_s=2, only_if_still_active=True))
    gateway.press(FRONT_BELL, False)
    gateway.advance(2)
    assert gateway.pin(BACK_RELAY) is True


def test_a_second_relay_without_a_mode_is_pulsed_for_its_own_length() -> None:
    action = InputActionSettings(input="rex", relay="second", relay_door="back")
    gateway = site(action)
    gateway.press(FRONT_REX, False)
    assert gateway.pin(BACK_SECOND) is True
    assert gateway.pin(BACK_RELAY) is False  # the lock relay is another relay
    assert gateway.doors["back"].status()["second_relay"]["state"] == "on"
    gateway.advance(2)  # back's second_relay_pulse_s
    assert gateway.pin(BACK_SECOND) is False


def test_an_input_action_never_unlocks_a_door_in_lockdown() -> None:
    gateway = site(doorbell_opens_back())
    gateway.doors["back"].set_lockdown(True, "guard")
    gateway.press(FRONT_BELL, False)
    assert gateway.pin(BACK_RELAY) is False
    assert gateway.traced("front", "input_relay") == ["doorbell > back:lock lockdown"]


def test_an_exit_button_that_triggers_at_the_high_level() -> None:
    # A normally-closed button to GND: at rest the line is low, a press lifts it high.
    gateway = site(rex_trigger_level="high")
    gateway.press(FRONT_REX, False)  # at rest
    assert gateway.pin(FRONT_RELAY) is False
    gateway.press(FRONT_REX, True)  # pressed
    assert gateway.pin(FRONT_RELAY) is True
    assert gateway.traced("front", "exit_button") == ["unlock"]


def test_a_doorbell_that_triggers_at_the_high_level_acts_on_the_high_level_only() -> None:
    gateway = site(doorbell_opens_back(), doorbell_trigger_level="high")
    gateway.press(FRONT_BELL, False)  # a low level is rest for this doorbell
    assert gateway.pin(BACK_RELAY) is False
    gateway.press(FRONT_BELL, True)
    assert gateway.pin(BACK_RELAY) is True
    assert gateway.traced("front", "doorbell") == ["button"]
