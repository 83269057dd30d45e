"""When the next notification mail may go: after a short gathering, no sooner than the rate
bound allows, and not while backing off from a failing mail server. Pure: the caller
passes the monotonic time in, so tests move a clock instead of sleeping."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.settings import NotificationSettings
from gateway.upstream.forward import backoff_delay

__all__ = ["Pacer"]


@dataclass
class Pacer:
    """The mailer's timing rules, in monotonic seconds."""

    settings: NotificationSettings
    rng: Callable[[], float] = field(default=random.random)
    last_sent: float | None = None
    retry_at: float | None = None
    failures: int = 0

    @property
    def interval_s(self) -> float:
        """The shortest time between two mails: a minute over `max_per_minute`."""
        return 60.0 / self.settings.max_per_minute

    def due(self, first_waiting: float) -> float:
        """When a mail of what waits since `first_waiting` may go: `gather_s` after it (a
        burst becomes one mail), `interval_s` after the last mail (a storm becomes one
        summary per interval), and not before the retry of a failure."""
        at = first_waiting + self.settings.gather_s
        if self.last_sent is not None:
            at = max(at, self.last_sent + self.interval_s)
        if self.retry_at is not None:
            at = max(at, self.retry_at)
        return at

    def sent(self, now: float) -> None:
        """The server accepted a mail at `now`."""
        self.last_sent, self.retry_at, self.failures = now, None, 0

    def failed(self, now: float) -> float:
        """A mail was not accepted at `now`: the back-off before the next attempt."""
        self.failures += 1
        delay = backoff_delay(
            self.failures, self.settings.retry_initial_s, self.settings.retry_max_s, self.rng
        )
        self.retry_at = now + delay
        return delay
