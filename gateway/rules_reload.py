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
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

from gateway.access.engine import AccessEngine
from gateway.access.snapshot import RulesSnapshot
from gateway.doors.controller import DoorController
from gateway.doors.timers import LoopTimers
from gateway.rule_changes import RuleChanges
from gateway.store.db import open_database
from gateway.store.engine_state import EngineStateStore
from gateway.store.rules import load_snapshot
from gateway.store.stores import Stores

log = logging.getLogger(__name__)


class StoreHealth(Protocol):
    """Where the store watch reports each check (`gateway.service.StoreHealthReport`)."""

    def store_ok(self) -> None: ...

    def store_failed(self, error: Exception) -> None: ...


def follow_rule_changes(
    stores: Stores,
    engine: AccessEngine,
    doors: Mapping[str, DoorController],
    db_path: Path,
    stack: AsyncExitStack,
) -> tuple[RulesReloader, RuleChanges]:
    """The reloader of `engine`'s rules, and the one listener that runs it after every
    store write that moves the rules, from here on (any store, any caller); the listener's
    close (a reload under way is cancelled and awaited) goes on `stack`. Runs on the loop."""
    rules = RulesReloader(stores.engine_state, engine, doors, db_path)
    reload = functools.partial(rules.reload_rules_if_changed, force=True)
    changes = RuleChanges(LoopTimers(asyncio.get_running_loop()), reload)
    stores.on_rules_changed(changes.rules_changed)
    stack.push_async_callback(changes.close)
    return rules, changes


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

    async def watch(self, interval_s: float, health: StoreHealth) -> None:
        """Pick up writes made by another process, every `interval_s`, until cancelled.

        Each check's outcome goes to `health` (the systemd status line): a store that
        cannot be read is reported there and in the log, and the checks go on. It never
        touches the watchdog: a loop that still decides keeps pinging (`gateway.service`)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload_rules_if_changed()
            except Exception as exc:
                log.exception("store watch failed")
                health.store_failed(exc)
            else:
                health.store_ok()

    @asynccontextmanager
    async def watching(self, interval_s: float, health: StoreHealth) -> AsyncIterator[None]:
        """`watch` runs as a task for the length of the block; leaving it cancels the task
        and waits for it to end (a stop leaves no task behind)."""
        task = asyncio.get_running_loop().create_task(self.watch(interval_s, health))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.wait({task})
