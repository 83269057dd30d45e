"""Journal writes off the event loop, in order, on one thread, and nothing lost silently.

Events wait in one queue on the loop; a single worker thread writes them in batches (one
transaction, one sync each), so the loop never waits on a disk sync and the submission
order is the seq order. This is group commit: a batch is everything queued when the
previous sync ended (at most `MAX_BATCH`), so the busier the door, the more events share
one sync, and an event alone is written at once. An event is durable, and only then
reported (its future, the listeners, `durable`), once its transaction has committed with
`synchronous = FULL` (see `EventJournal`).

When a write fails (a full disk, an I/O error, a lock held for too long) the events stay
queued and the write is tried again every `retry_s`; the door keeps deciding meanwhile.
The queue is bounded: past `max_queued` new events are counted, not kept, and once writing
resumes that loss is itself journaled as a `journal_gap` with the count, at the place in
the order where the events went missing.

Administrative events pass a `NoiseFilter` first (`gateway.store.noise`): a source that
repeats itself is journaled a few times a minute, then summarised by one event when the
minute ends (a timer sees to it when nothing else happens, and `close` writes the summary
of the unfinished minute).

Times never go backwards across seq: an event stamped a little earlier than the one
before it (threads, or a credential read while an earlier event was being made) takes
the previous time; a larger step back is the wall clock being set, and is journaled as
`clock_stepped` before the event that shows it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.model import Event
from gateway.store.db import explain, is_storage_fault
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal, utc_iso
from gateway.store.noise import NoiseFilter

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000  # events kept in memory while the disk refuses them (~5 MB)
MAX_BATCH = 500  # events per transaction
RETRY_S = 1.0
ORDER_SLACK_S = 2.0  # a smaller step back is ordering noise, not a clock change
CHECKPOINT_EVERY = 1_000  # events between explicit WAL checkpoints
GAP_REASON = "journal_gap"
CLOCK_STEP_REASON = "clock_stepped"
SUMMARY_RECHECK_S = 1.0  # a summary timer that fired early looks again this much later


class Cancellable(Protocol):
    """A scheduled call that can still be cancelled."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Monotonic time and timers (the doors' `Timers` seam fits; tests pass a manual one)."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable: ...


