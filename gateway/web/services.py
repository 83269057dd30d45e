"""What the web layer asks of the running daemon: one narrow protocol per service.

The composition root (`gateway.app`) hands the web layer objects that fit these; nothing
under `gateway/web/` builds or looks up a service itself (docs/architecture.md, "What may
import what"). The door commands' protocol is `gateway.web.doors.DoorControl`, the
simulation's `gateway.web.sim.SimulationControl`.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.model import Event, StoredEvent


class EventSubscription(Protocol):
    """A live reader's bounded queue of durable events (`gateway.event_feed.Subscription`)."""

    overflowed: bool  # the reader fell too far behind: it must go, and come back
    ended: bool  # no more events will come (the daemon stops)

    async def take(self, timeout_s: float) -> list[StoredEvent]: ...

    def end(self) -> None: ...

    def close(self) -> None: ...


class StatusSource(Protocol):
    """Every component's status, gathered (`gateway.status.StatusBoard`)."""

    def status(self) -> dict[str, Any]: ...


class EventLog(Protocol):
    """The event journal (`gateway.recorder.Recorder`)."""

    def emit(self, event: Event) -> None: ...

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...

    async def flush(self) -> None: ...

    async def durable(self) -> None: ...

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]: ...

    def subscribe(self, max_queued: int) -> EventSubscription: ...

    def last_seq(self) -> int: ...


class Accounts(Protocol):
    """Technician logins and password changes (`gateway.accounts.TechnicianAccounts`)."""

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None: ...

    def password_change_required(self, username: str) -> bool: ...

    async def change_password(self, username: str, new: str) -> None: ...
