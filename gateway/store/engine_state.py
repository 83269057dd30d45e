"""The engine's side of the store: the rules snapshot it decides on, the counters that
say when that snapshot is stale, and the state it saves across a restart (lockouts,
anti-passback, door and HTTP-unlock state, as JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from gateway.access.snapshot import RulesSnapshot
from gateway.store.connection import LockedConnection, TableStore
from gateway.store.rules import load_shared_snapshot, load_snapshot, read_rules_version

__all__ = ["EngineStateStore"]


class EngineStateStore(TableStore):
    """Rules snapshot and saved engine state. Built by `Stores.open`, or on its own by
    `EngineStateStore.open`."""

    @classmethod
    def open(cls, db_path: Path) -> EngineStateStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path))

    def rules_version(self) -> int:
        """The rules counter: it moves on every write to a rule table, by any process."""
        with self._reading() as conn:
            return read_rules_version(conn)

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes when another connection commits (the
        writes of the stores sharing this connection do not move it)."""
        return self._connection.data_version()

    def load_snapshot(self) -> RulesSnapshot:
        """Every access rule as the engine's indexed snapshot."""
        with self._connection.raw() as conn:
            return load_snapshot(conn)

    def load_shared_snapshot(self) -> RulesSnapshot:
        """The snapshot the engine starts on while its full load runs: the small shared
        tables only, marked `loading` (`gateway.store.rules.load_shared_snapshot`)."""
        with self._connection.raw() as conn:
            return load_shared_snapshot(conn)

    def save_engine_state(self, state: Mapping[str, object]) -> None:
        """Replace the engine's persisted state (anti-passback, counters...): JSON values."""
        rows = [(key, json.dumps(value, sort_keys=True)) for key, value in state.items()]
        with self._writing() as conn:
            conn.execute("DELETE FROM engine_state")
            conn.executemany("INSERT INTO engine_state (key, value) VALUES (?, ?)", rows)

    def load_engine_state(self) -> dict[str, object]:
        """The state last saved by `save_engine_state` ({} if none)."""
        with self._reading() as conn:
            rows = conn.execute("SELECT key, value FROM engine_state ORDER BY key").fetchall()
        return {key: json.loads(value) for key, value in rows}
