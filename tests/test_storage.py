"""Opening what the daemon keeps, without the daemon: the events the doors made before the
store opened and the ones made just before a stop are all journaled; a damaged database
stops the open and leaves nothing running."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.config import load_settings
from gateway.model import Event
from gateway.recorder import Recorder
from gateway.settings import Settings
from gateway.storage import DB_FILE, open_storage
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[1]
UTC = ZoneInfo("UTC")


def settings_in(state_dir: Path) -> Settings:
    settings = load_settings(REPO / "config" / "gateway.toml")
    device = dataclasses.replace(settings.device, state_dir=str(state_dir))
    return dataclasses.replace(settings, device=device)


def journaled(state_dir: Path) -> list[tuple[str | None, str]]:
    journal = EventJournal(state_dir / DB_FILE, UTC, 1000)
    try:
        return [(row.door, row.reason) for row in journal.read(0, 1000)]
    finally:
        journal.close()


async def test_events_from_before_the_open_to_the_stop_are_all_journaled(tmp_path: Path) -> None:
    clock, state_dir = ManualClock(), tmp_path / "state"
    recorder = Recorder(clock)
    recorder.emit(Event("door", clock.time(), door="front", reason="locked", trace="startup"))
    async with AsyncExitStack() as stack:
        storage = open_storage(settings_in(state_dir), clock, UTC, recorder, stack)
        storage.stores.users.list_users()  # the stores are open
        recorder.emit(Event("system", clock.time(), reason="stopping"))  # not flushed
    assert journaled(state_dir) == [("front", "locked"), (None, "stopping")]
    assert asyncio.all_tasks() == {asyncio.current_task()}  # the forwarder is not left running


async def test_a_damaged_database_stops_the_open_and_keeps_the_device_key(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    (state_dir / DB_FILE).write_bytes(b"this is not a database" * 100)
    (state_dir / DB_FILE).chmod(0o600)
    recorder = Recorder(ManualClock())
    async with AsyncExitStack() as stack:
        with pytest.raises(StoreError, match=r"gateway\.db"):
            open_storage(settings_in(state_dir), ManualClock(), UTC, recorder, stack)
    key = (state_dir / "device.key").read_bytes()
    assert len(key) == 32  # kept for the repaired database's PIN hashes
