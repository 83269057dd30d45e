"""Opening the SQLite file: pragmas, sanity checks and schema migrations."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store.errors import StoreError
from gateway.store.schema import LATEST_VERSION, MIGRATIONS, Migration

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


def open_database(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the gateway database at `path` and migrate it.

    The connection is in autocommit mode: callers group writes with `write_transaction`.
    Raises `StoreError` with a message fit for an installer when the file is not a
    SQLite database, belongs to something else, or was written by a newer door-gateway.
    """
    _check_magic(path)
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=check_same_thread, timeout=5.0
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    try:
        _configure(conn)
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(
            f"{path} is not a usable door-gateway database ({exc}); "
            "move it aside or restore a backup"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _check_magic(path: Path) -> None:
    # SQLite only notices a foreign file at the first query, with a terse message; reading
    # the 16-byte header first lets us say what is wrong and where.
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from exc
    if header and header != SQLITE_MAGIC:
        raise StoreError(
            f"{path} is not a SQLite database (wrong file header); "
            "check the path, or move the file aside to start with an empty database"
        )


def _configure(conn: sqlite3.Connection) -> None:
    # WAL lets the CLI and the web API write while the daemon reads; NORMAL is safe with
    # WAL (no corruption on power loss, at worst the last commits are lost).
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot switch the database to WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


@contextmanager
def sqlite_errors(what: str) -> Iterator[None]:
    """Turn a raw sqlite3 error into `StoreError` naming `what` (e.g. "database /x.db").

    Our own checks raise ValidationError first; a raw sqlite3 error means a lock held for
    too long, a full disk or a damaged file.
    """
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"{what}: {exc}") from exc


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
    of one failing half-way with SQLITE_BUSY when it upgrades a read lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file; 0 for a file without our tables."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Apply every pending migration step, one transaction each; return the final version."""
    version = _checked_version(conn, path)
    for step in MIGRATIONS:
        if step.version > version:
            try:
                version = _apply(conn, path, step)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"migrating {path} to schema version {step.version} ({step.description}) "
                    f"failed: {exc}; the database was left at version {version}"
                ) from exc
    return version


def _checked_version(conn: sqlite3.Connection, path: Path) -> int:
    version = schema_version(conn)
    if version > LATEST_VERSION:
        raise StoreError(
            f"database {path} has schema version {version}, this door-gateway knows up to "
            f"{LATEST_VERSION}; upgrade door-gateway or restore a backup"
        )
    if version == 0:
        foreign = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'schema_version' LIMIT 1"
        ).fetchone()
        if foreign is not None:
            raise StoreError(
                f"{path} is a SQLite database but not a door-gateway one (it has a table "
                f"{foreign[0]!r} and no schema_version); check the path"
            )
    return version


def _apply(conn: sqlite3.Connection, path: Path, step: Migration) -> int:
    with write_transaction(conn):
        # Another process (the daemon and a CLI starting together) may have migrated
        # while we waited for the write lock: look again under the lock.
        current = _checked_version(conn, path)
        if current >= step.version:
            return current
        if current == 0:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        for statement in step.statements:
            conn.execute(statement)
        conn.execute("UPDATE schema_version SET version = ?", (step.version,))
    return step.version


def multimap(
    conn: sqlite3.Connection, sql: str, args: Sequence[object] = ()
) -> dict[Any, list[Any]]:
    """Rows of (key, value) grouped into key -> [values], in the query's order."""
    # sqlite3 rows are untyped; the SQL fixes the real types.
    result: dict[Any, list[Any]] = defaultdict(list)
    for key, value in conn.execute(sql, args):
        result[key].append(value)
    return result
