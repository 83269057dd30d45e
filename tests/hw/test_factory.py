"""The `Hardware` factories: a Pi and the simulation give the same drivers; each family
(lines, key matrix, serial, NFC, PC/SC, system time) comes from the hardware chosen."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from gateway.clock import SteppableClock, SystemClock
from gateway.config import load_settings
from gateway.device_time import NtpSetting
from gateway.hw.factory import BACKENDS, Hardware, PiHardware, SimulatedHardware
from gateway.hw.gpio import SimulatedFactory
from gateway.hw.reader_base import NotSimulated
from gateway.hw.readers import CONSTRUCTORS, ReaderContext, ReaderDriver, build_reader
from gateway.model import Credential
from gateway.settings import HardwareBackend, ReaderKind, ReaderSettings
from gateway.timeset import SimulatedTime, TimedatectlTime
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[2]
SIMULATED_READERS = load_settings(REPO / "config" / "simulate.toml").readers


class Sink:
    """A ReaderSink that keeps what it was given."""

    def __init__(self) -> None:
        self.credentials: list[Credential] = []
        self.keys: list[tuple[str, float]] = []

    def credential(self, credential: Credential) -> None:
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        self.keys.append((key, timestamp))


class MemoryStore:
    """The key/value store the simulated system time keeps its offset in."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def put(self, key: str, value: Any) -> None:
        self.values[key] = value


def pi_with_mock_pins() -> PiHardware:
    """A Pi whose GPIO chip is gpiozero's mock (no lgpio here); every other family real."""
    return PiHardware(pin_factory=SimulatedFactory)


def on_a_pi(settings: ReaderSettings) -> ReaderSettings:
    """What a Pi's file says for the same reader: a device for NFC, a /dev port for serial."""
    if settings.kind == "nfc":
        return ReaderSettings(settings.name, "nfc", settings.door, device="usb")
    return settings


def build_all(
    hardware: Hardware, readers: tuple[ReaderSettings, ...], state_dir: Path | None = None
) -> list[ReaderDriver]:
    loop, events = asyncio.get_running_loop(), []
    context = ReaderContext(hardware, loop, Sink(), ManualClock(), (), events.append, state_dir)
    return [build_reader(settings, context) for settings in readers]


# -- a drop-in -------------------------------------------------------------------------


def test_every_reader_kind_has_a_constructor() -> None:
    assert set(CONSTRUCTORS) == set(get_args(ReaderKind))


def test_every_backend_has_a_hardware() -> None:
    assert set(BACKENDS) == set(get_args(HardwareBackend))
    assert isinstance(BACKENDS["simulated"](), SimulatedHardware)
    assert isinstance(BACKENDS["gpio"](), PiHardware)  # opens nothing until a line is asked


async def test_a_pi_and_the_simulation_build_the_same_driver_for_every_reader(
    tmp_path: Path,
) -> None:
    simulated, pi = SimulatedHardware(), pi_with_mock_pins()
    on_sim = build_all(simulated, SIMULATED_READERS, tmp_path)
    on_pi = build_all(pi, tuple(on_a_pi(r) for r in SIMULATED_READERS), tmp_path)
    try:
        assert [type(d).__name__ for d in on_sim] == [type(d).__name__ for d in on_pi]
        assert "UnavailableReader" not in [type(d).__name__ for d in on_sim]
    finally:
        for driver in (*on_sim, *on_pi):
            driver.close()
        simulated.close()
        pi.close()


async def test_a_pi_without_an_nfc_device_shows_the_reader_offline() -> None:
    pi = pi_with_mock_pins()
    (reader,) = build_all(pi, (ReaderSettings("desk", "nfc", "back"),))
    status = reader.status()
    assert (status["online"], status["offline_reason"]) == (False, "device not configured")


def test_a_pi_opens_its_gpio_chip_at_the_first_line_not_before() -> None:
    def no_chip() -> Any:
        raise RuntimeError("cannot open the GPIO chip through lgpio (no /dev/gpiochip0)")

    pi = PiHardware(pin_factory=no_chip)
    assert isinstance(pi.clock, SystemClock)
    with pytest.raises(RuntimeError, match="cannot open the GPIO chip"):
        pi.output(17)
    pi.close()


# -- lines -------------------------------------------------------------------------------


def test_simulated_inputs_start_at_rest() -> None:
    hardware = SimulatedHardware()
    contact = hardware.input(27, active_low=False)  # NC contact to ground: low = shut
    rex = hardware.input(22)  # NO button to ground: high = not pressed
    assert (hardware.level(27), contact.active) == (False, False)
    assert (hardware.level(22), rex.active) == (True, False)
    hardware.drive(22, False)
    assert rex.active
    hardware.close()


def test_only_the_simulation_has_lines_without_a_pin() -> None:
    pi, simulated = pi_with_mock_pins(), SimulatedHardware()
    assert (pi.has_line(8), pi.has_line(None)) == (True, False)
    assert (simulated.has_line(8), simulated.has_line(None)) == (True, True)


def test_outputs_start_at_their_initial_level_on_both() -> None:
    for hardware in (pi_with_mock_pins(), SimulatedHardware()):
        relay = hardware.output(17, active_high=False, initial=True)
        assert relay.active
        relay.set(False)
        assert not relay.active
        hardware.close()


# -- system time -------------------------------------------------------------------------


