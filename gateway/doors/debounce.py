"""Debounced door inputs: a level counts once it has been stable for the settle time.

A reed contact or a push button chatters for a few milliseconds when it moves. Trailing
settle (rather than acting on the first edge) keeps a single spike of electrical noise
from raising a forced-open alarm; the cost is `settle_s` of latency, 50 ms by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.doors.timers import Later, Timers

# Called with (new level, monotonic time of the first edge of the change).
Commit = Callable[[bool, float], None]


@dataclass
class InputStats:
    """What the status page shows about an input's edges."""

    edges: int = 0
    ignored_stale: int = 0


class Debouncer:
    """Turns raw edges into settled level changes, on the timer seam.

    Edge timestamps (from the pin factory) are used to drop edges that arrive out of
    order; the settle deadline is taken from the loop's clock when the edge is handled, so
    a delay between the GPIO thread and the loop can only lengthen the debounce.
    """

    def __init__(self, timers: Timers, settle_s: float, initial: bool, commit: Commit) -> None:
        self._timers = timers
        self._settle_s = settle_s
        self._commit = commit
        self.level = initial  # the settled level
        self._pending = initial  # the level of the newest edge
        self._first_edge_at: float | None = None
        self._last_edge_ts: float | None = None
        self._timer = Later(timers)
        self.stats = InputStats()

    def edge(self, timestamp: float, level: bool) -> bool:
        """A raw edge from the line (timestamp in the pin factory's seconds); False when
        it was dropped as stale (older than the newest edge seen)."""
        if self._last_edge_ts is not None and timestamp < self._last_edge_ts:
            self.stats.ignored_stale += 1
            return False
        self._last_edge_ts = timestamp
        self.stats.edges += 1
        self._pending = level
        if level == self.level and self._first_edge_at is None:
            return True  # nothing to settle: still at the settled level
        if self._first_edge_at is None:
            self._first_edge_at = self._timers.now()
        if self._settle_s <= 0:
            self._settle()
        else:
            self._timer.after(self._settle_s, self._settle)
        return True

    def _settle(self) -> None:
        first_edge_at, self._first_edge_at = self._first_edge_at, None
        if self._pending == self.level or first_edge_at is None:
            return  # bounced back: no change
        self.level = self._pending
        self._commit(self.level, first_edge_at)

    @property
    def settling(self) -> bool:
        return self._first_edge_at is not None

    def cancel(self) -> None:
        self._timer.cancel()
        self._first_edge_at = None
