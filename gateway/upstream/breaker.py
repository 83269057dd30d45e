"""Circuit breaker for the upstream server, and the latency figures of its requests.

closed --(N consecutive failures)--> open --(open period over)--> half_open
half_open: exactly one request (the probe) goes through; its success closes the breaker,
its failure reopens it for twice as long (up to the maximum).

While the breaker is open a miss is not sent at all: the caller decides at once by the
door's offline policy instead of making a person wait `timeout_s` at every door. Time is
an input (a monotonic clock function), so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

BreakerState = Literal["closed", "open", "half_open"]
Admission = Literal["pass", "probe", "reject"]
LATENCY_WINDOW = 100


@dataclass
class _Counts:
    """Totals since start, for the status page."""

    requests: int = 0
    failures: int = 0
    rejected: int = 0
    trips: int = 0


class LatencyWindow:
    """The last `size` request latencies, with nearest-rank percentiles."""

    def __init__(self, size: int = LATENCY_WINDOW) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    def percentile(self, pct: float) -> float | None:
        """The `pct` percentile in seconds (nearest rank), None with no samples."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(pct / 100 * len(ordered)))
        return ordered[rank - 1]

    def status(self) -> dict[str, Any]:
        def ms(pct: float) -> float | None:
            value = self.percentile(pct)
            return None if value is None else round(value * 1000, 1)

        return {"count": len(self._samples), "p50": ms(50), "p95": ms(95), "p99": ms(99)}


class CircuitBreaker:
    """Counts consecutive failures; opens, probes and closes as described above."""

    def __init__(
        self,
        failures: int,
        open_s: float,
        max_open_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._threshold = failures
        self._open_s = open_s
        self._max_open_s = max(max_open_s, open_s)
        self._clock = clock
        self._state: BreakerState = "closed"
        self._consecutive = 0
        self._open_until = 0.0
        self._period = open_s
        self._probe_out = False
        self._last_error = ""
        self._last_error_at: float | None = None
        self._counts = _Counts()
        self.latency = LatencyWindow()

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose period is over reads as half_open)."""
        if self._state == "open" and self._clock() >= self._open_until:
            self._state = "half_open"
        return self._state

    def admit(self) -> Admission:
        """May a request go out now? "probe" means it is the half-open probe: report it."""
        state = self.state
        if state == "closed":
            return "pass"
        if state == "half_open" and not self._probe_out:
            self._probe_out = True
            return "probe"
        self._counts.rejected += 1
        return "reject"

    def record(self, admission: Admission, ok: bool, latency_s: float, error: str = "") -> None:
        """The outcome of an admitted request (`ok` False: a failure that counts)."""
        self._counts.requests += 1
        self.latency.add(latency_s)
        if not ok:
            self._counts.failures += 1
            self._last_error, self._last_error_at = error, self._clock()
        if admission == "probe":
            self._probe_out = False
            if ok:
                self._close()
            else:
                self._trip(escalate=True)
        elif self._state == "closed":
            # Answers to requests sent before a trip arrive late: they change nothing.
            self._consecutive = 0 if ok else self._consecutive + 1
            if self._consecutive >= self._threshold:
                self._trip(escalate=False)

    def abandon(self, admission: Admission) -> None:
        """An admitted request was cancelled before it finished: free the probe slot."""
        if admission == "probe":
            self._probe_out = False

    def _trip(self, escalate: bool) -> None:
        # A failed probe doubles the period; a trip from closed starts from the base.
        self._period = min(self._period * 2, self._max_open_s) if escalate else self._open_s
        self._state, self._open_until = "open", self._clock() + self._period
        self._consecutive = 0
        self._counts.trips += 1

    def _close(self) -> None:
        self._state, self._consecutive, self._period = "closed", 0, self._open_s

    def status(self) -> dict[str, Any]:
        """Plain-dict status for the status page and /metrics."""
        state, now = self.state, self._clock()
        counts = self._counts
        return {
            "state": state,
            "consecutive_failures": self._consecutive,
            "open_remaining_s": round(max(0.0, self._open_until - now), 1)
            if state == "open"
            else 0.0,
            "open_period_s": self._period,
            "requests": counts.requests,
            "failures": counts.failures,
            "rejected": counts.rejected,
            "trips": counts.trips,
            "last_error": self._last_error,
            "last_error_age_s": None
            if self._last_error_at is None
            else round(now - self._last_error_at, 1),
            "latency_ms": self.latency.status(),
        }
