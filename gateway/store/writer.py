"""Journal writes off the event loop, in order, on one thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gateway.model import Event
from gateway.store.journal import EventJournal

log = logging.getLogger(__name__)


class JournalWriter:
    """Appends events on a single worker thread: the loop never waits on a disk sync, and
    one worker keeps the submission order, so sequence numbers follow it."""

    def __init__(self, journal: EventJournal) -> None:
        self._journal = journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._pending: set[asyncio.Future[int]] = set()
        self._listeners: list[Callable[[int], None]] = []
        self.failures = 0

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(seq)` on the loop once each event is durable (forwarders wake up
        on it instead of polling the journal)."""
        self._listeners.append(listener)

    def submit(self, event: Event) -> asyncio.Future[int]:
        """Queue `event`; the returned future gives its seq once it is durable."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._journal.append, event)
        self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: asyncio.Future[int]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        if future.exception() is not None:
            self.failures += 1
            log.error("journal write failed: %s", future.exception())
            return
        for listener in self._listeners:
            try:
                listener(future.result())
            except Exception:  # a failing listener must not stop the others
                log.exception("journal listener failed")

    async def flush(self) -> None:
        """Wait until every queued event is written."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        self._executor.shutdown(wait=True)
