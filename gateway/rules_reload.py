"""Keeps the engine's rules snapshot in step with the store.

Two kinds of writer change the rules: this daemon's own (every store write that moves the
rules reaches `reload_rules_if_changed` through `gateway.rule_changes`) and other processes
sharing the database (`door-gateway users import`, which `watch` notices within a poll
interval). Either way the store's change log says what changed: a worker thread with its
own connection re-reads only that (`gateway.store.rules.read_delta`), and the loop applies
it to the snapshot in synchronous steps of at most `APPLY_STEP` users or credentials (a
decision never sees half of one user's update, and the loop is never held for long). A
change too large for a delta, or a log pruned past the snapshot's position, is a full load
on the worker thread, swapped in with one assignment; its long-lived objects are then
frozen out of the garbage collector's scans (`gc.freeze`). Then every door re-evaluates its
schedules, and the log entries applied are pruned.

At start-up the engine decides on a `loading` snapshot (the shared tables only) while the
first full load runs on a worker thread (`watch` starts it at once). Until it is swapped in,
`StoreLookups.read_first` reads each presented credential, its owner and the shared tables
from SQLite on a worker thread, within `LOOKUP_DEADLINE_S`, into that snapshot just before
the decision: a credential not loaded yet is never refused for it, and one the store lacks,
or a store that fails or is too slow, is refused (fail closed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

from gateway.access.engine import AccessEngine
from gateway.access.snapshot import RulesDelta, RulesSnapshot
from gateway.access.totp import parse_payload
from gateway.doors.controller import DoorController
from gateway.doors.timers import LoopTimers
from gateway.memory import release_freed_memory
from gateway.model import Credential, CredentialKind
from gateway.rule_changes import RuleChanges
from gateway.store.db import open_database
from gateway.store.engine_state import EngineStateStore
from gateway.store.rules import (
    DELTA_LIMIT,
    load_snapshot,
    prune_changes,
    read_credential,
    read_delta,
)
from gateway.store.stores import Stores

log = logging.getLogger(__name__)

# Users or credentials applied in one synchronous step on the loop (about 1 ms of work).
APPLY_STEP = 500
# How long a decision during the first load waits for the store to read its credential.
LOOKUP_DEADLINE_S = 1.0


# Rounds of catching a full load up with the writes made while it was read, before it is
# swapped in anyway (the listener applies what is left as a delta).
CATCH_UP_ROUNDS = 20


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


def _dispose(snapshot: RulesSnapshot) -> None:
    """Empty a replaced snapshot, then give the memory back (on a worker thread)."""
    snapshot.drain()
    release_freed_memory()


class RulesReloader:
    """Brings the engine's rules snapshot up to date when the store's rules changed."""

    def __init__(
        self,
        store: EngineStateStore,
        engine: AccessEngine,
        doors: Mapping[str, DoorController],
        db_path: Path,
        delta_limit: int = DELTA_LIMIT,
    ) -> None:
        self._store, self._engine, self._doors, self._db_path = store, engine, doors, db_path
        self._delta_limit = delta_limit
        # Unknown at first: the first check compares the rules counters, so a write made
        # while the engine was loading its first snapshot is not missed.
        self._data_version = -1
        self._updating = asyncio.Lock()  # one update at a time, each from the last one's end
        self.deltas = 0  # changes applied as a delta since start
        self._loaded = asyncio.Event()  # set once a full load is in force
        self.full_loads = 0  # full loads since start

    async def reload_rules_if_changed(self, force: bool = False) -> bool:
        """Bring the snapshot up to date when the rules changed; True when they had.

        The stores' rules listener (`gateway.rule_changes`) passes `force=True`: writes through
        the stores' own connection do not move its `data_version`.

        `PRAGMA data_version` moves on any other connection's commit (journal writes
        included), so it only says when to read the rules counter.
        """
        loop = asyncio.get_running_loop()
        # Read on a worker thread: a write of another thread (an ACTAtek chunk) may hold the
        # stores' connection, and the doors' loop must not wait for it.
        data_version, rules_version = await loop.run_in_executor(None, self._versions)
        if data_version == self._data_version and not force:
            return False
        self._data_version = data_version
        if rules_version == self._engine.snapshot.version:
            return False
        if self._engine.snapshot.loading and self._updating.locked():
            # In force already: while loading, each credential is read from the store
            # (`StoreLookups`). The first load catches up on this change when it ends; a
            # writer (an API answer) does not wait the seconds that load takes.
            return True
        async with self._updating:
            was_loading = self._engine.snapshot.loading
            await self._update()
            if was_loading and await self._rules_version() != self._engine.snapshot.version:
                await self._update()  # the changes made while it loaded, as a delta
        return True

    def _versions(self) -> tuple[int, int]:
        return self._store.data_version(), self._store.rules_version()

    async def _rules_version(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self._store.rules_version)

    async def _update(self) -> None:
        loop = asyncio.get_running_loop()
        current = self._engine.snapshot
        after = None if current.loading else current.change_seq
        update = await loop.run_in_executor(None, self._read_update, after)
        if isinstance(update, RulesSnapshot):
            if update.version > current.version or current.loading:
                update = await self._caught_up(update)
                # No await between the catch-up's last check and this assignment: a write
                # after it reaches the listener and is applied as a delta.
                self._engine.snapshot = update
                del update
                # The old snapshot is emptied off the loop, then the memory goes back.
                await loop.run_in_executor(None, _dispose, current)
                del current
                gc.freeze()  # a million entries the collector need never scan again
                self.full_loads += 1
                self._loaded.set()
                log.info("access rules reloaded (version %s)", self._engine.snapshot.version)
        else:
            await self._apply(update)
            self.deltas += 1
            log.debug("access rules updated (version %s)", update.version)
        for door in self._doors.values():
            door.schedules_changed()
        applied = self._engine.snapshot.change_seq
        try:
            await loop.run_in_executor(None, self._prune, applied)
        except Exception:
            log.warning("could not prune the rules change log", exc_info=True)

    async def _caught_up(self, loaded: RulesSnapshot) -> RulesSnapshot:
        """`loaded` (a full load, not in force yet) with the writes made while it was read.

        Swapped in without them, it would decide from rules older than the old snapshot
        or the store lookups did (a user disabled meanwhile granted) until the next update.
        Writes that keep coming are caught up a few rounds, then left to the listener."""
        loop = asyncio.get_running_loop()
        for _ in range(CATCH_UP_ROUNDS):
            if await self._rules_version() == loaded.version:
                break
            update = await loop.run_in_executor(None, self._read_update, loaded.change_seq)
            if isinstance(update, RulesSnapshot):
                await loop.run_in_executor(None, _dispose, loaded)
                loaded = update
            else:
                await self._apply(update, loaded)
        return loaded

    async def _apply(self, delta: RulesDelta, snapshot: RulesSnapshot | None = None) -> None:
        """`delta` in steps of at most APPLY_STEP entries into `snapshot` (the engine's by
        default); the loop runs in between. Users come before credentials: a credential
        whose owner is not in yet is refused."""
        snapshot = snapshot if snapshot is not None else self._engine.snapshot
        steps = [
            dataclasses.replace(
                delta,
                users=delta.users[i : i + APPLY_STEP],
                credentials=(),
                shared=None,
                version=snapshot.version,
                change_seq=snapshot.change_seq,
            )
            for i in range(0, len(delta.users), APPLY_STEP)
        ]
        steps += [
            dataclasses.replace(
                delta,
                users=(),
                credentials=delta.credentials[i : i + APPLY_STEP],
                shared=None,
                version=snapshot.version,
                change_seq=snapshot.change_seq,
            )
            for i in range(0, len(delta.credentials), APPLY_STEP)
        ]
        for step in steps:
            snapshot.apply(step)
            await asyncio.sleep(0)
        snapshot.apply(dataclasses.replace(delta, users=(), credentials=()))

    def _read_update(self, after_seq: int | None) -> RulesDelta | RulesSnapshot:
        """The changes after `after_seq`, or every rule (None: a full load is asked for)."""
        conn = open_database(self._db_path, check_same_thread=False)
        try:
            delta = None if after_seq is None else read_delta(conn, after_seq, self._delta_limit)
            return delta if delta is not None else load_snapshot(conn)
        finally:
            conn.close()

    def _prune(self, applied_seq: int) -> None:
        conn = open_database(self._db_path, check_same_thread=False)
        try:
            prune_changes(conn, applied_seq)
        finally:
            conn.close()

    async def loaded(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the engine's rules to be fully loaded; whether they
        are (a snapshot that was never `loading` counts as loaded)."""
        if not self._engine.snapshot.loading:
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await self._loaded.wait()
        except TimeoutError:
            return False
        return True

    def status(self) -> dict[str, int]:
        """How the rules were brought up to date since start."""
        return {"rules_deltas": self.deltas, "rules_full_loads": self.full_loads}

    async def watch(self, interval_s: float, health: StoreHealth) -> None:
        """Pick up writes made by another process, every `interval_s`, until cancelled.

        Each check's outcome goes to `health` (the systemd status line): a store that
        cannot be read is reported there and in the log, and the checks go on. It never
        touches the watchdog: a loop that still decides keeps pinging (`gateway.service`).
        A `loading` snapshot is fully loaded at once, without waiting for the first poll."""
        first = self._engine.snapshot.loading
        while True:
            if not first:
                await asyncio.sleep(interval_s)
            first = False
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


