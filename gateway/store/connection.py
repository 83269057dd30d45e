"""One SQLite connection shared by threads: a lock around every use, and transactions
whose SQLite errors become `StoreError`s naming the file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from gateway.store.db import read_transaction, sqlite_errors, write_transaction


class LockedConnection:
    """Base of the store classes: `_writing()` and `_reading()` transactions, `close()`,
    and use as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, what: str = "database") -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self._what = f"{what} {path}"

    def close(self) -> None:
        """Close the connection (waits for a statement in progress on another thread)."""
        with self._lock:
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

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_errors(self._what), write_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, sqlite_errors(self._what), read_transaction(self._conn) as conn:
            yield conn
