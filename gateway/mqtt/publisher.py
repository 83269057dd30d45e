"""The journal, published from a durable cursor: QoS 1, in seq order, nothing lost.

The publisher reads the rows after its cursor (on a worker thread), publishes each one at
QoS 1 and waits for the broker's acknowledgements. The cursor moves over every row the
broker acknowledged without a gap before it, in memory at once (a reconnection resumes
from there: no duplicate) and in the store after each batch (a restart resumes from
there: a crash between the acknowledgement and the store write sends those rows again,
and a subscriber de-duplicates them by `seq`). Rows dropped by the journal's retention
before they were published are counted (`lost`) and logged.

An access event that names a reader is also published, retained, as the reader's last
event (Home Assistant's reader sensor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar

from gateway.clock import Clock
from gateway.model import StoredEvent
from gateway.mqtt.payloads import encode, event_payload
from gateway.mqtt.topics import Topics

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0  # a backstop when no new-event signal arrives
T = TypeVar("T")


class JournalReader(Protocol):
    """The journal as the publisher reads it (`gateway.store.journal.EventJournal`)."""

    def read(self, after: int = 0, limit: int = 100) -> list[StoredEvent]: ...

    def last_seq(self) -> int: ...


class CursorStore(Protocol):
    """Where the cursor is kept (`gateway.store.mqtt_cursor.MqttCursorStore`)."""

    def read(self) -> int | None: ...

    def write(self, seq: int) -> None: ...


class Publish(Protocol):
    """A connection's publish: returns once the broker acknowledged (QoS 1)."""

    async def __call__(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


class EventPublisher:
    """Sends the journal after the cursor; `run` until the connection fails."""

    def __init__(
        self,
        journal: JournalReader,
        cursor: CursorStore,
        topics: Topics,
        device_id: str,
        batch_size: int,
        clock: Clock,
        executor: Executor,
    ) -> None:
        self._journal = journal
        self._store = cursor
        self._topics = topics
        self._device_id = device_id
        self._batch_size = batch_size
        self._clock = clock
        self._executor = executor  # store calls: never on the event loop
        self._wake = asyncio.Event()
        self.cursor = 0  # every seq up to here was acknowledged by the broker
        self._saved = 0  # the cursor as the store has it
        self._last_seq = 0
        self.lost = 0  # rows retention dropped before they were published
        self.last_publish: float | None = None  # wall time of the last acknowledged event

    async def load(self) -> None:
        """Read the stored cursor and the journal's end (once, before the first `run`).
        The first start with MQTT begins at the journal's end: the history before it is
        the event log's, not the broker's."""
        self._last_seq = await self._in_thread(self._journal.last_seq)
        stored = await self._in_thread(self._store.read)
        if stored is None:
            self.cursor = self._last_seq
            await self._save()
        else:
            self._saved = self.cursor = stored

    def notify(self, seq: int) -> None:
        """A row with `seq` is durable in the journal (called by the journal writer)."""
        self._last_seq = max(self._last_seq, seq)
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Durable rows not yet acknowledged by the broker."""
        return max(0, self._last_seq - self.cursor)

    async def run(self, publish: Publish) -> None:
        """Publish batch after batch; waits when there is nothing to send. Raises what
        `publish` raises (the connection is lost): the cursor keeps what was acknowledged."""
        while True:
            self._wake.clear()  # before reading: a row appended from now on wakes us
            if not await self.publish_batch(publish):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    async def publish_batch(self, publish: Publish) -> int:
        """Publish the next batch after the cursor; how many rows it had (0: none)."""
        if self._saved != self.cursor:  # acknowledged before a lost connection
            await self._save()
        events: list[StoredEvent] = await self._in_thread(
            self._journal.read, self.cursor, self._batch_size
        )
        if not events:
            return 0
        self._last_seq = max(self._last_seq, events[-1].seq)
        self._count_lost(events[0].seq)
        acked: set[int] = set()
        try:
            await asyncio.gather(*(self._send(publish, event, acked) for event in events))
        finally:
            self._advance(events, acked)  # also when the connection fails half-way
        await self._save()
        await self._publish_last_events(publish, events)
        return len(events)

    async def _send(self, publish: Publish, event: StoredEvent, acked: set[int]) -> None:
        await publish(self._topics.events, event_payload(event, self._device_id))
        acked.add(event.seq)

    def _advance(self, events: list[StoredEvent], acked: set[int]) -> None:
        """Move the cursor over the acknowledged rows that have no gap before them."""
        for event in events:
            if event.seq not in acked:
                break
            self.cursor = event.seq
            self.last_publish = self._clock.time()

    def _count_lost(self, first: int) -> None:
        if first > self.cursor + 1:
            missed = first - self.cursor - 1
            self.lost += missed
            log.warning(
                "mqtt: seq %d-%d were dropped by the journal before the broker had them",
                self.cursor + 1,
                first - 1,
            )

    async def _save(self) -> None:
        cursor = self.cursor
        await self._in_thread(self._store.write, cursor)
        self._saved = cursor

    async def _publish_last_events(self, publish: Publish, events: list[StoredEvent]) -> None:
        last: dict[str, StoredEvent] = {}
        for event in events:
            if event.type == "access" and event.reader:
                last[event.reader] = event
        for reader, event in last.items():
            payload = encode({**event.as_dict(), "raw": None, "device": self._device_id})
            await publish(self._topics.reader_last_event(reader), payload, retain=True)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def status(self) -> dict[str, Any]:
        """Cursor, backlog, last acknowledged publish, rows lost to retention."""
        return {
            "cursor": self.cursor,
            "backlog": self.backlog,
            "last_publish": self.last_publish,
            "lost": self.lost,
        }
