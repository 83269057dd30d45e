"""`Hardware`: every way the daemon reaches outside its process, one family per method,
chosen once by the composition root (`BACKENDS[settings.hardware.backend]`).

gpiozero's pin factories are the model, widened to every family: drivers never ask
which hardware they run on, they ask the hardware they were given for a line, a key
matrix, a serial port, an NFC frontend, a PC/SC backend or the system time. The
simulation is just another factory: `SimulatedHardware` hands out mock pins, a
pseudo-terminal, in-memory NFC and PC/SC devices and a steppable clock, and keeps the
verbs (`drive`, `reader_input`) the simulation API and tests use to play them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from gateway.clock import Clock, SteppableClock, SystemClock
from gateway.device_time import SystemTime
from gateway.hw.gpio import GpioInput, GpioLines, GpioOutput, SimulatedFactory, real_pin_factory
from gateway.hw.keypad import GpioKeyMatrix, KeyMatrix, SimulatedKeyMatrix
from gateway.hw.lines import LineFactory
from gateway.hw.nfc import NfcFrontend, NfcpyFrontend
from gateway.hw.nfc_sim import SimulatedNfcFrontend
from gateway.hw.osdp_reader import OsdpBusLink
from gateway.hw.pcsc import PcscBackend, PyscardBackend
from gateway.hw.pcsc_sim import SimulatedPcscBackend
from gateway.hw.reader_base import ReaderUnavailable
from gateway.hw.serial_rfid import SerialLink
from gateway.hw.serial_sim import PtySerialDevice
from gateway.hw.sim_drivers import (
    KeypadInput,
    NfcInput,
    PcscInput,
    SerialInput,
    SimulatedInput,
)
from gateway.settings import HardwareBackend, ReaderSettings
from gateway.timeset import SettingsStore, SimulatedTime, TimedatectlTime

SIMULATED_SERIAL_PORTS = ("", "sim")  # a serial reader's `port` that means the pty device
SIMULATED_KEYPAD_ROWS = 4  # an unwired matrix keypad in the simulation file


class Hardware(LineFactory, Protocol):
    """The outside world of one gateway: lines by pin (`output`, `input`), the devices
    of each reader family, and the system clock."""

    @property
    def clock(self) -> Clock:
        """The system clock the daemon reads (wall for the calendar, monotonic for durations)."""
        ...

    def has_line(self, pin: int | None) -> bool:
        """Whether an output on `pin` exists, so a function may be switched on for it."""
        ...

    def key_matrix(self, settings: ReaderSettings) -> KeyMatrix:
        """The switches of a matrix keypad."""
        ...

    def serial_port(self, settings: ReaderSettings) -> SerialLink:
        """The device a serial reader opens."""
        ...

    def nfc_frontends(self, settings: ReaderSettings) -> Callable[[], NfcFrontend]:
        """Makes the NFC frontend a reader opens (again after each failure)."""
        ...

    def pcsc(self, settings: ReaderSettings) -> PcscBackend:
        """The PC/SC service a reader polls."""
        ...

    def osdp_bus(self, settings: ReaderSettings) -> OsdpBusLink:
        """The OSDP control panel of the reader's port (one per port, shared by its PDs)."""
        ...

    def system_time(self, clock: Clock, store: SettingsStore) -> SystemTime:
        """Setting the device's time and NTP (the ACTAtek time functions)."""
        ...

    def close(self) -> None:
        """Release every line and device (after the readers and doors have closed)."""
        ...


class PiHardware:
    """A Raspberry Pi: lgpio pins, pyserial ports, nfcpy frontends, pcscd through pyscard,
    the system clock set through timedatectl.

    The GPIO chip is opened at the first line asked for, not when this is built, so a
    machine without one fails where the first door is wired. `pin_factory` makes the
    gpiozero pin factory (lgpio by default; a mock one in tests).
    """

    def __init__(self, pin_factory: Callable[[], Any] = real_pin_factory) -> None:
        self.clock: Clock = SystemClock()
        self._open_pins = pin_factory
        self._lines: GpioLines | None = None
        self._osdp_buses: dict[str, Any] = {}

    def _gpio(self) -> GpioLines:
        if self._lines is None:
            self._lines = GpioLines(self._open_pins())
        return self._lines

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> GpioOutput:
        return self._gpio().output(pin, active_high, initial)

    def input(self, pin: int, active_low: bool = True) -> GpioInput:
        return self._gpio().input(pin, active_low)

    def has_line(self, pin: int | None) -> bool:
        """Only a configured pin is wired."""
        return pin is not None

    def key_matrix(self, settings: ReaderSettings) -> KeyMatrix:
        return GpioKeyMatrix(self, settings.row_pins, settings.col_pins)

    def serial_port(self, settings: ReaderSettings) -> SerialLink:
        return SerialLink(settings.port)

    def nfc_frontends(self, settings: ReaderSettings) -> Callable[[], NfcFrontend]:
        if not settings.device:
            raise ReaderUnavailable("device not configured")
        return NfcpyFrontend

    def pcsc(self, settings: ReaderSettings) -> PcscBackend:
        return PyscardBackend()

    def osdp_bus(self, settings: ReaderSettings) -> OsdpBusLink:
        bus = self._osdp_buses.get(settings.port)
        if bus is None:
            bus = osdp_bus_module().OsdpBus(settings.port, settings.baudrate)
            self._osdp_buses[settings.port] = bus
        link: OsdpBusLink = bus
        return link

    def system_time(self, clock: Clock, store: SettingsStore) -> SystemTime:
        return TimedatectlTime(clock)

    def close(self) -> None:
        for bus in self._osdp_buses.values():
            bus.close()
        self._osdp_buses.clear()
        if self._lines is not None:
            self._lines.close()


