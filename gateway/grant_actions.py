"""What a user's grant at a reader sets off besides the door: their elevator floors (at a
lift reader, `doors/floors.py`) and their web relay URLs (`upstream/web_relay.py`).

Both are read from the store (`UserStore.grant_actions`) after the decision and after the
door moved: the decision never waits for them, and the rules cache stays as compact as
it is. Grants are handled in the order they were made, one at a time, from a bounded
queue (a grant that finds it full is logged and counted, and its floors stay disabled).
A store that fails, or answers later than `READ_DEADLINE_S`, enables no floor (journaled
as `floors_fault`) and sends no URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.doors.floors import FloorOutputs
from gateway.model import Credential, Decision, GrantActions
from gateway.settings import ReaderSettings
from gateway.upstream.web_relay import WebRelaySender

log = logging.getLogger(__name__)

MAX_PENDING = 64  # grants waiting for their store read
# A read slower than this (a database locked by a long outside write) enables no floor:
# the person in the car is not kept waiting, nor are the grants queued behind theirs.
READ_DEADLINE_S = 2.0


@dataclass(frozen=True)
class _Grant:
    reader: ReaderSettings
    credential: Credential
    user_id: str | None
    user_name: str


class AfterGrant:
    """The pipeline's `after_grant`: queue a grant, then enable floors and send URLs."""

    def __init__(
        self,
        read: Callable[[str], GrantActions],
        floors: FloorOutputs | None,
        web_relay: WebRelaySender | None,
        max_pending: int = MAX_PENDING,
        read_deadline_s: float = READ_DEADLINE_S,
    ) -> None:
        self._read = read
        self.floors = floors
        self.web_relay = web_relay
        self._max_pending = max_pending
        self._read_deadline_s = read_deadline_s
        self._queue: asyncio.Queue[_Grant] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0
        self.store_failures = 0

    def __call__(
        self, reader: ReaderSettings, credential: Credential, decision: Decision, user_name: str
    ) -> None:
        """A final grant at `reader`: queue what it sets off; returns at once."""
        lift = reader.lift and self.floors is not None
        if not lift and (self.web_relay is None or decision.user_id is None):
            return  # nothing to do: no store read
        if self._queue is None:
            self._queue = asyncio.Queue(self._max_pending)
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue))
        try:
            self._queue.put_nowait(_Grant(reader, credential, decision.user_id, user_name))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("grant actions queue full: floors and web relay skipped for a grant")

    async def _work(self, queue: asyncio.Queue[_Grant]) -> None:
        while True:
            grant = await queue.get()
            try:
                await self._handle(grant)
            except Exception:  # one grant's failure must not stop the next
                log.exception("grant actions failed")
            finally:
                queue.task_done()

    async def _handle(self, grant: _Grant) -> None:
        reader, user_id = grant.reader, grant.user_id
        try:
            actions = GrantActions()
            if user_id:
                async with asyncio.timeout(self._read_deadline_s):
                    actions = await asyncio.to_thread(self._read, user_id)
        except Exception:
            self.store_failures += 1
            log.exception("could not read the user's floors and web relay URLs")
            if reader.lift and self.floors is not None:
                self.floors.refuse(reader.door, reader.name, user_id, "store_unavailable")
            return
        if reader.lift and self.floors is not None:
            self.floors.enable(actions.floors, reader.door, reader.name, user_id)
        if self.web_relay is not None and actions.web_relay_urls:
            self.web_relay.send(
                reader, grant.credential, user_id, grant.user_name, actions.web_relay_urls
            )

    def status(self) -> dict[str, Any]:
        return {
            "queued": 0 if self._queue is None else self._queue.qsize(),
            "dropped": self.dropped,
            "store_failures": self.store_failures,
        }

    async def settle(self) -> None:
        """Wait until every queued grant is handled (tests, and a clean stop)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self, grace_s: float = 1.0) -> None:
        """Handle what is queued for up to `grace_s`, then stop; the floors are disabled
        and the web relay client closed (its queue given the same grace)."""
        if self._queue is not None and self._worker is not None:
            try:
                await asyncio.wait_for(self._queue.join(), grace_s)
            except TimeoutError:
                log.warning("stopping with grant actions still queued")
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._queue, self._worker = None, None
        if self.floors is not None:
            self.floors.close()
        if self.web_relay is not None:
            await self.web_relay.close(grace_s)
