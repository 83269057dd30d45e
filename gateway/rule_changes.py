"""Follows this daemon's writes to the access rules into the engine.

The stores call `rules_changed()` after every committed write that moved the rules
(`Stores.on_rules_changed`), whichever store, handler or command made it, so no caller has
to remember to ask for a reload. Each call asks for one reload; calls that come while a
reload runs are served together by the next one. Whoever must see a write in force before
going on awaits `settled()`. A reload that fails (the disk) is logged and tried again
every `retry_s` until one works.

The web server runs each request in a `batch()` (`gateway.web.rules_in_force`): changes
made inside it, on its task or the worker threads it starts with `asyncio.to_thread`, are
reloaded once, when it ends, and its end waits until they are in force. So an ACTAtek
array of 500 users builds one snapshot, not one per user, and its answer leaves with all
of them in force. A change the batch cannot see (a thread started without its context)
reloads at once, as any change outside a batch does: only the saving is lost, never the
reload.

Writes made by other processes (`door-gateway users import`) do not come through here:
`gateway.rules_reload` polls the store for those.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from gateway.doors.timers import Later, Timers

log = logging.getLogger(__name__)

RETRY_S = 1.0


class _Batch(AbstractAsyncContextManager[None]):
    """An open `RuleChanges.batch()`: its changes wait for its end. A plain class, not a
    generator: every web request runs in one, and most change nothing."""

    def __init__(self, owner: RuleChanges) -> None:
        self.owner = owner
        self.open = True
        self._token: contextvars.Token[_Batch | None] | None = None

    async def __aenter__(self) -> None:
        self._token = _BATCH.set(self)

    async def __aexit__(self, *exc_info: object) -> None:
        self.open = False  # from now on, a change from its context reloads at once
        if self._token is not None:
            _BATCH.reset(self._token)
        if self.owner.waiting():
            await self.owner.settled()


_BATCH: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("rules_batch", default=None)


class RuleChanges:
    """Reloads the rules after each change the stores report; see the module docstring."""

    def __init__(
        self, timers: Timers, reload: Callable[[], Awaitable[Any]], retry_s: float = RETRY_S
    ) -> None:
        self._timers = timers
        self._reload = reload
        self._retry_s = retry_s
        self._count_lock = threading.Lock()
        self._heard = 0  # changes reported so far (from any thread)
        self._applied = 0  # changes the engine's rules include
        self._running: asyncio.Task[None] | None = None
        self._retry = Later(timers)
        self._closed = False
        self.reloads = 0  # reloads done since start
        self.failures = 0  # reloads that failed since start

    def rules_changed(self) -> None:
        """A write that moved the rules was committed. Any thread; never blocks."""
        with self._count_lock:
            self._heard += 1  # before looking at the batch: its end reads this
        batch = _BATCH.get()
        if batch is not None and batch.owner is self and batch.open:
            return  # the batch's end reloads
        self._timers.call_soon_threadsafe(self._start_again)

    def batch(self) -> AbstractAsyncContextManager[None]:
        """Hold back the reload of the changes made inside until the end, then wait until
        every change reported so far is in force (see the module docstring)."""
        return _Batch(self)

    def waiting(self) -> bool:
        """Whether a change reported so far is not in the engine's rules yet."""
        return self._applied < self._heard

    async def settled(self) -> None:
        """Return once every change reported so far is in the engine's rules. Raises
        what the reload raised if it failed (it is tried again in the background)."""
        wanted = self._heard
        while self._applied < wanted:
            task = self._start()
            if task is None:  # closed
                return
            await asyncio.shield(task)

    async def close(self) -> None:
        """Stop reloading (the daemon is stopping); a reload under way is cancelled and
        waited for, so nothing reads the store after it closes."""
        self._closed = True
        self._retry.cancel()
        if self._running is not None:
            self._running.cancel()
            await asyncio.wait({self._running})

    def status(self) -> dict[str, Any]:
        """Plain-dict status: reloads done, failed, and changes waiting for one."""
        return {
            "reloads": self.reloads,
            "reload_failures": self.failures,
            "changes_waiting": self._heard - self._applied,
        }

    def _start(self) -> asyncio.Task[None] | None:
        """The reload task that will include every change heard of so far."""
        if self._closed:
            return None
        if self._running is None or self._running.done():
            if self._applied >= self._heard:
                return None
            self._retry.cancel()
            self._running = asyncio.get_running_loop().create_task(self._catch_up())
            self._running.add_done_callback(self._finished)
        return self._running

    async def _catch_up(self) -> None:
        while self._applied < self._heard:
            wanted = self._heard
            await self._reload()
            self.reloads += 1
            self._applied = wanted

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        self.failures += 1
        log.error("access rules not reloaded, trying again in %.0f s: %s", self._retry_s, error)
        self._retry.after(self._retry_s, self._start_again)

    def _start_again(self) -> None:
        """`_start` as a callback (from another thread, or a timer)."""
        self._start()