class SimulatedHardware:
    """Everything in memory or on a pseudo-terminal, under the real drivers.

    Inputs start at rest (door shut, nothing pressed). A line with no pin still exists
    (its logical state only), so every function can be tried without wiring. Verbs:
    `drive`/`drive_at` set an input pin's level, `level` reads a pin, `changed_at` says
    when it last changed, `reader_input(name)` gives what the simulation API can do to a
    reader built on this hardware.
    """

    def __init__(self) -> None:
        self.clock: SteppableClock = SteppableClock()
        self._pins = SimulatedFactory()
        self._lines = GpioLines(self._pins)
        self._inputs: dict[str, SimulatedInput] = {}
        self._serial_devices: list[PtySerialDevice] = []
        self._osdp_buses: dict[str, Any] = {}

    # -- verbs ---------------------------------------------------------------------------

    def drive(self, pin: int, level: bool) -> None:
        """Set an input pin's electrical level; edge callbacks run at once."""
        mock_pin = self._pins.pin(pin)
        if level:
            mock_pin.drive_high()
        else:
            mock_pin.drive_low()

    def drive_at(self, pin: int, level: bool, ticks: float) -> None:
        """Like `drive`, with the edge stamped at `ticks` (monotonic seconds)."""
        self._pins.forced_ticks = ticks
        try:
            self.drive(pin, level)
        finally:
            self._pins.forced_ticks = None

    def level(self, pin: int) -> bool:
        """A pin's electrical level."""
        return bool(self._pins.pin(pin).state)

    def changed_at(self, pin: int) -> float:
        """When a pin last changed level (monotonic seconds): how a benchmark times a relay."""
        return float(self._pins.pin(pin)._last_change)

    def reader_input(self, name: str) -> SimulatedInput | None:
        """The simulation's way into reader `name`; None for readers driven by their pins
        (Wiegand) or by a real device."""
        return self._inputs.get(name)

    # -- Hardware ------------------------------------------------------------------------

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> GpioOutput:
        return self._lines.output(pin, active_high, initial)

    def input(self, pin: int, active_low: bool = True) -> GpioInput:
        line = self._lines.input(pin, active_low)
        self.drive(pin, active_low)  # at rest: the inactive level
        return line

    def has_line(self, pin: int | None) -> bool:
        """Every line exists: an unwired one keeps its logical state for the status page."""
        return True

    def key_matrix(self, settings: ReaderSettings) -> KeyMatrix:
        # Pins are optional in the simulation file: a 4-row keypad of the keymap's size.
        rows = len(settings.row_pins) or SIMULATED_KEYPAD_ROWS
        cols = len(settings.col_pins) or len(settings.keymap) // rows
        matrix = SimulatedKeyMatrix(rows, cols)
        self._inputs[settings.name] = KeypadInput(settings, matrix)
        return matrix

    def serial_port(self, settings: ReaderSettings) -> SerialLink:
        if settings.port not in SIMULATED_SERIAL_PORTS:
            return SerialLink(settings.port)  # a real device plugged into the simulating host
        device = PtySerialDevice()
        self._serial_devices.append(device)
        self._inputs[settings.name] = SerialInput(settings, device)
        return SerialLink(device.port_path, "simulated")

    def nfc_frontends(self, settings: ReaderSettings) -> Callable[[], NfcFrontend]:
        frontend = SimulatedNfcFrontend()
        self._inputs[settings.name] = NfcInput(settings.name, frontend)
        # One frontend for every reopen, so /sim/card reaches whichever is open.
        return lambda: frontend

    def pcsc(self, settings: ReaderSettings) -> PcscBackend:
        backend = SimulatedPcscBackend()
        self._inputs[settings.name] = PcscInput(settings, backend)
        return backend

    def osdp_bus(self, settings: ReaderSettings) -> OsdpBusLink:
        """A simulated PD on a pty of its own for `port = "sim"`; a real port otherwise."""
        module = osdp_bus_module()
        key = settings.port if settings.port not in SIMULATED_SERIAL_PORTS else settings.name
        bus = self._osdp_buses.get(key)
        if bus is None:
            if settings.port not in SIMULATED_SERIAL_PORTS:
                bus = module.OsdpBus(settings.port, settings.baudrate)
            else:
                # libosdp is there (osdp_bus_module() said so): the simulated PD is too
                osdp_sim = importlib.import_module("gateway.hw.osdp_sim")
                bus = osdp_sim.SimulatedOsdpBus(settings)
                self._inputs[settings.name] = osdp_sim.OsdpInput(settings, bus)
            self._osdp_buses[key] = bus
        link: OsdpBusLink = bus
        return link

    def system_time(self, clock: Clock, store: SettingsStore) -> SystemTime:
        return SimulatedTime(clock, store)

    def close(self) -> None:
        for device in self._serial_devices:
            device.close()
        self._serial_devices.clear()
        for bus in self._osdp_buses.values():
            bus.close()
        self._osdp_buses.clear()
        self._lines.close()


def osdp_bus_module() -> Any:
    """gateway.hw.osdp_bus, imported only when an OSDP reader is configured: where libosdp
    has no wheel for the machine, that reader shows offline with the reason and the rest
    of the gateway runs (docs/packaging.md)."""
    try:
        return importlib.import_module("gateway.hw.osdp_bus")
    except ImportError as exc:
        raise ReaderUnavailable(
            f"OSDP readers need libosdp (PyPI `libosdp`), which is not installed for this "
            f"system ({exc}); see docs/packaging.md"
        ) from None


BACKENDS: Mapping[HardwareBackend, Callable[[], Hardware]] = {
    "gpio": PiHardware,
    "simulated": SimulatedHardware,
}
