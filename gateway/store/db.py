"""Opening the SQLite file: pragmas, sanity checks and schema migrations."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.store.errors import StoreError
from gateway.store.schema import LATEST_VERSION, MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 5000
WAL_SIZE_LIMIT = 4 * 1024 * 1024


def open_database(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the gateway database at `path` and migrate it.

    The connection is in autocommit mode: callers group writes with `write_transaction`.
    Raises `StoreError` with a message fit for an installer: a full disk or an I/O error is
    named as such; a file that is not a SQLite database, belongs to something else or was
    written by a newer door-gateway is told apart from those.

    Only SQLite ever opens the file: closing any other descriptor of it would drop every
    POSIX lock this process holds on it, and the next process to close the database would
    then delete the write-ahead log under the connections still open here.

    The file and its `-wal` and `-shm` are private (0600) whatever the umask (`_connect`).
    """
    try:
        conn = _connect(path, check_same_thread)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {explain(exc, path)}") from exc
    try:
        _configure(conn)
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(unusable_database(exc, path)) from exc
    except BaseException:
        conn.close()
        raise
    return conn


_COMPANIONS = ("-wal", "-shm")


def _connect(path: Path, check_same_thread: bool) -> sqlite3.Connection:
    """`sqlite3.connect`, with the database file and its companions private.

    SQLite creates a database file 0644 minus the umask, and gives its -wal and -shm
    exactly the database file's mode. So a new file is created under umask 077, which makes
    it 0600 from its first instant (a chmod afterwards would leave a moment in which someone
    else could open it); the umask is process-wide, so it is changed only to create the file.
    A file an earlier version left open to others is made 0600 first, by path (never by a
    second descriptor: see `open_database`).
    """
    previous = os.umask(0o077) if _make_private(path) else None
    try:
        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=check_same_thread, timeout=5.0
        )
    finally:
        if previous is not None:
            os.umask(previous)


def _make_private(path: Path) -> bool:
    """Take group and other permissions off `path` and its -wal and -shm where we may;
    True when the database file does not exist yet."""
    missing = False
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _COMPANIONS)):
        try:
            mode = stat.S_IMODE(os.stat(file).st_mode)
            if mode & 0o077:
                os.chmod(file, mode & 0o700)
        except FileNotFoundError:
            missing = missing or file == path
        except OSError:
            pass  # another user's file, a read-only disk: SQLite will name the problem
    return missing


# SQLite's primary result codes (the low byte of an extended code) that say the storage,
# not the file's content, is at fault.
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26


def error_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of `exc`, when it carries one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_storage_fault(exc: BaseException) -> bool:
    """True when `exc` says the disk is full or failing, not that the file is damaged."""
    if isinstance(exc, StoreError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if not isinstance(exc, sqlite3.Error):
        return isinstance(exc, OSError)
    return error_code(exc) in (SQLITE_FULL, SQLITE_IOERR) or "disk is full" in str(exc)


def unusable_database(exc: sqlite3.Error, path: Path) -> str:
    """What an installer should read when `path` could not be opened or migrated."""
    code = error_code(exc)
    if code in (SQLITE_NOTADB, SQLITE_CORRUPT):
        # Without a second descriptor on the file, SQLite cannot tell a foreign file from a
        # wrecked header: both say "file is not a database".
        what = "not a SQLite database, or a damaged one" if code == SQLITE_NOTADB else "damaged"
        return (
            f"{path} is not a usable door-gateway database: {what} ({exc}); check the path, "
            "then move the file aside to start with an empty database, or restore a backup"
        )
    return f"cannot use database {path}: {explain(exc, path)}"


def explain(exc: sqlite3.Error, path: Path) -> str:
    """`exc` in an installer's words: what is wrong with the storage and what to do."""
    code = error_code(exc)
    if code == SQLITE_FULL or "disk is full" in str(exc):
        return f"{free_space(path)}: free space, then restart"
    if code == SQLITE_IOERR:
        if disk_full(path):  # creating the -shm or -wal file fails as an I/O error
            return f"{free_space(path)}: free space, then restart"
        return f"I/O error on {mount_point(path)} ({exc}): check the storage, then restart"
    if code in (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN):
        return f"{exc}: check that the directory exists, is writable, and is not read-only"
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return f"{exc}: another process holds the database locked"
    return str(exc)


def explain_os_error(exc: OSError, where: Path) -> str:
    """An OSError met while opening the store in directory `where`, in the words of
    `explain` (the error names its file only for some calls)."""
    path = Path(exc.filename) if isinstance(exc.filename, str) else where
    if exc.errno == errno.ENOSPC or (exc.errno == errno.EIO and disk_full(path)):
        return f"{free_space(path)}: free space, then restart"
    if exc.errno == errno.EIO:
        return f"I/O error on {mount_point(path)} ({exc.strerror}): check the storage, then restart"
    if exc.errno == errno.EROFS:
        return f"{mount_point(path)} is mounted read-only ({path}): remount it read-write"
    return str(exc)


def disk_full(path: Path) -> bool:
    """True when the file system holding `path` has no block left for us."""
    try:
        stats = os.statvfs(mount_point(path))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding `path` (or where it would be)."""
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current):
        current = current.parent
    return current


def free_space(path: Path) -> str:
    """`no space left on /var (12 KiB free)`: the device, and what is left for us."""
    mount = mount_point(path)
    try:
        stats = os.statvfs(mount)
        free = f"{stats.f_bavail * stats.f_frsize // 1024} KiB free"
    except OSError:
        free = "free space unknown"
    return f"no space left on {mount} ({free})"


def _configure(conn: sqlite3.Connection) -> None:
    # WAL lets the CLI and the web API write while the daemon reads; NORMAL is safe with
    # WAL (no corruption on power loss, at worst the last commits are lost).
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot switch the database to WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = NORMAL")
    # After a checkpoint resets the write-ahead log, truncate what is left beyond this, so
    # a log that grew while readers or a full disk held it back gives the space back.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
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
        # Inside the try: a refused COMMIT (a full disk, a deferred constraint) leaves the
        # transaction open, and every later BEGIN would fail until it is rolled back.
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


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
                    f"failed: {explain(exc, path)}; the database was left at version {version}"
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
