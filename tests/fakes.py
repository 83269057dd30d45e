"""Fakes with verbs for unit tests."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any


class ManualClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0

    @classmethod
    def at(cls, when: datetime) -> ManualClock:
        """A clock set to an aware datetime."""
        return cls(when.timestamp())

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._wall += seconds
        self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock (NTP, an admin, a Pi booting with yesterday's time) by
        `seconds`, back when negative; monotonic time does not move."""
        self._wall += seconds

    def set(self, when: datetime) -> None:
        """Jump the wall clock to an aware datetime (monotonic moves by the same amount)."""
        delta = when.timestamp() - self._wall
        self._wall += delta
        self._mono += max(delta, 0.0)


class ManualHandle:
    """A call scheduled on `ManualTimers`."""

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualTimers:
    """The `gateway.doors.timers.Timers` seam on a ManualClock: nothing runs until a test
    calls `advance()`; then every call due runs in time order, with the clock set to its
    time. Threadsafe entry runs at once (a test is the only thread)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, ManualHandle]] = []
        self._seq = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []

    def now(self) -> float:
        return self.clock.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> ManualHandle:
        handle = ManualHandle(when, callback)
        heapq.heappush(self._queue, (when, next(self._seq), handle))
        return handle

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        callback(*args)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro))

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running every call that falls due on the way."""
        target = self.now() + seconds
        while self._queue and self._queue[0][0] <= target + 1e-9:
            when, _, handle = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            self.clock.advance(max(0.0, when - self.now()))
            handle.callback()
        self.clock.advance(max(0.0, target - self.now()))

    def advance_to(self, when: datetime) -> None:
        """Advance until the wall clock shows the aware datetime `when`."""
        self.advance(when.timestamp() - self.clock.time())

    @property
    def pending(self) -> int:
        """How many calls are still scheduled."""
        return sum(1 for _, _, handle in self._queue if not handle.cancelled)

    async def settle(self) -> None:
        """Let spawned coroutines (input actions) run to completion."""
        while self._tasks:
            tasks, self._tasks = self._tasks, []
            await asyncio.gather(*tasks)
