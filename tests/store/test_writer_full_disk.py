"""A full disk loses nothing silently: events wait in memory, then are written, or their
loss is journaled as a gap with a count; the fault shows in the writer's status."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal
from gateway.store.writer import JournalWriter
from tests.fakes import ManualClock
from tests.store.disk import SmallDisk, small_disk

UTC = ZoneInfo("UTC")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def door_event(clock: ManualClock, n: int) -> Event:
    clock.advance(0.01)
    return Event("door", clock.time(), door="front", reason=f"event-{n}", trace="x" * 200)


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def reasons(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r for (r,) in conn.execute("SELECT reason FROM events ORDER BY seq")]
    finally:
        conn.close()


async def test_events_wait_for_space_and_are_written_in_order(disk: SmallDisk) -> None:
    clock = ManualClock()
    journal = EventJournal(disk.path / "gateway.db", UTC, max_events=100_000)
    writer = JournalWriter(journal, clock, max_queued=1000, retry_s=0.05)
    try:
        await writer.submit(door_event(clock, 0))
        disk.fill()
        futures = [writer.submit(door_event(clock, n)) for n in range(1, 301)]
        await wait_until(lambda: writer.fault is not None)
        status = writer.status()
        assert "no space left on" in status["fault"] and "free space" in status["fault"]
        assert status["queued"] > 0 and not all(f.done() for f in futures)

        disk.free()
        seqs = await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert seqs == list(range(seqs[0], seqs[0] + 300))
        assert writer.status()["fault"] is None and writer.status()["queued"] == 0
        assert writer.lost == 0
    finally:
        await writer.close()
        journal.close()
    assert reasons(disk.path / "gateway.db") == [f"event-{n}" for n in range(301)]


async def test_a_full_queue_is_journaled_as_a_gap_with_its_count(disk: SmallDisk) -> None:
    clock = ManualClock()
    journal = EventJournal(disk.path / "gateway.db", UTC, max_events=100_000)
    writer = JournalWriter(journal, clock, max_queued=300, retry_s=0.05)
    try:
        await writer.submit(door_event(clock, 0))
        disk.fill()
        for n in range(1, 601):
            writer.submit(door_event(clock, n))
        await wait_until(lambda: writer.fault is not None)
        assert writer.status()["lost"] > 0
        lost = writer.lost
        kept = 600 - lost

        disk.free()
        await wait_until(lambda: writer.status()["queued"] == 0 and writer.fault is None)
        await writer.submit(door_event(clock, 601))
    finally:
        await writer.close()
        journal.close()
    rows = reasons(disk.path / "gateway.db")
    assert rows[: kept + 1] == [f"event-{n}" for n in range(kept + 1)]
    assert rows[kept + 1] == "journal_gap"
    assert rows[kept + 2 :] == ["event-601"]
    conn = sqlite3.connect(disk.path / "gateway.db")
    trace = conn.execute("SELECT trace FROM events WHERE reason = 'journal_gap'").fetchone()[0]
    conn.close()
    assert trace.startswith(f"{lost} events lost while the journal could not be written")


async def test_times_never_go_backwards_and_a_clock_step_is_journaled(tmp_path: Path) -> None:
    clock = ManualClock()
    journal = EventJournal(tmp_path / "gateway.db", UTC, max_events=1000)
    writer = JournalWriter(journal, clock)
    start = clock.time()
    try:
        writer.submit(Event("door", start + 1.0, reason="unlocked"))
        writer.submit(Event("access", start + 0.5, reason="granted"))  # stamped earlier
        writer.submit(Event("door", start - 3600.0, reason="locked"))  # the clock was set
        await writer.flush()
        rows = journal.read(0, 10)
    finally:
        await writer.close()
        journal.close()
    assert [r.reason for r in rows] == ["unlocked", "granted", "clock_stepped", "locked"]
    assert rows[0].time == rows[1].time
    assert "stepped back 3601.0 s" in rows[2].trace


def test_a_full_disk_at_start_up_is_named_as_such(disk: SmallDisk) -> None:
    journal = EventJournal(disk.path / "gateway.db", UTC, max_events=1000)
    journal.close()
    (disk.path / "other.db").touch()
    disk.fill()
    with pytest.raises(StoreError) as info:
        EventJournal(disk.path / "fresh.db", UTC, max_events=1000)
    message = str(info.value)
    assert f"no space left on {disk.path}" in message and "free space, then restart" in message
    assert "move" not in message and "backup" not in message


async def test_the_write_ahead_log_stays_bounded(tmp_path: Path) -> None:
    """A reader that held its snapshot for a while let the log grow; once it lets go,
    the next checkpoint gives the space back."""
    clock = ManualClock()
    journal = EventJournal(tmp_path / "gateway.db", UTC, max_events=100_000)
    writer = JournalWriter(journal, clock)
    reader = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM events").fetchone()
        for n in range(3000):
            await writer.submit(door_event(clock, n))  # one commit each: the log grows
        grown = journal.wal_bytes()
        assert grown > 8 * 1024 * 1024
        reader.execute("COMMIT")
        for n in range(3000, 4100):
            await writer.submit(door_event(clock, n))
        assert journal.wal_bytes() <= 4 * 1024 * 1024
        assert writer.status()["wal_bytes"] == journal.wal_bytes()
    finally:
        reader.close()
        await writer.close()
        journal.close()
