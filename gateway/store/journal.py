"""The event journal: every decision and door/alarm/system change, sequence-numbered.

Sequence numbers come from an AUTOINCREMENT key, so they only ever grow, even after the
oldest rows are dropped to keep the journal bounded; forwarders read from a cursor (`read`)
and can compare it with `first_seq` to notice that they fell behind the retention window.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.model import PIN_MASK, Event, StoredEvent
from gateway.store.db import open_database, sqlite_errors, write_transaction

_COLUMNS = (
    "seq, time, local_time, type, door, reader, user_id, credential_kind, credential, "
    "granted, reason, source, trace, latency_ms"
)
MAX_READ_LIMIT = 10_000
JOURNAL_BUSY_TIMEOUT_MS = 60_000


def utc_iso(epoch: float) -> str:
    """`2027-01-15T09:00:00.123Z`: ISO 8601 UTC with milliseconds."""
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def local_iso(epoch: float, tz: ZoneInfo) -> str:
    """`2027-01-15T10:00:00.123+01:00`: ISO 8601 in `tz`, with milliseconds and offset."""
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="milliseconds")


class EventJournal:
    """Append-only, bounded event log on its own connection to the gateway database.

    `append` is called from one writer thread (an executor) and readers may call from
    others, hence `check_same_thread=False` and a lock around every statement.
    """

    def __init__(self, db_path: Path, tz: ZoneInfo, max_events: int) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = db_path
        self._what = f"event journal {db_path}"
        self._tz = tz
        self._max_events = max_events
        self._lock = threading.Lock()
        self._conn = open_database(db_path, check_same_thread=False)
        # An event is forwarded only once it is durable: pay one fsync per commit here (on
        # the writer thread, never the event loop) so a power cut cannot lose an event
        # that a forwarder already sent, nor hand its seq to a different event.
        self._conn.execute("PRAGMA synchronous = FULL")
        # A CLI import of thousands of users holds the write lock for seconds; the journal
        # writes on its own thread, so it waits rather than lose the event.
        self._conn.execute(f"PRAGMA busy_timeout = {JOURNAL_BUSY_TIMEOUT_MS}")
        self._count = int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def append(self, event: Event) -> int:
        """Store `event` durably and return its sequence number."""
        row = self._row(event)
        with self._lock, sqlite_errors(self._what), write_transaction(self._conn) as conn:
            cursor = conn.execute(
                f"INSERT INTO events ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?)",
                row,
            )
            seq = cursor.lastrowid
            self._trim(conn)
        assert seq is not None
        return seq

    def _row(self, event: Event) -> tuple[object, ...]:
        # Defence in depth: whatever a caller passed, a PIN event never stores the digits.
        credential = PIN_MASK if event.credential_kind == "pin" else event.credential
        granted = None if event.granted is None else int(event.granted)
        return (
            utc_iso(event.time),
            local_iso(event.time, self._tz),
            event.type,
            event.door,
            event.reader,
            event.user_id,
            event.credential_kind,
            credential,
            granted,
            event.reason,
            event.source,
            str(event.trace),
            event.latency_ms,
        )

    def _trim(self, conn: sqlite3.Connection) -> None:
        # The in-memory count saves a COUNT(*) per insert; it is only updated once the
        # statements succeeded (a rollback leaves it as it was).
        excess = self._count + 1 - self._max_events
        if excess > 0:
            conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                (excess,),
            )
        self._count = min(self._count + 1, self._max_events)

    def read(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to `limit` events with seq > `after`, oldest first."""
        limit = max(0, min(limit, MAX_READ_LIMIT))
        with self._lock, sqlite_errors(self._what):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def tail(self, limit: int = 100) -> list[StoredEvent]:
        """The newest `limit` events, oldest first (for a live view)."""
        limit = max(0, min(limit, MAX_READ_LIMIT))
        with self._lock, sqlite_errors(self._what):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_stored(row) for row in reversed(rows)]

    def last_seq(self) -> int:
        """The highest seq ever assigned (0 if none), even if that row was since dropped."""
        with self._lock, sqlite_errors(self._what):
            row = self._conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
        return 0 if row is None else int(row[0])

    def first_seq(self) -> int:
        """The oldest seq still kept (0 if the journal is empty)."""
        with self._lock, sqlite_errors(self._what):
            row = self._conn.execute("SELECT MIN(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0])

    def count(self) -> int:
        """How many events are kept."""
        with self._lock:
            return self._count

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _stored(row: Any) -> StoredEvent:
    (seq, time, local, type_, door, reader, user, kind, cred, granted, reason, src, trace, lat) = (
        row
    )
    return StoredEvent(
        seq=seq,
        time=time,
        local_time=local,
        type=type_,
        door=door,
        reader=reader,
        user_id=user,
        credential_kind=kind,
        credential=cred,
        granted=None if granted is None else bool(granted),
        reason=reason,
        source=src,
        trace=trace,
        latency_ms=lat,
    )
