"""What the ACTAtek handlers may use of the running gateway: one context, filled in by the
composition root, reached from a request with `context_of`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from gateway.clock import Clock
from gateway.store.log_records import LogQuery, LogRow
from gateway.web.actatek.session import session_of
from gateway.web.rules_in_force import RulesInForce
from gateway.web.services import Accounts, EventLog

if TYPE_CHECKING:
    from gateway.actatek_settings import TerminalFunctions
    from gateway.doors.controller import DoorController
    from gateway.model import Event
    from gateway.settings import Settings
    from gateway.store.journal import EventJournal
    from gateway.store.stores import Stores
    from gateway.upstream.forward import Forwarder


class LogListing(Protocol):
    """One getLogs listing being read (`gateway.store.log_query.LogCursor`); each call
    blocks on the database, so handlers run them on a worker thread."""

    def fetch(self, size: int = 1000) -> list[LogRow]:
        """The next `size` logs at most; [] at the end."""
        ...

    def close(self) -> None: ...


class LogOpener(Protocol):
    """Opens a listing of the journal's logs (blocking: on a worker thread)."""

    def __call__(self, query: LogQuery, out_readers: Sequence[str], /) -> LogListing: ...


@dataclass(frozen=True)
class ManagementContext:
    """What the management API works with, handed over by the composition root.

    The records and settings it manages (`stores`, `journal` and its log listings
    `open_logs`, `terminal`, `forwarder`), the batch each request's rules changes run in
    (`rule_changes`, `gateway.web.rules_in_force`), and the daemon's services behind their
    protocols (`gateway.web.services`); the methods below are the services' calls that
    handlers make most."""

    settings: Settings
    clock: Clock
    stores: Stores  # handlers take the narrow store they need: users, organisation...
    journal: EventJournal
    open_logs: LogOpener  # getLogs listings (`gateway.store.log_query.LogCursor`)
    doors: Mapping[str, DoorController]
    # Logs, time and terminal functions (sections 2, 10, 11) and agents (section 9).
    terminal: TerminalFunctions
    forwarder: Forwarder
    events: EventLog
    accounts: Accounts
    rule_changes: RulesInForce

    def emit(self, event: Event) -> None:
        self.events.emit(event)

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None:
        return await self.accounts.verify_login(username, password)

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        self.events.record_api(reason, username, detail)

    async def flush_journal(self) -> None:
        """Wait until what was journaled so far can be read back (not if the disk refuses)."""
        await self.events.flush()

    async def journal_durable(self) -> None:
        """Wait until what was journaled so far is durable; `StoreError` if it is not."""
        await self.events.durable()


CONTEXT = web.AppKey("actatek_context", ManagementContext)


def context_of(request: web.Request) -> ManagementContext:
    return request.app[CONTEXT]


def journal(request: web.Request, reason: str, detail: str) -> None:
    """Record who changed what (never a PIN or a secret in `detail`)."""
    context_of(request).record_api(reason, session_of(request).username, detail)