class StoreLookups:
    """While the engine's snapshot is `loading`, reads each credential from the store
    before it is decided (see the module docstring)."""

    def __init__(
        self,
        engine: AccessEngine,
        db_path: Path,
        pin_hash: Callable[[str], str],
        deadline_s: float = LOOKUP_DEADLINE_S,
    ) -> None:
        self._engine, self._db_path, self._pin_hash = engine, db_path, pin_hash
        self._deadline_s = deadline_s
        self.lookups = 0  # credentials read from the store while loading

    @property
    def loading(self) -> bool:
        """True until the first full load is in force."""
        return self._engine.snapshot.loading

    async def read_first(self, credential: Credential) -> None:
        """Put what deciding `credential` needs, as the store has it now, into the loading
        snapshot. Raises (TimeoutError past the deadline, or the store's error): the caller
        refuses. Does nothing once the full load is in."""
        snapshot = self._engine.snapshot
        if not snapshot.loading:
            return
        value = credential.value
        if credential.kind == "pin":
            if not value.isascii():
                return  # no PIN can match (the engine says so)
            value = self._pin_hash(value)
        claimed = parse_payload(value) if credential.kind == "qr" else None
        also_user = claimed[0] if claimed is not None else None
        loop = asyncio.get_running_loop()
        read = functools.partial(
            self._read,
            credential.kind,
            value,
            also_user,
            snapshot.version,
            snapshot.change_seq,
        )
        self.lookups += 1
        delta = await asyncio.wait_for(loop.run_in_executor(None, read), self._deadline_s)
        if self._engine.snapshot is snapshot:  # else the full load came in meanwhile
            snapshot.apply(delta)

    def _read(
        self, kind: CredentialKind, value: str, also_user: str | None, version: int, seq: int
    ) -> RulesDelta:
        conn = open_database(self._db_path, check_same_thread=False)
        try:
            return read_credential(conn, kind, value, also_user, version, seq)
        finally:
            conn.close()
