"""The notification mailer: reads the journal from its own durable cursor and mails the
events that matter, never on a door's path.

One task. It reads the rows after its position (on a worker thread: SQLite never runs on
the event loop), keeps the ones `Selection` wants in a `Digest`, and when `Pacer` says a
mail may go, sends one: the event in full, or a summary of all that waited. Only once the
server accepted it does the durable cursor move past those rows, so a mail server outage
or a crash delays notifications but loses none (a crash between the server's acceptance
and the cursor's commit sends that mail again, with the same Message-ID).

While the server fails, the mailer backs off (doubling, with jitter) and journals ONE
`notification_failed` alarm for the whole outage (remembered across a restart), then
`notification_recovered` when a mail goes through again; the status says the last error,
the backlog and the next attempt. docs/notifications.md has the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gateway.clock import Clock
from gateway.model import Event, StoredEvent
from gateway.notify.pacing import Pacer
from gateway.notify.render import Digest, MailHeader, compose
from gateway.notify.selection import FAILED_REASON, RECOVERED_REASON, Selection
from gateway.notify.smtp import MailTransport, SendError
from gateway.settings import NotificationSettings
from gateway.store.agents import iso_utc
from gateway.store.journal import EventJournal
from gateway.store.mail_cursor import MailCursorStore

__all__ = ["Mailer"]

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["starting", "idle", "gathering", "sending", "backoff", "stopped"]
READ_BATCH = 500  # journal rows per read
IDLE_POLL_S = 5.0  # backstop when no new-row signal arrives
SKIP_SAVE_S = 60.0  # how often a cursor moved over rows with nothing to mail is stored
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class _Read:
    events: list[StoredEvent]
    journal_last: int


class Mailer:
    """Mails the journal's notable events through `transport`."""

    def __init__(
        self,
        journal: EventJournal,
        cursors: MailCursorStore,
        settings: NotificationSettings,
        header: MailHeader,
        transport: MailTransport,
        server: str,
        emit: Callable[[Event], None],
        clock: Clock,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._journal = journal
        self._cursors = cursors
        self.settings = settings
        self._selection = Selection.from_settings(settings)
        self._header = header
        self._transport = transport
        self._server = server
        self._emit = emit
        self._clock = clock
        self._pacer = Pacer(settings, rng)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._digest = Digest()
        self._first_waiting = 0.0  # monotonic time the digest's first event was read
        self._position = 0  # the last journal row looked at
        self._stored = 0  # the durable cursor as last stored
        self._stored_at = 0.0  # monotonic time it was
        self._journal_last = 0
        self.state: State = "starting"
        self._outage = False
        self._outage_since: float | None = None
        self._last_sent: float | None = None
        self._last_attempt: float | None = None
        self._last_error = ""
        self._refused = ""

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Resume from the durable cursor and start the task."""
        stored = await self._in_thread(self._cursors.resume)
        self._position = self._stored = stored.cursor
        self._stored_at = self._clock.monotonic()
        self._last_sent, self._outage = stored.last_sent, stored.outage
        self._task = asyncio.create_task(self._run(), name="notify-mailer")

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Cancel the task, store how far nothing was left to mail, and wait (at most
        `timeout` s) for the worker thread, so the journal can be closed afterwards."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=timeout)
        if self._task is not None and self._safe_cursor() > self._stored:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._in_thread(self._cursors.skipped, self._safe_cursor()), timeout
                )
        self.state = "stopped"
        shutdown = asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        try:
            await asyncio.wait_for(shutdown, timeout)
        except TimeoutError:
            log.warning("notifications: a store call still runs after %.0f s", timeout)

    def notify(self, seq: int) -> None:
        """A row with `seq` is durable in the journal: wake the task (on the loop)."""
        self._journal_last = max(self._journal_last, seq)
        self._wake.set()

    # -- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store error must not end notifications for good
                log.exception("notifications: turn failed")
                self._last_error = f"internal error: {type(exc).__name__}"
                await self._sleep(self._pacer.failed(self._clock.monotonic()))

    async def _turn(self) -> None:
        self._wake.clear()  # before reading: a row appended from now on wakes us again
        await self._read_all()
        if self._digest.count == 0:
            await self._store_skipped()
            self.state = "idle"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
            return
        wait = self._pacer.due(self._first_waiting) - self._clock.monotonic()
        if wait > 0:
            self.state = "backoff" if self._pacer.retry_at is not None else "gathering"
            await self._sleep(wait)
            await self._read_all()  # what came meanwhile goes in the same mail
        await self._send()

    async def _read_all(self) -> None:
        """Read every row after the position; keep what is to be mailed."""
        while True:
            read = await self._in_thread(self._read, self._position)
            self._journal_last = max(self._journal_last, read.journal_last)
            if not read.events:
                return
            self._take(read.events)
            if len(read.events) < READ_BATCH:
                return

    def _read(self, after: int) -> _Read:
        """On the worker thread: rows after `after`, and the journal's newest seq."""
        return _Read(self._journal.read(after, READ_BATCH), self._journal.last_seq())

    def _take(self, events: list[StoredEvent]) -> None:
        if events[0].seq > self._position + 1 and self._position > 0:
            lost = events[0].seq - self._position - 1
            log.warning("notifications: %d journal rows were gone before they were read", lost)
            self._digest.lost_rows += lost
        for event in events:
            if self._selection.wants(event):
                if self._digest.count == 0:
                    self._first_waiting = self._clock.monotonic()
                self._digest.add(event)
        self._position = events[-1].seq

    async def _send(self) -> None:
        """Mail the digest; on acceptance move the durable cursor, else back off."""
        self.state = "sending"
        digest, position = self._digest, self._position
        delayed = iso_utc(self._outage_since) if self._outage_since is not None else ""
        message = compose(digest, self._header, self._clock.time(), delayed)
        self._last_attempt = self._clock.time()
        try:
            self._refused = await self._transport.send(message)
        except SendError as exc:
            await self._failed(str(exc))
            return
        now = self._clock.time()
        await self._in_thread(self._cursors.sent, position, now)
        self._stored, self._stored_at = position, self._clock.monotonic()
        self._digest, self._last_sent, self._last_error = Digest(), now, ""
        self._pacer.sent(self._clock.monotonic())
        if self._refused:
            log.warning("notifications: the server %s %s", self._server, self._refused)
        if self._outage:
            await self._set_outage(False, f"{self._server}: mail accepted again")

    async def _failed(self, why: str) -> None:
        self._last_error = why
        delay = self._pacer.failed(self._clock.monotonic())
        self.state = "backoff"
        log.warning(
            "notifications: %s failed (%s); next attempt in %.1f s", self._server, why, delay
        )
        if self._outage_since is None:
            self._outage_since = self._last_attempt
        if not self._outage:
            pending = f"{self._digest.count} events wait"
            await self._set_outage(True, f"{self._server}: {why}; {pending}")

    async def _set_outage(self, on: bool, trace: str) -> None:
        """Journal the outage once (and its end), then remember it: a crash in between
        repeats the event, never loses it."""
        self._outage = on
        if not on:
            self._outage_since = None
        reason = FAILED_REASON if on else RECOVERED_REASON
        self._emit(Event("alarm", self._clock.time(), reason=reason, trace=trace))
        await self._in_thread(self._cursors.set_outage, on)

    def _safe_cursor(self) -> int:
        """How far the cursor may be stored: up to the position when nothing waits, else
        up to just before the first event that waits."""
        return self._digest.first_seq - 1 if self._digest.count else self._position

    async def _store_skipped(self) -> None:
        """Store the cursor over rows with nothing to mail, at most every `SKIP_SAVE_S`:
        one sync a minute, not one per journaled event."""
        now = self._clock.monotonic()
        if self._position > self._stored and now - self._stored_at >= SKIP_SAVE_S:
            await self._in_thread(self._cursors.skipped, self._position)
            self._stored, self._stored_at = self._position, now

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Last mail sent, what waits, the last error and the next attempt."""
        retry_at = self._pacer.retry_at
        next_attempt = None
        if retry_at is not None:
            next_attempt = iso_utc(
                self._clock.time() + max(0.0, retry_at - self._clock.monotonic())
            )
        return {
            "state": self.state,
            "server": self._server,
            "to": list(self._header.to),
            "cursor": self._position,
            "waiting": self._digest.count,  # events to mail that were not accepted yet
            "unread": max(0, self._journal_last - self._position),  # rows not looked at
            "last_sent": None if self._last_sent is None else iso_utc(self._last_sent),
            "last_attempt": None if self._last_attempt is None else iso_utc(self._last_attempt),
            "last_error": self._last_error,
            "last_refused": self._refused,
            "failures": self._pacer.failures,
            "outage": self._outage,
            "next_attempt": next_attempt,
        }

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)
