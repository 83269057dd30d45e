"""Every store of the gateway database, from one open.

The daemon opens the database once: the user, organisation, technician, engine-state and
terminal stores share one locked connection (their writes are short and queue on its
lock), and the agents have one of their own (their cursors are synced at every commit).
Callers take the narrow store they need. One listener, set with `on_rules_changed`, hears
of every committed write that moved the access rules, whichever store made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.access.pins import PinHasher
from gateway.store.agents import AgentStore
from gateway.store.connection import ClosedOnExit, LockedConnection, RulesListener
from gateway.store.engine_state import EngineStateStore
from gateway.store.organisation import OrganisationStore
from gateway.store.technicians import TechnicianStore
from gateway.store.terminal_settings import TerminalStore
from gateway.store.users import UserStore
from gateway.store.validate import AKUVOX_PIN_LENGTHS, PinLengths

__all__ = ["Stores"]


@dataclass(frozen=True)
class Stores(ClosedOnExit):
    """The stores over one gateway database. Open with `Stores.open`; close once, with
    `close()` (never a store on its own: they share the connection)."""

    users: UserStore
    organisation: OrganisationStore
    technicians: TechnicianStore
    engine_state: EngineStateStore
    terminal: TerminalStore
    agents: AgentStore
    _connections: tuple[LockedConnection, ...] = field(repr=False)

    @classmethod
    def open(
        cls, db_path: Path, hasher: PinHasher, pins: PinLengths = AKUVOX_PIN_LENGTHS
    ) -> Stores:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`. `pins`:
        the PIN lengths the user store accepts."""
        shared = LockedConnection.open(db_path)
        try:
            agents = AgentStore.open(db_path)
        except BaseException:
            shared.close()
            raise
        return cls(
            users=UserStore(shared, hasher, pins),
            organisation=OrganisationStore(shared),
            technicians=TechnicianStore(shared),
            engine_state=EngineStateStore(shared),
            terminal=TerminalStore(shared),
            agents=agents,
            _connections=(shared, agents.connection),
        )

    def on_rules_changed(self, listener: RulesListener | None) -> None:
        """Call `listener()` after each committed write, through any of these stores, that
        moved the access rules (see `LockedConnection.on_rules_changed`)."""
        for connection in self._connections:
            connection.on_rules_changed(listener)

    def close(self) -> None:
        """Close every connection (the agents' first: the forwarder stops before this)."""
        for connection in reversed(self._connections):
            connection.close()
