"""Reader feedback: LED colour and beeper patterns, driven by decisions and door alarms.

The logical state (`led`, `beeper`) is kept even when a reader has no feedback lines wired,
so the status page and the simulation API show what the reader would show. Every pattern
runs on the `Timers` seam, so tests step through it on a manual clock.

Patterns (LED wires: green and red; both lit is amber on a bi-colour reader LED):

| situation                               | LED                  | beeper                        |
|-----------------------------------------|----------------------|-------------------------------|
| granted (`show(True, hold_s)`)          | green for hold_s     | one short beep, 0.2 s         |
| denied (`show(False, hold_s)`)          | red for hold_s       | one long beep, 1 s            |
| waiting for a second factor or upstream | amber (both on)      | two short beeps, 0.1 s each   |
| held-open pre-alarm (`set_prealarm`)    | unchanged            | 0.25 s on / 0.25 s off, until |
|                                         |                      | the door closes               |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from gateway.doors.timers import Later, Timers
from gateway.hw.lines import LineFactory, OutputLine
from gateway.settings import ReaderSettings

LedColour = Literal["green", "red", "amber", "off"]
Beeps = tuple[tuple[bool, float], ...]  # (on, seconds) steps

GRANT_BEEPS: Beeps = ((True, 0.2),)
DENY_BEEPS: Beeps = ((True, 1.0),)
WAITING_BEEPS: Beeps = ((True, 0.1), (False, 0.1), (True, 0.1))
PREALARM_BEEPS: Beeps = ((True, 0.25), (False, 0.25))  # repeated
WAITING_DEFAULT_S = 15.0


@runtime_checkable
class FeedbackMirror(Protocol):
    """A reader that shows feedback itself (an OSDP reader's LED, beeper and display):
    told every change of the logical state, whether or not lines are wired."""

    def show_feedback(self, led: LedColour, beeper: bool, pattern: str) -> None: ...


class _BeepPlayer:
    """Plays (on, seconds) steps once or in a loop; `on` is the beeper it asks for."""

    def __init__(self, timers: Timers, changed: Callable[[], None]) -> None:
        self._step = Later(timers)
        self._changed = changed
        self._steps: Beeps = ()
        self._index = 0
        self._repeat = False
        self.on = False

    def play(self, steps: Beeps, repeat: bool = False) -> None:
        self._steps, self._index, self._repeat = steps, 0, repeat
        self._advance()

    def _advance(self) -> None:
        if self._index >= len(self._steps):
            if not self._repeat or not self._steps:
                self.stop()
                return
            self._index = 0
        on, seconds = self._steps[self._index]
        self._index += 1
        self.on = on
        self._step.after(seconds, self._advance)
        self._changed()

    @property
    def playing(self) -> bool:
        return bool(self._steps)

    def stop(self) -> None:
        self._step.cancel()
        self._steps = ()
        self.on = False
        self._changed()


class ReaderFeedback:
    """One reader's LED and beeper: grant, deny, waiting and pre-alarm patterns."""

    def __init__(
        self,
        timers: Timers,
        green: OutputLine | None = None,
        red: OutputLine | None = None,
        beeper: OutputLine | None = None,
    ) -> None:
        self._timers = timers
        self._green, self._red, self._beeper = green, red, beeper
        self.led: LedColour = "off"
        self.beeper = False
        self.pattern = "idle"
        self._led_off = Later(self._timers)
        self._signal = _BeepPlayer(self._timers, self._sync_beeper)
        self._alarm = _BeepPlayer(self._timers, self._sync_beeper)
        self._mirrors: list[FeedbackMirror] = []

    def add_mirror(self, mirror: FeedbackMirror) -> None:
        """Tell `mirror` every change from now on (it is shown the current state first)."""
        self._mirrors.append(mirror)
        mirror.show_feedback(self.led, self.beeper, self.pattern)

    def _mirror(self) -> None:
        for mirror in self._mirrors:
            mirror.show_feedback(self.led, self.beeper, self.pattern)

    def show(self, granted: bool, hold_s: float) -> None:
        """A final decision: green and a short beep, or red and a long beep, for `hold_s`."""
        self.pattern = "granted" if granted else "denied"
        self._set_led("green" if granted else "red", hold_s)
        self._signal.play(GRANT_BEEPS if granted else DENY_BEEPS)

    def show_waiting(self, timeout_s: float = WAITING_DEFAULT_S) -> None:
        """Waiting for a second factor or an upstream answer: amber and two short beeps.

        The next `show()` replaces it; after `timeout_s` without one the LED goes off.
        """
        self.pattern = "waiting"
        self._set_led("amber", timeout_s)
        self._signal.play(WAITING_BEEPS)

    def set_prealarm(self, on: bool) -> None:
        """The door is about to raise its held-open alarm: pulse the beeper until told."""
        if on:
            self._alarm.play(PREALARM_BEEPS, repeat=True)
        else:
            self._alarm.stop()

    @property
    def prealarm(self) -> bool:
        return self._alarm.playing

    def _set_led(self, colour: LedColour, hold_s: float) -> None:
        self._write_led(colour)
        self._led_off.after(hold_s, self._led_expired)

    def _led_expired(self) -> None:
        self.pattern = "idle"
        self._write_led("off")

    def _write_led(self, colour: LedColour) -> None:
        self.led = colour
        if self._green is not None:
            self._green.set(colour in ("green", "amber"))
        if self._red is not None:
            self._red.set(colour in ("red", "amber"))
        self._mirror()

    def _sync_beeper(self) -> None:
        on = self._signal.on or self._alarm.on
        self.beeper = on
        if self._beeper is not None:
            self._beeper.set(on)
        self._mirror()

    def status(self) -> dict[str, object]:
        return {
            "led": self.led,
            "beeper": self.beeper,
            "pattern": self.pattern,
            "prealarm": self.prealarm,
        }

    def close(self) -> None:
        self._led_off.cancel()
        self._signal.stop()
        self._alarm.stop()
        self.pattern = "idle"
        self._write_led("off")


def build_feedback(reader: ReaderSettings, lines: LineFactory, timers: Timers) -> ReaderFeedback:
    """The feedback of `reader` on its wired LED and beeper lines (none wired: logical only)."""

    def line(pin: int | None) -> OutputLine | None:
        return None if pin is None else lines.output(pin)

    return ReaderFeedback(
        timers, line(reader.led_green_pin), line(reader.led_red_pin), line(reader.beeper_pin)
    )
