"""Per-user web relay URLs: after a user's grant, GET each of their URLs (the Akuvox "Web
Relay"; docs/web-relay.md).

The URLs are templated like the anti-passback URLs (`$name`, `$code`, `$unlocktype`,
`$antipassbackmode`, percent-encoded; a PIN is the code only over https) and sent by the
same HTTP client (`upstream/http.py`: TLS checked, never sent twice, a deadline, no
redirects). Fire and forget: `send` only queues, a few workers send; the queue is bounded
and a URL that finds it full is journaled as `overloaded`, not queued. Every result is
an `upstream` event (`web_relay_sent` / `web_relay_failed`) with the URL's number in the
user's list (1 = first) and the HTTP status or the failure's kind; a failure is not
retried. Events and logs show only the URL's origin (`scheme://host[:port]`): a password,
a token in the query or a key in the path never reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from gateway.clock import Clock
from gateway.model import Credential, Event
from gateway.settings import ReaderSettings
from gateway.upstream.antipassback import APB_TIMEOUT_S, apb_values
from gateway.upstream.http import client_ssl, failure_kind, new_session
from gateway.upstream.template import server_origin

log = logging.getLogger(__name__)

QUEUE_SIZE = 64  # URLs waiting: more means the receivers are down, shed instead
WORKERS = 4  # URLs in flight at once


@dataclass(frozen=True)
class _Job:
    reader: ReaderSettings
    credential: Credential
    user_id: str | None
    number: int  # the URL's place in the user's list, 1 = first
    url: str = field(repr=False)  # filled in: may hold a password or a PIN
    origin: str  # what events and logs show


class WebRelaySender:
    """Sends a user's web relay URLs in the background after their grant."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        clock: Clock,
        ssl_setting: ssl.SSLContext | bool | None = None,
        timeout_s: float = APB_TIMEOUT_S,
        queue_size: int = QUEUE_SIZE,
        workers: int = WORKERS,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self._ssl = client_ssl(True, "") if ssl_setting is None else ssl_setting
        self._timeout_s = timeout_s
        self._queue_size = queue_size
        self._worker_count = workers
        self._queue: asyncio.Queue[_Job] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.failed = 0

    def send(
        self,
        reader: ReaderSettings,
        credential: Credential,
        user_id: str | None,
        user_name: str,
        urls: Sequence[str],
    ) -> None:
        """Queue one request per URL; returns at once (call inside the loop)."""
        if not urls:
            return
        try:
            values = apb_values(reader, credential, user_name)
        except ValueError:  # the card cannot be shown in the reader's display format
            for number, url in enumerate(urls, start=1):
                self._journal(
                    _Job(reader, credential, user_id, number, "", _origin(url)), None, "card_format"
                )
            return
        queue = self._running_queue()
        for number, url in enumerate(urls, start=1):
            job = _Job(reader, credential, user_id, number, values.fill(url), _origin(url))
            if credential.kind == "pin" and "$code" in url and urlsplit(url).scheme != "https":
                self._journal(job, None, "pin_needs_https")
                continue
            try:
                queue.put_nowait(job)
            except asyncio.QueueFull:
                self._journal(job, None, "overloaded")

    def _running_queue(self) -> asyncio.Queue[_Job]:
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
            loop = asyncio.get_running_loop()
            self._workers = [
                loop.create_task(self._work(self._queue)) for _ in range(self._worker_count)
            ]
        return self._queue

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._send(job)
            finally:
                queue.task_done()

    async def _send(self, job: _Job) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                status = await self._get(job.url)
        except asyncio.CancelledError:
            self._journal(job, None, "cancelled")
            raise
        except Exception as exc:  # every failure is an event, none reaches a door
            self._journal(job, None, failure_kind(exc))
            return
        self._journal(job, status, f"http_{status}")

    async def _get(self, url: str) -> int:
        """GET `url` (user:password@ in it is sent as basic auth); the status code."""
        if self._session is None or self._session.closed:
            self._session = new_session(self._ssl, self._timeout_s, self._worker_count)
        async with self._session.get(URL(url, encoded=True), allow_redirects=False) as response:
            return response.status

    def _journal(self, job: _Job, status: int | None, outcome: str) -> None:
        ok = status is not None and 200 <= status < 300
        if ok:
            self.sent += 1
            log.info("web relay URL %d sent: %s", job.number, job.origin)
        else:
            self.failed += 1
            log.warning("web relay URL %d failed (%s): %s", job.number, outcome, job.origin)
        event = Event(
            type="upstream",
            time=self._clock.time(),
            door=job.reader.door,
            reader=job.reader.name,
            user_id=job.user_id,
            credential_kind=job.credential.kind,
            credential=job.credential.display_value,
            reason="web_relay_sent" if ok else "web_relay_failed",
            trace=f"web_relay:{job.number}:GET {job.origin} > {outcome}",
        )
        try:
            self._emit(event)
        except Exception:  # a journal problem must not stop the next URL
            log.exception("could not record a web relay result")

    def status(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "queued": 0 if self._queue is None else self._queue.qsize(),
            "queue_size": self._queue_size,
        }

    async def close(self, grace_s: float = 1.0) -> None:
        """Let queued URLs go for up to `grace_s`, cancel the rest (each journaled), close."""
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):  # what is left is journaled below
                await asyncio.wait_for(self._queue.join(), grace_s)
            while not self._queue.empty():
                self._journal(self._queue.get_nowait(), None, "shutdown")
                self._queue.task_done()
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers, self._queue = [], None
        if self._session is not None:
            await self._session.close()
            self._session = None


def _origin(url: str) -> str:
    """`scheme://host[:port]` of a configured URL: all an event says about it."""
    return server_origin(url) or "(unparsable url)"
