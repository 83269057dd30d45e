"""The event feed: durable journal rows to live readers, read once for all of them, and a
reader that falls behind is dropped without the recorder waiting for it."""

from __future__ import annotations

import asyncio

from gateway.event_feed import EventFeed
from gateway.model import StoredEvent


def row(seq: int) -> StoredEvent:
    return StoredEvent(
        seq, "t", "t", "door", "front", None, None, None, None, None, "locked", None, "", None
    )


class FakeJournal:
    """Rows by seq, and how many reads the feed made."""

    def __init__(self) -> None:
        self.rows: list[StoredEvent] = []
        self.reads = 0

    def append(self, count: int) -> list[int]:
        start = self.rows[-1].seq if self.rows else 0
        new = [row(start + n + 1) for n in range(count)]
        self.rows += new
        return [r.seq for r in new]

    def read(self, after: int, limit: int) -> list[StoredEvent]:
        self.reads += 1
        return [r for r in self.rows if r.seq > after][:limit]


async def settle(feed: EventFeed) -> None:
    for _ in range(50):
        await asyncio.sleep(0.001)


async def test_every_reader_gets_each_durable_row_once_from_one_read() -> None:
    journal, feed = FakeJournal(), EventFeed()
    journal.append(3)  # before anyone listened
    feed.open(journal.read, 3)
    readers = [feed.subscribe(max_queued=100) for _ in range(20)]
    for seq in journal.append(5):
        feed.durable(seq)
    await settle(feed)
    for reader in readers:
        assert [r.seq for r in await reader.take(0.1)] == [4, 5, 6, 7, 8]
    assert journal.reads == 1  # not one per reader


async def test_a_reader_that_falls_behind_is_marked_and_the_others_carry_on() -> None:
    journal, feed = FakeJournal(), EventFeed()
    feed.open(journal.read, 0)
    slow = feed.subscribe(max_queued=3)
    keeping_up = feed.subscribe(max_queued=100)
    for seq in journal.append(5):
        feed.durable(seq)  # returns at once: nothing here waits for a reader
    await settle(feed)
    assert slow.overflowed and await slow.take(0.01) == []
    assert [r.seq for r in await keeping_up.take(0.1)] == [1, 2, 3, 4, 5]
    assert not keeping_up.overflowed


async def test_nobody_listening_costs_no_read_and_closing_ends_every_reader() -> None:
    journal, feed = FakeJournal(), EventFeed()
    feed.open(journal.read, 0)
    for seq in journal.append(10):
        feed.durable(seq)
    await settle(feed)
    assert journal.reads == 0
    reader = feed.subscribe(max_queued=10)
    feed.durable(journal.append(1)[0])
    await settle(feed)
    assert [r.seq for r in await reader.take(0.1)] == [11]  # not the ten before it
    feed.close()
    assert reader.ended and await reader.take(5.0) == []  # at once, not after 5 s
