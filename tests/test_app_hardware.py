"""The composition root takes its hardware whole: a real Pi's configuration runs on a fake
`Hardware` with no GPIO chip, and every line, reader and clock comes from that fake."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from gateway.actatek_records import RelaySetting, TerminalError
from gateway.app import Gateway
from gateway.config import load_settings
from gateway.settings import ReaderSettings, Settings
from gateway.storage import DB_FILE
from gateway.store.journal import EventJournal
from tests.hw.fake_hardware import FakeHardware

REPO = Path(__file__).resolve().parents[1]
FRONT_RELAY, BACK_RELAY, FRONT_REX = 17, 16, 22  # config/gateway.toml
BUTTON_SETTLE_S = 0.15  # past the 50 ms button debounce, on the real event loop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pi_settings(state_dir: Path) -> Settings:
    """config/gateway.toml (backend "gpio") with its own state dir and port, and a PC/SC
    reader added at the back door."""
    settings = load_settings(REPO / "config" / "gateway.toml")
    return dataclasses.replace(
        settings,
        device=dataclasses.replace(settings.device, state_dir=str(state_dir)),
        web=dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}"),
        readers=(*settings.readers, ReaderSettings(name="desk", kind="pcsc", door="back")),
    )


@pytest.fixture
async def pi(tmp_path: Path) -> AsyncIterator[tuple[Gateway, FakeHardware]]:
    """The Pi's configuration started on a FakeHardware."""
    hardware = FakeHardware()
    gateway = Gateway(pi_settings(tmp_path / "state"), hardware=hardware)
    await gateway.start()
    try:
        yield gateway, hardware
    finally:
        await gateway.stop()


async def test_doors_are_wired_on_the_given_hardware_and_locked_from_the_start(
    pi: tuple[Gateway, FakeHardware],
) -> None:
    gateway, hardware = pi
    # front: a strike (energised = unlocked); back: a maglock (energised = locked).
    assert (hardware.level(FRONT_RELAY), hardware.level(BACK_RELAY)) == (False, True)
    hardware.press(FRONT_REX)
    await asyncio.sleep(BUTTON_SETTLE_S)
    hardware.release(FRONT_REX)
    assert hardware.level(FRONT_RELAY) is True  # the exit button opened the front door
    assert gateway.status_board.status()["doors"]["front"]["lock"] == "unlocked"


async def test_the_daemon_reads_the_hardwares_clock(pi: tuple[Gateway, FakeHardware]) -> None:
    gateway, hardware = pi
    rows = await gateway.recorder.read_events(0, 1000)
    started = [row for row in rows if row.reason == "started"]
    times = [datetime.fromisoformat(row.time).timestamp() for row in started]
    assert times == [hardware.clock.time()]


async def test_a_reader_the_hardware_lacks_shows_offline_and_the_others_run(
    pi: tuple[Gateway, FakeHardware],
) -> None:
    gateway, _ = pi
    readers = gateway.status_board.status()["readers"]
    assert {name: reader["online"] for name, reader in readers.items()} == {
        "front-wiegand": True,
        "front-keypad": True,
        "back-exit": True,
        "desk": False,
    }
    assert readers["desk"]["offline_reason"] == "no PC/SC on the fake hardware"


async def test_no_simulation_api_without_simulated_hardware(
    pi: tuple[Gateway, FakeHardware],
) -> None:
    gateway, _ = pi
    # Real hardware serves HTTPS ([web] tls = "auto"); the certificate is not the point.
    url = f"https://{gateway.settings.web.listen}/sim/outputs"
    async with aiohttp.ClientSession() as http, http.get(url, ssl=False) as resp:
        assert resp.status == 404


async def test_stopping_locks_the_doors_and_closes_the_hardware(tmp_path: Path) -> None:
    hardware = FakeHardware()
    gateway = Gateway(pi_settings(tmp_path / "state"), hardware=hardware)
    await gateway.start()
    gateway.door_commands.pulse_door("front", "admin")
    assert hardware.level(FRONT_RELAY) is True
    await gateway.stop()
    assert hardware.level(FRONT_RELAY) is False and hardware.closed


async def test_relay_two_needs_a_wired_pin_on_real_hardware(
    pi: tuple[Gateway, FakeHardware],
) -> None:
    gateway, _ = pi
    with pytest.raises(TerminalError, match="relay TWO of door back is not wired"):
        gateway.terminal.set_relay_setting("back", RelaySetting("TWO", "access_granted", 1))
    assert gateway.doors["back"].settings.second_relay_mode == "disable"


async def test_the_device_time_is_set_on_the_hardware(pi: tuple[Gateway, FakeHardware]) -> None:
    gateway, hardware = pi
    await gateway.terminal.system_time.set_time(1_900_000_000)
    assert hardware.time_setter.set_to == [1_900_000_000]


def journal_of(settings: Settings) -> list[tuple[str | None, str, str]]:
    """(door, reason, trace) of every journaled event, read from the database file."""
    journal = EventJournal(Path(settings.device.state_dir) / DB_FILE, ZoneInfo("UTC"), 1000)
    try:
        return [(row.door, row.reason, row.trace) for row in journal.read(0, 1000)]
    finally:
        journal.close()


async def test_a_start_that_fails_half_way_locks_the_doors_and_closes_what_it_built(
    tmp_path: Path,
) -> None:
    """The web port is taken: nothing of the failed start may keep running, and the
    journal says what happened."""
    hardware = FakeHardware()
    settings = pi_settings(tmp_path / "state")
    host, port = settings.web.listen.rsplit(":", 1)
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        with pytest.raises(OSError):
            await Gateway(settings, hardware=hardware).start()
    hardware.press(FRONT_REX)
    await asyncio.sleep(BUTTON_SETTLE_S)
    assert hardware.level(FRONT_RELAY) is False  # stopped locked: the button opens nothing
    assert hardware.closed
    assert asyncio.all_tasks() == {asyncio.current_task()}
    journal = journal_of(settings)
    assert ("front", "locked", "startup") in journal
    assert journal[-1] == (None, "stopping", "")
    assert "started" not in [reason for _, reason, _ in journal]


class Keys:
    """A key matrix whose lines are gone by the time the daemon stops."""

    rows, cols = 4, 3

    def scan(self) -> set[tuple[int, int]]:
        return set()

    def wait_for_press(self, wake: Callable[[], None]) -> bool:
        return False

    def close(self) -> None:
        raise RuntimeError("keypad lines already released")


class HardwareWithBrokenKeypad(FakeHardware):
    def key_matrix(self, settings: ReaderSettings) -> Keys:
        return Keys()


async def test_a_close_that_fails_skips_no_later_step_of_the_stop(tmp_path: Path) -> None:
    hardware = HardwareWithBrokenKeypad()
    settings = pi_settings(tmp_path / "state")
    keypad = ReaderSettings(
        name="desk-keys", kind="matrix_keypad", door="back", row_pins=(6, 7, 8, 9),
        col_pins=(10, 11, 12),
    )  # fmt: skip
    settings = dataclasses.replace(settings, readers=(*settings.readers, keypad))
    gateway = Gateway(settings, hardware=hardware)
    await gateway.start()
    gateway.door_commands.pulse_door("front", "admin")
    with pytest.raises(RuntimeError, match="keypad lines already released"):
        await gateway.stop()
    assert hardware.level(FRONT_RELAY) is False and hardware.closed
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert journal_of(settings)[-1] == (None, "stopping", "")