def test_each_hardware_has_its_own_system_clock() -> None:
    assert isinstance(SimulatedHardware().clock, SteppableClock)
    assert isinstance(pi_with_mock_pins().clock, SystemClock)
    store, clock = MemoryStore(), ManualClock()
    assert isinstance(pi_with_mock_pins().system_time(clock, store), TimedatectlTime)
    assert isinstance(SimulatedHardware().system_time(clock, store), SimulatedTime)


async def test_the_simulated_device_time_moves_only_what_the_api_shows() -> None:
    store, clock = MemoryStore(), ManualClock()
    system = SimulatedHardware().system_time(clock, store)
    await system.set_ntp(NtpSetting(("pool.example",), False))
    await system.set_time(clock.time() + 600)
    assert await system.now() == clock.time() + 600
    assert clock.time() == ManualClock().time()  # the daemon's own clock did not move


# -- simulated readers: the simulation API's way in --------------------------------------


@pytest.fixture
async def simulated() -> AsyncIterator[tuple[SimulatedHardware, Sink, ManualClock]]:
    hardware, sink, clock = SimulatedHardware(), Sink(), ManualClock()
    context = ReaderContext(hardware, asyncio.get_running_loop(), sink, clock)
    drivers = [build_reader(settings, context) for settings in SIMULATED_READERS]
    for driver in drivers:
        driver.start()
    yield hardware, sink, clock
    for driver in drivers:
        driver.close()
    hardware.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("reader", ["back-nfc", "back-exit"])
async def test_a_simulated_card_reaches_the_real_driver_on_the_given_clock(
    simulated: tuple[SimulatedHardware, Sink, ManualClock], reader: str
) -> None:
    hardware, sink, clock = simulated
    clock.step_wall(-86400)  # a day back: the host's clock is not the daemon's
    sim = hardware.reader_input(reader)
    assert sim is not None
    await sim.card("04:a1:b2:c3")
    await until(lambda: len(sink.credentials) == 1, "a credential")
    (credential,) = sink.credentials
    assert (credential.reader, credential.value) == (reader, "04A1B2C3")
    assert credential.timestamp == clock.time()


async def test_simulated_serial_readers_take_cards_and_codes_through_a_real_pty() -> None:
    hardware, sink, clock = SimulatedHardware(), Sink(), ManualClock()
    context = ReaderContext(hardware, asyncio.get_running_loop(), sink, clock)
    readers = {
        name: build_reader(ReaderSettings(name, "serial", "front", port="sim", **extra), context)
        for name, extra in (
            ("rfid", {"protocol": "rdm6300", "card_bytes": 4}),
            ("usb", {"protocol": "line", "credential_kind": "card"}),
            ("qr", {"protocol": "line", "credential_kind": "qr"}),
        )
    }
    inputs = {name: hardware.reader_input(name) for name in readers}
    try:
        for reader in readers.values():
            reader.start()
        await until(lambda: all(r.status()["online"] for r in readers.values()), "the ptys")
        rfid, usb, qr = inputs["rfid"], inputs["usb"], inputs["qr"]
        assert rfid is not None and usb is not None and qr is not None
        await rfid.card("04:a1:b2:c3")
        await usb.card("04A1B2C3")  # printed in decimal, read back as the same UID
        await qr.text("ticket-7")
        with pytest.raises(NotSimulated, match="scans qr codes"):
            await qr.card("04A1B2C3")
        with pytest.raises(NotSimulated, match="does not scan codes"):
            await usb.text("ticket-7")
        await until(lambda: len(sink.credentials) == 3, "3 credentials")
        found = sorted((c.reader, c.value, c.timestamp) for c in sink.credentials)
        assert found == [
            ("qr", "ticket-7", clock.time()),
            ("rfid", "04A1B2C3", clock.time()),
            ("usb", "04A1B2C3", clock.time()),
        ]
        status = readers["qr"].status()
        assert (status["backend"], status["port"]) == ("simulated", "sim")
    finally:
        for reader in readers.values():
            reader.close()
        hardware.close()


async def test_simulated_matrix_keys_are_stamped_with_the_given_clock(
    simulated: tuple[SimulatedHardware, Sink, ManualClock],
) -> None:
    hardware, sink, clock = simulated
    sim = hardware.reader_input("front-exit-keypad")
    assert sim is not None
    await sim.keys("12#")
    assert sink.keys == [("1", clock.time()), ("2", clock.time()), ("#", clock.time())]
    with pytest.raises(NotSimulated):
        await sim.card("04A1B2C3")


def test_wiegand_readers_are_driven_by_their_pins_not_by_an_input() -> None:
    hardware = SimulatedHardware()
    assert hardware.reader_input("front-wiegand") is None


async def test_closing_the_simulated_hardware_unplugs_its_serial_devices() -> None:
    hardware = SimulatedHardware()
    (qr,) = [r for r in SIMULATED_READERS if r.kind == "serial"]
    link = hardware.serial_port(qr)
    assert link.backend == "simulated" and os.path.exists(link.path)
    hardware.close()
    assert not os.path.lexists(link.path) and not os.path.exists(os.path.dirname(link.path))


def test_a_serial_reader_on_a_real_port_stays_real_in_simulation() -> None:
    hardware = SimulatedHardware()
    usb = ReaderSettings("usb", "serial", "front", port="/dev/ttyUSB0")
    link = hardware.serial_port(usb)
    assert (link.path, link.backend) == ("/dev/ttyUSB0", "pyserial")
    assert hardware.reader_input("usb") is None
