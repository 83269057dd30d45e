"""The daemon's one way into the event journal: every component records through here.

The doors lock (and journal `locked`) before the store is open, so events emitted before
the journal writer is attached are held in memory and written first, in their order, once
it is. After the writer is detached (the last step of a stop) an event can no longer be
made durable: it goes to the service log instead, never silently nowhere.

Live readers (the event stream) subscribe here too: each durable seq the writer reports
goes to the `EventFeed`, which reads the new rows once and hands them to every reader.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.clock import Clock
from gateway.event_feed import EventFeed, Subscription
from gateway.model import Event, StoredEvent
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal
from gateway.store.writer import JournalWriter

log = logging.getLogger(__name__)


class Recorder:
    """Journals events (durable before anything forwards them) and reads them back."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._held: list[Event] = []  # emitted before the journal was open
        self._writer: JournalWriter | None = None
        self._journal: EventJournal | None = None
        self._closed = False
        self._feed = EventFeed()

    def attach(self, writer: JournalWriter, journal: EventJournal) -> None:
        """From now on events go to `writer`; the ones held so far go first."""
        self._writer, self._journal = writer, journal
        self._feed.open(journal.read, journal.last_seq())
        writer.add_listener(self._feed.durable)
        held, self._held = self._held, []
        for event in held:
            writer.submit(event)

    def detach(self) -> None:
        """The journal is closing: later events can only be logged."""
        self._writer, self._journal, self._closed = None, None, True
        self._feed.close()

    def emit(self, event: Event) -> None:
        """Journal an event (see the module docstring for before and after the journal)."""
        if self._writer is not None:
            self._writer.submit(event)
        elif self._closed:
            log.warning("journal closed, event not recorded: %s %s", event.type, event.reason)
        else:
            self._held.append(event)

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        """Journal what a technician or a management client did through an API."""
        self.emit(Event("api", self._clock.time(), reason=reason, user_id=username, trace=detail))

    async def flush(self) -> None:
        """Wait until every event emitted so far is durable (and visible to readers)."""
        if self._writer is not None:
            await self._writer.flush()

    async def durable(self) -> None:
        """Wait until every event emitted so far is in the file (an API that answers
        "written" awaits this); `StoreError` when the disk refuses them for now, or the
        journal is not open (events are held or only logged): the caller must not say
        they are written."""
        if self._writer is None:
            raise StoreError("the event journal is not open (the daemon starts or stops)")
        await self._writer.durable()

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` journaled events after seq `after`, oldest first (flushed first)."""
        if self._writer is None or self._journal is None:
            return []
        await self._writer.flush()
        return await asyncio.get_running_loop().run_in_executor(
            None, self._journal.read, after, limit
        )

    def subscribe(self, max_queued: int) -> Subscription:
        """Every event made durable from now on, for a live reader (see `EventFeed`)."""
        return self._feed.subscribe(max_queued)

    def last_seq(self) -> int:
        """The highest seq known to be durable (0 before the journal is open)."""
        return self._feed.last_seq
