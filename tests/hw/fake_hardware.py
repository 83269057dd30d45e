"""A `Hardware` written for tests, with verbs: lines in memory, `press`/`release` on an
input, `level` of an output; no reader device but GPIO ones; the system time recorded.

It shares no code with the simulated hardware, so a daemon that runs on it depends on
the `Hardware` protocol alone.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.clock import Clock
from gateway.device_time import NtpSetting
from gateway.hw.keypad import KeyMatrix
from gateway.hw.lines import EdgeCallback
from gateway.hw.nfc import NfcFrontend
from gateway.hw.pcsc import PcscBackend
from gateway.hw.reader_base import ReaderUnavailable
from gateway.hw.serial_rfid import SerialLink
from gateway.settings import ReaderSettings
from gateway.timeset import SettingsStore
from tests.fakes import ManualClock


class FakeOutput:
    """An output that remembers its electrical level."""

    def __init__(self, active_high: bool, initial: bool) -> None:
        self._active_high = active_high
        self.active = initial
        self.closed = False

    @property
    def level(self) -> bool:
        return self.active == self._active_high

    def set(self, active: bool) -> None:
        self.active = active

    def close(self) -> None:
        self.closed = True


class FakeInput:
    """An input whose switch a test closes and opens."""

    def __init__(self, active_low: bool) -> None:
        self.active_low = active_low
        self.active = False
        self._callback: EdgeCallback | None = None

    def on_change(self, callback: EdgeCallback | None) -> None:
        self._callback = callback

    def switch(self, active: bool, timestamp: float) -> None:
        self.active = active
        if self._callback is not None:
            self._callback(timestamp, active)

    def close(self) -> None:
        self._callback = None


class FakeSystemTime:
    """The device clock's setter, recording what it was asked."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.set_to: list[float] = []

    async def now(self) -> float:
        return self.clock.time()

    async def set_time(self, epoch: float) -> None:
        self.set_to.append(epoch)

    async def ntp(self) -> NtpSetting:
        return NtpSetting((), False)

    async def set_ntp(self, setting: NtpSetting) -> None:
        return None


class FakeHardware:
    """GPIO lines in memory and a manual clock; serial, NFC, PC/SC and matrix keypads are
    not fitted (their readers show offline)."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.outputs: dict[int, FakeOutput] = {}
        self.inputs: dict[int, FakeInput] = {}
        self.time_setter = FakeSystemTime(self.clock)
        self.closed = False

    # -- verbs ------------------------------------------------------------------------

    def level(self, pin: int) -> bool:
        """The electrical level of an output pin."""
        return self.outputs[pin].level

    def press(self, pin: int) -> None:
        """Close the switch on an input pin."""
        self.inputs[pin].switch(True, self.clock.monotonic())

    def release(self, pin: int) -> None:
        self.inputs[pin].switch(False, self.clock.monotonic())

    # -- Hardware ---------------------------------------------------------------------

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> FakeOutput:
        self.outputs[pin] = FakeOutput(active_high, initial)
        return self.outputs[pin]

    def input(self, pin: int, active_low: bool = True) -> FakeInput:
        self.inputs[pin] = FakeInput(active_low)
        return self.inputs[pin]

    def has_line(self, pin: int | None) -> bool:
        return pin is not None

    def key_matrix(self, settings: ReaderSettings) -> KeyMatrix:
        raise ReaderUnavailable("no keypad on the fake hardware")

    def serial_port(self, settings: ReaderSettings) -> SerialLink:
        raise ReaderUnavailable("no serial port on the fake hardware")

    def nfc_frontends(self, settings: ReaderSettings) -> Callable[[], NfcFrontend]:
        raise ReaderUnavailable("no NFC frontend on the fake hardware")

    def pcsc(self, settings: ReaderSettings) -> PcscBackend:
        raise ReaderUnavailable("no PC/SC on the fake hardware")

    def system_time(self, clock: Clock, store: SettingsStore) -> FakeSystemTime:
        return self.time_setter

    def close(self) -> None:
        self.closed = True
