"""Keeps the engine's rules snapshot in step with the store.

Two kinds of writer change the rules: this daemon's own (every store write that moves the
rules reaches `reload_rules_if_changed` through `gateway.rule_changes`) and other processes
sharing the database (`door-gateway users import`, which `watch` notices within a poll
interval). The new snapshot is built on a worker
thread with its own connection and swapped in on the loop in one assignment, so a decision
never sees half an update; then every door re-evaluates its schedules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.access.engine import AccessEngine
from gateway.access.snapshot import RulesSnapshot
from gateway.doors.controller import DoorController
from gateway.store.db import open_database
from gateway.store.engine_state import EngineStateStore
from gateway.store.rules import load_snapshot

log = logging.getLogger(__name__)


class RulesReloader:
    """Swaps a new rules snapshot into the engine when the store's rules changed."""

    def __init__(
        self,
        store: EngineStateStore,
        engine: AccessEngine,
        doors: Mapping[str, DoorController],
        db_path: Path,
    ) -> None:
        self._store, self._engine, self._doors, self._db_path = store, engine, doors, db_path
        # Unknown at first: the first check compares the rules counters, so a write made
        # while the engine was loading its first snapshot is not missed.
        self._data_version = -1

    async def reload_rules_if_changed(self, force: bool = False) -> bool:
        """Swap in a new snapshot when the rules changed; True when it did.

        The stores' rules listener (`gateway.rule_changes`) passes `force=True`: writes through
        the stores' own connection do not move its `data_version`.

        `PRAGMA data_version` moves on any other connection's commit (journal writes
        included), so it only says when to read the rules counter.
        """
        data_version = self._store.data_version()
        if data_version == self._data_version and not force:
            return False
        self._data_version = data_version
        if self._store.rules_version() == self._engine.snapshot.version:
            return False
        loop = asyncio.get_running_loop()
        snapshot = await loop.run_in_executor(None, self._read_snapshot)
        if snapshot.version > self._engine.snapshot.version:
            self._engine.snapshot = snapshot
            log.info("access rules reloaded (version %s)", snapshot.version)
            for door in self._doors.values():
                door.schedules_changed()
        return True

    def _read_snapshot(self) -> RulesSnapshot:
        conn = open_database(self._db_path, check_same_thread=False)
        try:
            return load_snapshot(conn)
        finally:
            conn.close()

    async def watch(self, interval_s: float, alive: Callable[[], None]) -> None:
        """Pick up writes made by another process, every `interval_s`, until cancelled.

        `alive` is called after every check that worked (the systemd watchdog): a store
        that cannot be read any more stops the pings, and systemd restarts the daemon."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload_rules_if_changed()
                alive()
            except Exception:
                log.exception("store watch failed")
