"""The scheduler seam: door and feedback timers read time from here, never from sleeps.

Real code runs on the asyncio loop (`LoopTimers`); unit tests use a manual scheduler
(`tests.fakes.ManualTimers`) and move time forward instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Handle(Protocol):
    """A scheduled call that can still be cancelled."""

    def cancel(self) -> None: ...


class Timers(Protocol):
    """Monotonic time, timers, entry from other threads and fire-and-forget coroutines."""

    def now(self) -> float:
        """Monotonic seconds (the base of `call_at`)."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        """Run `callback` on the loop once `now()` reaches `when`."""
        ...

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback(*args)` on the loop; safe to call from a GPIO library thread."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine in the background; the caller never waits for it."""
        ...


class LoopTimers:
    """`Timers` on an asyncio event loop (its monotonic clock, its call_at)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return self._loop.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        return self._loop.call_at(when, callback)

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(callback, *args)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # The loop keeps only weak references to tasks: hold them until they finish.
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def cancel_all(self) -> None:
        """Cancel the coroutines still running (used on stop)."""
        for task in list(self._tasks):
            task.cancel()


class Later:
    """At most one pending call at a time: arming it again replaces the previous one."""

    def __init__(self, timers: Timers) -> None:
        self._timers = timers
        self._handle: Handle | None = None
        self.when: float | None = None

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run `callback` at monotonic `when`, cancelling whatever was pending."""
        self.cancel()
        self.when = when

        def fire() -> None:
            self._handle, self.when = None, None
            callback()

        self._handle = self._timers.call_at(when, fire)

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        """Run `callback` `seconds` from now, cancelling whatever was pending."""
        self.at(self._timers.now() + seconds, callback)

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self.when = None, None
