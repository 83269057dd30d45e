"""One SQLite connection shared by threads and by the stores built over it.

A lock around every use; transactions whose SQLite errors become `StoreError`s naming the
file; and one listener told after each committed write that moved the access rules, so
the engine follows every write to the rules whichever store or caller made it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.store.db import open_database, read_transaction, sqlite_errors, write_transaction
from gateway.store.rules import read_rules_version

log = logging.getLogger(__name__)

RulesListener = Callable[[], None]


class ClosedOnExit:
    """`with` support for anything that has a `close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LockedConnection(ClosedOnExit):
    """A connection with `writing()` and `reading()` transactions, shared by threads
    (hence `check_same_thread=False` and a reentrant lock around every call)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, what: str = "database") -> None:
        self._conn = conn
        self.lock = threading.RLock()
        self.path = path
        self.what = f"{what} {path}"
        self._rules_listener: RulesListener | None = None

    @classmethod
    def open(cls, db_path: Path, what: str = "database") -> LockedConnection:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`."""
        return cls(open_database(db_path, check_same_thread=False), db_path, what)

    def on_rules_changed(self, listener: RulesListener | None) -> None:
        """Call `listener()` after each committed write through this connection that moved
        `rules_version` (once per transaction, however many rows it touched). It runs on
        the writing thread, after the lock is released; it must not block. A refused or
        failed write, and one that changed no rule, call nothing."""
        self._rules_listener = listener

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes when another connection commits."""
        with self.lock, sqlite_errors(self.what):
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, then the rules listener if the rules moved."""
        with self.lock, sqlite_errors(self.what), write_transaction(self._conn) as conn:
            before = read_rules_version(conn)
            yield conn
            moved = read_rules_version(conn) != before
        if moved:  # committed, and the lock is free again
            self._tell_rules_changed()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state."""
        with self.lock, sqlite_errors(self.what), read_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def raw(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, outside any transaction (for statements that
        manage their own, like `rules.load_snapshot`)."""
        with self.lock, sqlite_errors(self.what):
            yield self._conn

    def _tell_rules_changed(self) -> None:
        listener = self._rules_listener
        if listener is None:
            return
        try:
            listener()
        except Exception:  # the write is committed: a failing listener must not undo that
            log.exception("rules listener failed")

    def close(self) -> None:
        """Close the connection (waits for a statement in progress on another thread)."""
        with self.lock:
            self._conn.close()


class TableStore(ClosedOnExit):
    """Base of the stores: a few tables over a `LockedConnection`.

    The daemon builds every store over one shared connection (`gateway.store.stores`);
    `open` gives a store its own, for the CLI and tests. `close()` closes the connection,
    so a store over a shared one is closed with its `Stores`, never on its own.
    """

    def __init__(self, connection: LockedConnection) -> None:
        self._connection = connection

    @property
    def connection(self) -> LockedConnection:
        """The connection this store works over."""
        return self._connection

    @property
    def path(self) -> Path:
        """The database file."""
        return self._connection.path

    @property
    def _lock(self) -> threading.RLock:
        # Held across a read and the write it decides (reentrant: the transactions inside
        # take it again).
        return self._connection.lock

    def _writing(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connection.writing()

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._connection.reading()

    def close(self) -> None:
        """Close the connection this store was opened with (see the class docstring)."""
        self._connection.close()
