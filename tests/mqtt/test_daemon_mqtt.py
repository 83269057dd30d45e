"""The real daemon and a real mosquitto: its last will says "offline" when it is killed,
and after a `kill -9` every event still arrives (those the broker had not acknowledged
come again: the subscriber drops them by seq)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from benchmarks.mosquitto import Mosquitto
from gateway.store.journal import EventJournal
from tests.actatek.terminal_sim import ADA_BITS
from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.mqtt.checker import EventChecker, retained

DEVICE = "sim-gateway"
AVAILABILITY = f"door-gateway/{DEVICE}/availability"


def config(tmp_path: Path, broker: Mosquitto) -> Path:
    path = tmp_path / "mqtt.toml"
    mqtt = f'[mqtt]\nurl = "{broker.url}"\nretry_initial_s = 0.2\nretry_max_s = 1\n'
    path.write_text(SIMULATE.read_text() + "\n" + mqtt)
    return path


async def cards(daemon: Daemon, count: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        for _ in range(count):
            body = {"reader": "front-wiegand", "bits": ADA_BITS}
            async with http.post(f"{daemon.base_url}/sim/wiegand", json=body) as resp:
                assert resp.status == 200


async def availability(broker: Mosquitto, wanted: bytes, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while (await retained(broker, AVAILABILITY)).get(AVAILABILITY) != wanted:
            await asyncio.sleep(0.2)


def journal_seqs(state_dir: Path) -> tuple[int, int]:
    """The seq of the first `started` event, and the last seq."""
    journal = EventJournal(state_dir / "gateway.db", ZoneInfo("UTC"), 100_000)
    try:
        events = journal.read(0, 10_000)
        first_start = next(e.seq for e in events if e.reason == "started")
        return first_start, journal.last_seq()
    finally:
        journal.close()


async def test_killed_daemon_goes_offline_and_loses_no_event(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    mosquitto.start()
    checker = EventChecker(mosquitto)
    await checker.subscribe_once()
    state = tmp_path / "state"
    path = config(tmp_path, mosquitto)

    daemon = start_daemon(state, path)
    try:
        await availability(mosquitto, b"online")
        await cards(daemon, 10)
    finally:
        daemon.stop(signal.SIGKILL)
    await availability(mosquitto, b"offline")  # the broker sent the last will

    daemon = start_daemon(state, path)
    try:
        await availability(mosquitto, b"online")
        await cards(daemon, 5)
        await asyncio.sleep(1.0)
    finally:
        assert daemon.stop() == 0
    await availability(mosquitto, b"offline")  # a clean stop says goodbye itself

    first, last = journal_seqs(state)
    wanted = {(DEVICE, seq) for seq in range(first, last + 1)}
    await checker.collect(wanted, timeout=20)
    assert wanted <= set(checker.seqs), sorted(wanted - set(checker.seqs))
    granted = [p for p in checker.payloads.values() if p["reason"] == "granted"]
    assert len(granted) == 15
