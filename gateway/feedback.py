"""Reader feedback: LED colour and beeper, driven by decisions.

The logical state is kept even when a reader has no feedback lines wired, so the status
page and the simulation API show what the reader would show.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from gateway.hw.lines import OutputLine

LedColour = Literal["green", "red", "off"]


class ReaderFeedback:
    """Shows a grant (green, short beep) or a deny (red, long beep) for a moment."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        green: OutputLine | None = None,
        red: OutputLine | None = None,
        beeper: OutputLine | None = None,
    ) -> None:
        self._loop = loop
        self._green, self._red, self._beeper = green, red, beeper
        self.led: LedColour = "off"
        self.beeper = False
        self._timers: list[asyncio.TimerHandle] = []

    def show(self, granted: bool, hold_s: float) -> None:
        """Light the LED for `hold_s` seconds and beep (0.2 s on a grant, 1 s on a deny)."""
        self._cancel()
        self._set_led("green" if granted else "red")
        self._set_beeper(True)
        beep_s = 0.2 if granted else 1.0
        self._timers.append(self._loop.call_later(beep_s, self._set_beeper, False))
        self._timers.append(self._loop.call_later(hold_s, self._set_led, "off"))

    def _cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _set_led(self, colour: LedColour) -> None:
        self.led = colour
        if self._green is not None:
            self._green.set(colour == "green")
        if self._red is not None:
            self._red.set(colour == "red")

    def _set_beeper(self, on: bool) -> None:
        self.beeper = on
        if self._beeper is not None:
            self._beeper.set(on)

    def status(self) -> dict[str, object]:
        return {"led": self.led, "beeper": self.beeper}

    def close(self) -> None:
        self._cancel()
        self._set_led("off")
        self._set_beeper(False)
