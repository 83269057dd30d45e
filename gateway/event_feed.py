"""Journaled events to live readers (the event stream), as they become durable.

The journal writer tells the feed each seq once it is durable (`durable`, on the loop: an
int compared and stored, nothing more, so the recorder never waits for a reader). One task
then reads the new rows from the journal once, exactly as the events route reads them,
and offers them to every subscription. A subscription holds at most `max_queued` rows: a
reader that does not keep up is marked `overflowed` (its rows dropped, never the
recorder's time) and told to go; it can come back from its last seq, since the journal
keeps everything.

A reader subscribes FIRST and only then reads what it missed from the journal: every row
durable after the subscription comes through the feed, every row before it through that
read, so nothing falls between; a row that comes both ways is recognised by its seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from gateway.model import StoredEvent

log = logging.getLogger(__name__)

PAGE = 200  # rows per journal read of the feed (below any sensible `max_queued`)
ReadJournal = Callable[[int, int], list[StoredEvent]]  # blocking: (after, limit)


class Subscription:
    """One live reader's bounded queue of journaled events."""

    def __init__(self, feed: EventFeed, max_queued: int) -> None:
        self._feed = feed
        self._max_queued = max_queued
        self._queue: list[StoredEvent] = []
        self._wake = asyncio.Event()
        self.overflowed = False  # more than max_queued waited: the reader must go
        self.ended = False  # the feed closed (the daemon stops)

    def offer(self, event: StoredEvent) -> None:
        """Queue `event` unless the queue is full (then mark the reader as too slow)."""
        if self.overflowed or self.ended:
            return
        if len(self._queue) >= self._max_queued:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(event)
        self._wake.set()

    def end(self) -> None:
        """No more events will come (the feed closed)."""
        self.ended = True
        self._wake.set()

    async def take(self, timeout_s: float) -> list[StoredEvent]:
        """The events queued so far, oldest first, waiting up to `timeout_s` for one
        (empty on a timeout; check `overflowed` and `ended` after each call)."""
        if not self._queue and not (self.overflowed or self.ended):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()
        taken, self._queue = self._queue, []
        return taken

    def close(self) -> None:
        """The reader has gone: stop queueing for it."""
        self._feed.unsubscribe(self)


class EventFeed:
    """Fans durable journal rows out to subscriptions (see the module docstring)."""

    def __init__(self) -> None:
        self._read: ReadJournal | None = None
        self._durable = 0  # the highest seq the writer reported durable
        self._cursor = 0  # the highest seq offered to the subscriptions
        self._subscriptions: dict[Subscription, None] = {}  # insertion-ordered set
        self._pump: asyncio.Task[None] | None = None
        self.read_failures = 0

    def open(self, read: ReadJournal, last_seq: int) -> None:
        """Start following a journal whose highest seq is `last_seq`."""
        self._read = read
        self._durable = self._cursor = last_seq

    def close(self) -> None:
        """The journal closes: every subscription ends."""
        self._read = None
        for subscription in list(self._subscriptions):
            subscription.end()
        self._subscriptions.clear()
        if self._pump is not None:
            self._pump.cancel()

    @property
    def last_seq(self) -> int:
        """The highest seq known to be durable."""
        return self._durable

    def durable(self, seq: int) -> None:
        """The writer's listener: `seq` is durable (called on the loop, in seq order)."""
        self._durable = max(self._durable, seq)
        if not self._subscriptions and self._pump is None:
            self._cursor = self._durable  # nobody to tell: nothing to read
            return
        self._start_pump()

    def subscribe(self, max_queued: int) -> Subscription:
        """A new subscription; it gets every row made durable from now on."""
        if not self._subscriptions and self._pump is None:
            self._cursor = self._durable
        subscription = Subscription(self, max_queued)
        if self._read is None:
            subscription.end()
            return subscription
        self._subscriptions[subscription] = None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop offering rows to `subscription` (idempotent)."""
        self._subscriptions.pop(subscription, None)

    def _start_pump(self) -> None:
        if self._pump is None and self._read is not None:
            self._pump = asyncio.get_running_loop().create_task(self._run())
            self._pump.add_done_callback(self._pump_done)

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        self._pump = None
        if not task.cancelled() and task.exception() is not None:
            self.read_failures += 1
            log.error("event feed read failed: %s", task.exception())
            for subscription in list(self._subscriptions):
                subscription.end()  # they come back from their last seq
            self._subscriptions.clear()
            self._cursor = self._durable

    async def _run(self) -> None:
        """Read and offer rows until every durable one was offered."""
        while self._read is not None and self._subscriptions and self._cursor < self._durable:
            target = self._durable
            rows = await asyncio.to_thread(self._read, self._cursor, PAGE)
            for row in rows:
                for subscription in list(self._subscriptions):
                    subscription.offer(row)
            if len(rows) == PAGE:
                self._cursor = rows[-1].seq
            else:  # every durable row up to `target` was in this read (retention may
                # have taken some: they are not there to offer)
                self._cursor = max(target, rows[-1].seq if rows else target)
