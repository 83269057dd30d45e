"""Reader feedback patterns on the manual clock: grant, deny, waiting, pre-alarm."""

from __future__ import annotations

from gateway.feedback import ReaderFeedback
from gateway.hw.factory import SimulatedHardware
from tests.fakes import ManualClock, ManualTimers

GREEN, RED, BEEPER = 25, 8, 12


class Reader:
    """A reader with its three feedback wires on mock pins."""

    def __init__(self) -> None:
        self.timers = ManualTimers(ManualClock())
        self.hardware = SimulatedHardware()
        out = self.hardware.output
        self.fb = ReaderFeedback(self.timers, out(GREEN), out(RED), out(BEEPER))

    def wires(self) -> tuple[bool, bool, bool]:
        """(green, red, beeper) electrical levels."""
        level = self.hardware.level
        return level(GREEN), level(RED), level(BEEPER)

    def beeps(self, seconds: float, step: float = 0.05) -> list[bool]:
        """The beeper level sampled every `step` for `seconds`."""
        samples = []
        for _ in range(round(seconds / step)):
            samples.append(self.fb.beeper)
            self.timers.advance(step)
        return samples


def test_grant_is_green_with_a_short_beep() -> None:
    reader = Reader()
    reader.fb.show(True, 5)
    assert reader.wires() == (True, False, True)
    assert reader.fb.status() == {
        "led": "green",
        "beeper": True,
        "pattern": "granted",
        "prealarm": False,
    }
    reader.timers.advance(0.2)
    assert reader.wires() == (True, False, False)
    reader.timers.advance(4.8)
    assert reader.wires() == (False, False, False) and reader.fb.led == "off"


def test_deny_is_red_with_a_long_beep() -> None:
    reader = Reader()
    reader.fb.show(False, 1)
    assert reader.wires() == (False, True, True)
    reader.timers.advance(0.99)
    assert reader.fb.beeper
    reader.timers.advance(0.01)
    assert reader.wires() == (False, False, False)


def test_waiting_is_amber_with_two_short_beeps_until_the_answer() -> None:
    reader = Reader()
    reader.fb.show_waiting(15)
    assert reader.fb.led == "amber" and reader.wires()[:2] == (True, True)
    assert reader.beeps(0.4) == [True, True, False, False, True, True, False, False]
    reader.timers.advance(2)
    assert reader.fb.led == "amber"
    reader.fb.show(True, 5)  # the second factor arrived
    assert reader.fb.led == "green" and reader.fb.pattern == "granted"


def test_waiting_times_out_to_off() -> None:
    reader = Reader()
    reader.fb.show_waiting(3)
    reader.timers.advance(3)
    assert reader.fb.led == "off" and reader.fb.pattern == "idle"


def test_prealarm_pulses_the_beeper_until_stopped_and_leaves_the_led_alone() -> None:
    reader = Reader()
    reader.fb.show(True, 60)
    reader.timers.advance(1)
    reader.fb.set_prealarm(True)
    assert reader.beeps(1) == [True] * 5 + [False] * 5 + [True] * 5 + [False] * 5
    assert reader.fb.led == "green" and reader.fb.status()["prealarm"] is True
    reader.fb.set_prealarm(False)
    reader.timers.advance(1)
    assert not reader.fb.beeper and reader.timers.pending == 1  # only the LED's timer


def test_a_grant_beep_during_the_prealarm_does_not_stop_the_prealarm() -> None:
    reader = Reader()
    reader.fb.set_prealarm(True)
    reader.timers.advance(0.3)  # pre-alarm in its off phase
    reader.fb.show(True, 5)
    assert reader.fb.beeper
    reader.timers.advance(0.2)
    assert reader.fb.beeper  # the pre-alarm's next on phase
    assert reader.fb.prealarm


def test_unwired_reader_keeps_the_logical_state_and_close_turns_all_off() -> None:
    fb = ReaderFeedback(ManualTimers(ManualClock()))
    fb.show(False, 1)
    assert (fb.led, fb.beeper) == ("red", True)
    fb.set_prealarm(True)
    fb.close()
    assert fb.status() == {"led": "off", "beeper": False, "pattern": "idle", "prealarm": False}
