"""Group commit: events that arrive together are written in one transaction and one sync,
the door never waits for the disk, and "written" is only ever said of what is durable."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal
from gateway.store.writer import MAX_BATCH, JournalWriter
from tests.fakes import ManualClock

UTC = ZoneInfo("UTC")


class SlowDisk(EventJournal):
    """A real journal whose writes wait until the test lets them through, and which
    remembers how many events each transaction held."""

    def __init__(self, db: Path, clock: ManualClock, write_s: float = 0.0) -> None:
        super().__init__(db, UTC, max_events=100_000)
        self.transactions: list[int] = []
        self._clock = clock
        self._write_s = write_s
        self._open = threading.Event()
        self._open.set()
        self.refuse: StoreError | None = None

    def hold(self) -> None:
        """From now on every write waits for `release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def append_batch(self, events: list[Event]) -> list[int]:
        assert self._open.wait(10), "the test never released the disk"
        if self.refuse is not None:
            raise self.refuse
        self._clock.advance(self._write_s)  # the sync takes this long
        seqs = super().append_batch(events)
        self.transactions.append(len(events))
        return seqs


def door_event(clock: ManualClock, n: int) -> Event:
    return Event("door", clock.time(), door="front", reason=f"event-{n}")


def rows_in_file(db: Path) -> list[str]:
    """The reasons committed to the file, as another connection sees them."""
    conn = sqlite3.connect(db)
    try:
        return [r for (r,) in conn.execute("SELECT reason FROM events ORDER BY seq")]
    finally:
        conn.close()


async def test_a_burst_is_written_in_a_few_transactions_and_counted_in_the_status(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    disk = SlowDisk(tmp_path / "gateway.db", clock, write_s=0.25)
    writer = JournalWriter(disk, clock)
    try:
        burst = 2 * MAX_BATCH + 10
        seqs = await asyncio.gather(*(writer.submit(door_event(clock, n)) for n in range(burst)))
        assert seqs == list(range(1, burst + 1))
        # The first event starts a write at once; the rest arrive while it runs and share
        # as few transactions as the batch bound allows.
        assert disk.transactions[0] == 1
        assert len(disk.transactions) <= 1 + -(-(burst - 1) // MAX_BATCH)
        status = writer.status()
        assert status["batches"] == len(disk.transactions)
        assert status["events_written"] == burst
        assert status["largest_batch"] == MAX_BATCH
        assert status["last_flush_ms"] == 250.0
    finally:
        await writer.close()
        disk.close()
    assert len(rows_in_file(tmp_path / "gateway.db")) == burst


async def test_events_that_arrive_during_a_sync_are_written_together_in_the_next(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    disk = SlowDisk(tmp_path / "gateway.db", clock)
    writer = JournalWriter(disk, clock)
    try:
        disk.hold()
        first = writer.submit(door_event(clock, 0))
        later = [writer.submit(door_event(clock, n)) for n in range(1, 201)]
        await asyncio.sleep(0.05)
        assert not first.done()  # the sync is still running
        disk.release()
        await asyncio.wait_for(asyncio.gather(first, *later), 10)
        assert disk.transactions == [1, 200]
    finally:
        disk.release()
        await writer.close()
        disk.close()


async def test_a_slow_disk_never_makes_the_door_wait(tmp_path: Path) -> None:
    clock = ManualClock()
    disk = SlowDisk(tmp_path / "gateway.db", clock)
    writer = JournalWriter(disk, clock)
    try:
        disk.hold()
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures = [writer.submit(door_event(clock, n)) for n in range(1000)]
        assert loop.time() - started < 0.5  # submitting is queueing, not writing
        assert not any(f.done() for f in futures)
        assert writer.status()["queued"] == 1000
    finally:
        disk.release()
        await writer.close()
        disk.close()


async def test_flush_waits_for_what_was_queued_not_for_a_queue_that_keeps_filling(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    disk = SlowDisk(tmp_path / "gateway.db", clock)
    writer = JournalWriter(disk, clock)
    try:
        disk.hold()
        asked = writer.submit(door_event(clock, 0))
        flushed = asyncio.create_task(writer.flush())
        await asyncio.sleep(0.05)
        after = writer.submit(door_event(clock, 1))  # a busy door keeps the queue full
        disk.release()
        await asyncio.wait_for(asyncio.shield(asked), 10)
        disk.hold()  # the next write (the later event) does not end
        await asyncio.wait_for(flushed, 2)
        assert not after.done()
    finally:
        disk.release()
        await writer.close()
        disk.close()


async def test_an_event_the_disk_refuses_is_never_reported_durable(tmp_path: Path) -> None:
    clock = ManualClock()
    disk = SlowDisk(tmp_path / "gateway.db", clock)
    writer = JournalWriter(disk, clock, retry_s=0.05)
    try:
        await writer.submit(door_event(clock, 0))
        disk.refuse = StoreError("no space left on /var/lib/door-gateway")
        writer.submit(door_event(clock, 1))
        await writer.flush()  # returns: the disk refuses, reading callers go on
        with pytest.raises(StoreError, match="no space left"):
            await writer.durable()
        assert rows_in_file(tmp_path / "gateway.db") == ["event-0"]

        disk.refuse = None  # space again: the queued event is written at the next retry
        for _ in range(200):
            if writer.fault is None:
                break
            await asyncio.sleep(0.02)
        await writer.durable()
        assert rows_in_file(tmp_path / "gateway.db") == ["event-0", "event-1"]
    finally:
        disk.refuse = None
        await writer.close()
        disk.close()
