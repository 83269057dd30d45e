"""The publisher sends the journal from its cursor: a lost connection resends nothing the
broker acknowledged, a crash resends only what was not yet saved, and rows the journal
dropped before they went out are counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.model import StoredEvent
from gateway.mqtt.publisher import EventPublisher
from gateway.mqtt.topics import Topics, default_prefix
from tests.fakes import ManualClock

TOPICS = Topics(default_prefix("gw"), "homeassistant", "gw")


def stored(seq: int, reader: str | None = None) -> StoredEvent:
    return StoredEvent(
        seq=seq, time="t", local_time="l", type="access", door="front", reader=reader,
        user_id=None, credential_kind=None, credential=None, granted=True, reason="granted",
        source=None, trace="", latency_ms=None, direction=None, raw=None,
    )  # fmt: skip


class Journal:
    def __init__(self, seqs: list[int]) -> None:
        self.rows = [stored(seq) for seq in seqs]

    def append(self, seq: int, reader: str | None = None) -> None:
        self.rows.append(stored(seq, reader))

    def read(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        return [row for row in self.rows if row.seq > after][:limit]

    def last_seq(self) -> int:
        return self.rows[-1].seq if self.rows else 0


class CursorStore:
    def __init__(self, value: int | None = 0) -> None:
        self.value = value

    def read(self) -> int | None:
        return self.value

    def write(self, seq: int) -> None:
        self.value = seq


class LostConnection(Exception):
    pass


class Broker:
    """Acknowledges events until told to drop the connection after some of them."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int, bool]] = []  # topic, seq, retained
        self.fail_after: int | None = None

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self.fail_after is not None and self.fail_after <= 0:
            raise LostConnection
        if self.fail_after is not None:
            self.fail_after -= 1
        self.received.append((topic, json.loads(payload)["seq"], retain))

    def event_seqs(self) -> list[int]:
        return [seq for topic, seq, _ in self.received if topic == TOPICS.events]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


def publisher(
    journal: Journal, store: CursorStore, executor: ThreadPoolExecutor, batch: int = 100
) -> EventPublisher:
    return EventPublisher(journal, store, TOPICS, "gw", batch, ManualClock(), executor)


async def test_a_lost_connection_resends_nothing_the_broker_acknowledged(
    executor: ThreadPoolExecutor,
) -> None:
    journal, store, broker = Journal(list(range(1, 11))), CursorStore(0), Broker()
    sender = publisher(journal, store, executor)
    await sender.load()
    broker.fail_after = 4
    with pytest.raises(LostConnection):
        await sender.publish_batch(broker.publish)
    assert sender.cursor == 4 and sender.backlog == 6
    broker.fail_after = None  # the connection is back
    assert await sender.publish_batch(broker.publish) == 6
    assert broker.event_seqs() == list(range(1, 11))  # each once, in order
    assert store.value == 10 and sender.backlog == 0


async def test_a_restart_resumes_after_the_saved_cursor(executor: ThreadPoolExecutor) -> None:
    journal, store, broker = Journal(list(range(1, 6))), CursorStore(3), Broker()
    sender = publisher(journal, store, executor)
    await sender.load()
    await sender.publish_batch(broker.publish)
    assert broker.event_seqs() == [4, 5]


async def test_the_first_start_begins_at_the_end_of_the_journal(
    executor: ThreadPoolExecutor,
) -> None:
    journal, store, broker = Journal(list(range(1, 1001))), CursorStore(None), Broker()
    sender = publisher(journal, store, executor)
    await sender.load()
    assert store.value == 1000 and await sender.publish_batch(broker.publish) == 0
    journal.append(1001)
    sender.notify(1001)
    assert sender.backlog == 1
    await sender.publish_batch(broker.publish)
    assert broker.event_seqs() == [1001]


async def test_rows_dropped_before_they_went_out_are_counted(
    executor: ThreadPoolExecutor,
) -> None:
    journal, store, broker = Journal([8, 9]), CursorStore(2), Broker()
    sender = publisher(journal, store, executor)
    await sender.load()
    await sender.publish_batch(broker.publish)
    assert sender.status()["lost"] == 5 and broker.event_seqs() == [8, 9]


async def test_a_reader_s_last_access_event_is_published_retained(
    executor: ThreadPoolExecutor,
) -> None:
    journal, store, broker = Journal([]), CursorStore(0), Broker()
    sender = publisher(journal, store, executor)
    await sender.load()
    for seq in (1, 2, 3):
        journal.append(seq, reader="front-wiegand")
    await sender.publish_batch(broker.publish)
    last = [(seq, retain) for topic, seq, retain in broker.received if topic.endswith("last_event")]
    assert last == [(3, True)]
