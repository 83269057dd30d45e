"""GPIO through gpiozero pin factories: lgpio on a Pi, MockFactory in simulation.

The pin factory is the seam (as in gpiozero itself): the same `GpioOutput`/`GpioInput`
code runs on real pins and on mock pins, and the simulated hardware
(`gateway.hw.factory.SimulatedHardware`) drives mock pins with `drive_low`/`drive_high`,
so edges go through the real decoders.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

from gateway.hw.lines import EdgeCallback


class GpioOutput:
    """A gpiozero output device; `active_high=False` inverts the electrical level."""

    def __init__(self, factory: Any, pin: int, active_high: bool, initial: bool) -> None:
        self._device = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=initial, pin_factory=factory
        )

    @property
    def active(self) -> bool:
        return bool(self._device.value)

    def set(self, active: bool) -> None:
        if active:
            self._device.on()
        else:
            self._device.off()

    def close(self) -> None:
        self._device.close()


class GpioInput:
    """A pin-level input with edge timestamps from the pin factory.

    `active_low=True` makes a low level logically active (a normally-open switch to
    ground); `active_low=False` suits a normally-closed switch to ground, which pulls the
    line low while the door is closed. The pull-up is on in both cases. The pin keeps only
    a weak reference to the callback, so this object holds the bound method alive.
    """

    def __init__(self, factory: Any, pin: int, active_low: bool = True) -> None:
        self._pin = factory.pin(pin)
        self._pin.function = "input"
        self._pin.pull = "up"
        self._pin.edges = "both"
        self._active_low = active_low
        self._callback: EdgeCallback | None = None

    @property
    def active(self) -> bool:
        return bool(self._pin.state) != self._active_low

    def on_change(self, callback: EdgeCallback | None) -> None:
        self._callback = callback
        self._pin.when_changed = self._edge if callback is not None else None

    def _edge(self, ticks: float, state: int) -> None:
        if self._callback is not None:
            self._callback(float(ticks), bool(state) != self._active_low)

    def close(self) -> None:
        self._pin.when_changed = None
        self._pin.close()


class SimulatedPin(MockPin):  # type: ignore[misc]
    """A mock pin whose edge time comes from its factory and which keeps no history
    (MockPin records every change forever, which a long-running simulation cannot afford)."""

    _state: bool
    _last_change: float

    def _change_state(self, value: bool) -> bool:
        if self._state == value:
            return False
        self._state = value
        self._last_change = self._factory.ticks()
        return True


class SimulatedFactory(MockFactory):  # type: ignore[misc]
    """MockFactory whose tick source can be pinned, so the simulation can stamp edges with
    the timing it was asked for (e.g. a 2 ms Wiegand bit interval) without busy-waiting."""

    def __init__(self) -> None:
        super().__init__(pin_class=SimulatedPin)
        self.forced_ticks: float | None = None

    def ticks(self) -> float:
        return self.forced_ticks if self.forced_ticks is not None else monotonic()

    @staticmethod
    def ticks_diff(later: float, earlier: float) -> float:
        return later - earlier


class GpioLines:
    """Output and input lines on one gpiozero pin factory (a `LineFactory`)."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> GpioOutput:
        """An output line, set to `initial` at once (so a relay starts in its safe state)."""
        return GpioOutput(self.factory, pin, active_high, initial)

    def input(self, pin: int, active_low: bool = True) -> GpioInput:
        """An input line with the pull-up on (switches wire to ground)."""
        return GpioInput(self.factory, pin, active_low)

    def close(self) -> None:
        self.factory.close()


def real_pin_factory() -> Any:
    """lgpio on a Pi (kernel edge timestamps); RuntimeError where there is no GPIO chip."""
    try:
        from gpiozero.pins.lgpio import LGPIOFactory

        return LGPIOFactory()
    except Exception as exc:  # ImportError, or no /dev/gpiochip on this machine
        raise RuntimeError(
            f"cannot open the GPIO chip through lgpio ({exc}); "
            'on a machine without GPIO use [hardware] backend = "simulated"'
        ) from exc
