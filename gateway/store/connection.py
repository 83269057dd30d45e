"""One SQLite connection shared by threads and by the stores built over it: a lock around
every use, and transactions whose SQLite errors become `StoreError`s naming the file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.store.db import open_database, read_transaction, sqlite_errors, write_transaction


class LockedConnection:
    """A connection with `writing()` and `reading()` transactions, shared by threads
    (hence `check_same_thread=False` and a reentrant lock around every call)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, what: str = "database") -> None:
        self._conn = conn
        self.lock = threading.RLock()
        self.path = path
        self.what = f"{what} {path}"

    @classmethod
    def open(cls, db_path: Path, what: str = "database") -> LockedConnection:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`."""
        return cls(open_database(db_path, check_same_thread=False), db_path, what)

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes when another connection commits."""
        with self.lock, sqlite_errors(self.what):
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed, or rolled back on any exception."""
        with self.lock, sqlite_errors(self.what), write_transaction(self._conn) as conn:
            yield conn

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

    def close(self) -> None:
        """Close the connection (waits for a statement in progress on another thread)."""
        with self.lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class TableStore:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