class _LoopScheduler:
    """`Scheduler` on the running asyncio loop."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_at(when, callback)


@dataclass
class _Queued:
    event: Event
    future: asyncio.Future[int]


@dataclass(frozen=True)
class _Written:
    """What one write on the worker thread committed, and how long it took."""

    seqs: list[int]
    took_s: float


@dataclass
class _Gap:
    """Events dropped because the queue was full, not yet journaled."""

    count: int
    first: float
    last: float
    why: str

    def event(self, when: float) -> Event:
        trace = (
            f"{self.count} events lost while the journal could not be written "
            f"({utc_iso(self.first)} to {utc_iso(self.last)}): {self.why}"
        )
        return Event("system", when, reason=GAP_REASON, trace=trace)


class JournalWriter:
    """Appends events on a single worker thread, queued while the disk refuses them."""

    def __init__(
        self,
        journal: EventJournal,
        clock: Clock,
        max_queued: int = MAX_QUEUED,
        retry_s: float = RETRY_S,
        noise: NoiseFilter | None = None,
        timers: Scheduler | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._noise = noise or NoiseFilter()
        self._timers = timers or _LoopScheduler()
        self._summary_timer: Cancellable | None = None
        self._max_queued = max_queued
        self._retry_s = retry_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._queue: deque[_Queued] = deque()
        self._writing: asyncio.Future[_Written] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()  # replaced after each write attempt (see _signal)
        self._listeners: list[Callable[[int], None]] = []
        self._last_time = float("-inf")
        self._gap: _Gap | None = None
        self._since_checkpoint = 0
        self.fault: str | None = None
        self.fault_since: float | None = None
        self.failures = 0  # failed write attempts since start
        self.lost = 0  # events dropped because the queue was full, since start
        self.gaps = 0  # journal_gap events written since start
        self.summaries = 0  # events_summarised events written since start
        self.batches = 0  # transactions committed since start
        self.written = 0  # events committed since start
        self.largest_batch = 0  # events in the largest transaction since start
        self.last_flush_ms: float | None = None  # how long the last commit took

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(seq)` on the loop once each event is durable (forwarders wake up
        on it instead of polling the journal)."""
        self._listeners.append(listener)

    def submit(self, event: Event) -> asyncio.Future[int]:
        """Queue `event`; the returned future gives its seq once it is durable.

        When the queue is full the event is counted in the next `journal_gap` instead, and
        when it is administrative noise it is counted in the next `events_summarised`; in
        both cases its future is cancelled.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._summarise(self._noise.due(self._clock.monotonic(), self._clock.time()))
        if not self._noise.admit(event, self._clock.monotonic()):
            future.cancel()
            self._arm_summary()
            return future
        self._enqueue(event, future)
        return future

    def _enqueue(self, event: Event, future: asyncio.Future[int]) -> None:
        loop = asyncio.get_running_loop()
        if len(self._queue) >= self._max_queued:
            self._count_lost(event.time)
            future.cancel()
            return
        self._close_gap()
        for item in self._in_order(event):
            self._queue.append(_Queued(item, future if item is event else loop.create_future()))
        self._kick()

    def _summarise(self, summaries: list[Event]) -> None:
        """Queue the summaries of a window that has ended (see `gateway.store.noise`)."""
        for summary in summaries:
            self._enqueue(summary, asyncio.get_running_loop().create_future())
        self.summaries += len(summaries)

    def _arm_summary(self) -> None:
        """Make sure the summary is written when the window ends, even if nothing else
        is submitted by then."""
        end = self._noise.pending_until()
        if self._summary_timer is not None or end is None:
            return
        delay = max(end - self._clock.monotonic(), SUMMARY_RECHECK_S)
        self._summary_timer = self._timers.call_at(self._timers.now() + delay, self._summary_due)

    def _summary_due(self) -> None:
        self._summary_timer = None
        self._summarise(self._noise.due(self._clock.monotonic(), self._clock.time()))
        self._arm_summary()  # the clock said not yet: look again

    def _in_order(self, event: Event) -> list[Event]:
        """`event`, with its time made no earlier than the previous one's (see above)."""
        previous = self._last_time
        if event.time >= previous:
            self._last_time = event.time
            return [event]
        if previous - event.time <= ORDER_SLACK_S:
            return [replace(event, time=previous)]
        self._last_time = event.time
        step = Event(
            "system",
            event.time,
            reason=CLOCK_STEP_REASON,
            trace=f"wall clock stepped back {previous - event.time:.1f} s "
            f"(from {utc_iso(previous)})",
        )
        return [step, event]

    def _count_lost(self, when: float, why: str | None = None) -> None:
        self.lost += 1
        if self._gap is None:
            self._gap = _Gap(0, when, when, why or self.fault or "queue full")
            log.error("journal queue full (%d events): events are being lost", len(self._queue))
        self._gap.count += 1
        self._gap.last = max(self._gap.last, when)

    def _close_gap(self) -> None:
        """Queue the pending gap event, now that there is room for it."""
        if self._gap is None or len(self._queue) >= self._max_queued:
            return
        gap, self._gap = self._gap, None
        when = max(self._last_time, gap.last)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(gap.event(when), future))
        self._last_time = when
        self.gaps += 1

    # -- the worker ----------------------------------------------------------------------

    def _kick(self) -> None:
        if self._writing is not None or self._retry is not None or not self._queue:
            return
        batch = [item.event for item in itertools.islice(self._queue, MAX_BATCH)]
        loop = asyncio.get_running_loop()
        self._writing = loop.run_in_executor(self._executor, self._write, batch)
        self._writing.add_done_callback(self._written)

    def _write(self, batch: list[Event]) -> _Written:
        """On the worker thread: one transaction, one sync."""
        started = self._clock.monotonic()
        seqs = self._journal.append_batch(batch)
        return _Written(seqs, self._clock.monotonic() - started)

    def _signal(self) -> None:
        """Wake whoever waits for progress (flush, close)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _written(self, done: asyncio.Future[_Written]) -> None:
        self._writing = None
        try:
            self._settle(done)
        finally:
            self._signal()

    def _settle(self, done: asyncio.Future[_Written]) -> None:
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self._failed(error)
            return
        written = done.result()
        seqs = written.seqs
        self._count_batch(written)
        self._recovered(len(seqs))
        for seq in seqs:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_result(seq)
            self._notify(seq)
        self._close_gap()
        self._checkpoint_now_and_then(len(seqs))
        self._kick()

    def _count_batch(self, written: _Written) -> None:
        self.batches += 1
        self.written += len(written.seqs)
        self.largest_batch = max(self.largest_batch, len(written.seqs))
        self.last_flush_ms = round(written.took_s * 1000.0, 3)

    def _failed(self, error: BaseException | None) -> None:
        self.failures += 1
        if error is not None and not _is_retryable(error):
            # A bug, not the disk: this batch can never be written; lose it loudly, once.
            item = self._queue.popleft()
            log.error("journal write failed, event dropped: %s (%s)", error, item.event.reason)
            item.future.cancel()
            self._count_lost(item.event.time, f"{type(error).__name__}: {error}")
            self._kick()
            return
        message = _describe(error, self._journal)
        if self.fault is None:
            self.fault_since = self._clock.time()
            log.error("journal cannot be written, %d events queued: %s", len(self._queue), message)
        self.fault = message
        self._retry = asyncio.get_running_loop().call_later(self._retry_s, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self._kick()
        self._signal()

    def _recovered(self, written: int) -> None:
        if self.fault is None:
            return
        log.warning("journal writable again after: %s", self.fault)
        self.fault, self.fault_since = None, None
        self._since_checkpoint = CHECKPOINT_EVERY  # the log grew while nothing could be copied

    def _notify(self, seq: int) -> None:
        for listener in self._listeners:
            try:
                listener(seq)
            except Exception:  # a failing listener must not stop the others
                log.exception("journal listener failed")

    def _checkpoint_now_and_then(self, written: int) -> None:
        self._since_checkpoint += written
        if self._since_checkpoint < CHECKPOINT_EVERY:
            return
        self._since_checkpoint = 0
        self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            self._journal.checkpoint()
        except Exception as exc:  # the next write will tell if the disk is at fault
            log.warning("journal checkpoint failed: %s", exc)

    # -- the rest ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Plain-dict status: what waits for the disk, what was lost, the fault if any,
        what was summarised instead of journaled, and how the commits group events."""
        return {
            "queued": len(self._queue),
            "max_queued": self._max_queued,
            "fault": self.fault,
            "fault_since": None if self.fault_since is None else utc_iso(self.fault_since),
            "write_failures": self.failures,
            "lost": self.lost,
            "gaps": self.gaps,
            "summarised": self._noise.summarised,
            "summaries": self.summaries,
            "max_admin_events": self._journal.max_admin_events,
            "wal_bytes": self._journal.wal_bytes(),
            "batches": self.batches,
            "events_written": self.written,
            "largest_batch": self.largest_batch,
            "last_flush_ms": self.last_flush_ms,
        }

    async def flush(self) -> None:
        """Wait until every event queued so far is written, or the disk refuses them (for
        readers: what they read next includes everything written by then). Events queued
        meanwhile are not waited for: a busy door never keeps a reader waiting."""
        await self._written_so_far()

    async def durable(self) -> None:
        """Wait until every event queued so far is durable; `StoreError` when the disk
        refuses them for now (they stay queued and are written once it takes them) or one
        of them could not be written at all. An API that answers "written" awaits this."""
        last = await self._written_so_far()
        if last is None or (last.done() and not last.cancelled()):
            return
        if last.cancelled():
            raise StoreError("the event journal could not write an event (see the service log)")
        raise StoreError(f"the event journal cannot be written: {self.fault}")

    async def _written_so_far(self) -> asyncio.Future[int] | None:
        """Wait until the newest queued event is written (so all before it are) or the
        disk refuses; that event's future (None when nothing was queued)."""
        if not self._queue:
            return None
        last = self._queue[-1].future
        while not last.done() and self.fault is None:
            await self._changed.wait()
        return last

    async def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued and the summary of the unfinished window (trying for
        `timeout_s` while the disk refuses), then stop."""
        if self._summary_timer is not None:
            self._summary_timer.cancel()
            self._summary_timer = None
        self._summarise(self._noise.close(self._clock.time()))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._queue:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                log.error("journal closed, %d events not written: %s", len(self._queue), self.fault)
                break
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue
        if self._retry is not None:
            self._retry.cancel()
        for item in self._queue:
            item.future.cancel()
        self._executor.shutdown(wait=True)


def _is_retryable(error: BaseException) -> bool:
    """A storage fault or a busy database passes; anything else is a bug in an event."""
    return isinstance(error, StoreError | OSError) or is_storage_fault(error)


def _describe(error: BaseException | None, journal: EventJournal) -> str:
    """The fault in an installer's words (see `gateway.store.db.explain`)."""
    if error is None:
        return "write cancelled"
    cause = error.__cause__
    if isinstance(cause, sqlite3.Error):
        return explain(cause, journal.path)
    return str(error)
