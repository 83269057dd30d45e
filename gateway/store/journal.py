"""The event journal: every decision and door/alarm/system change, sequence-numbered.

Sequence numbers come from an AUTOINCREMENT key, so they only ever grow, even after the
oldest rows are dropped to keep the journal bounded; forwarders read from a cursor (`read`)
and can compare it with `first_seq` to notice that they fell behind the retention window.

Retention: the journal holds at most `max_events` rows. Beyond that, rows every active
agent already acknowledged (seq <= the lowest active cursor, see `gateway.store.agents`)
go first, oldest first. Only when that is not enough do undelivered rows go: then a chunk
of the oldest ones (at least 1% of `max_events`, so a dead agent costs one overflow event
per chunk, not one per insert) is dropped and a `journal_overflow` system event, in the
same transaction, says how many and which agents missed them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.model import PIN_MASK, Event, StoredEvent
from gateway.safetext import escaped_event
from gateway.store.agents import agents_behind, min_active_cursor
from gateway.store.db import open_database, sqlite_errors, write_transaction
from gateway.store.log_query import LogView, listed_sql

_COLUMNS = (
    "seq, time, local_time, type, door, reader, user_id, credential_kind, credential, "
    "granted, reason, source, trace, latency_ms, direction"
)
MAX_READ_LIMIT = 10_000
JOURNAL_BUSY_TIMEOUT_MS = 60_000
OVERFLOW_CHUNK_DIVISOR = 100  # an overflow drops max_events / 100 undelivered rows at once
OVERFLOW_REASON = "journal_overflow"
DELETE_BATCH = 10_000  # rows per transaction when logs are deleted through the API
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (NULL{', ?' * 14})"  # seq is assigned


@dataclass(frozen=True)
class DeletedLogs:
    """What `EventJournal.delete_logs` took out of the access log."""

    listed: int  # rows getLogs listed and lists no more
    deleted: int  # of them, rows every active agent had: deleted from the journal
    kept_for_agents: int  # of them, rows an active agent had not received: kept, marked


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

    def __init__(
        self, db_path: Path, tz: ZoneInfo, max_events: int, overflow_chunk: int | None = None
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = db_path
        self._what = f"event journal {db_path}"
        self._tz = tz
        self._max_events = max_events
        self._overflow_chunk = max(1, overflow_chunk or max_events // OVERFLOW_CHUNK_DIVISOR)
        self.overflowed = 0  # undelivered rows dropped since start (status pages)
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
        return self.append_batch([event])[-1]

    def append_batch(self, events: list[Event]) -> list[int]:
        """Store `events` durably in one transaction (one sync), in order; their seqs.

        All or nothing: on an error (a full disk) none is stored and the caller keeps them.
        """
        rows = [self._row(event) for event in events]
        seqs: list[int] = []
        overflowed = 0
        with self._lock, sqlite_errors(self._what), write_transaction(self._conn) as conn:
            count = self._count
            for row, event in zip(rows, events, strict=True):
                seq = conn.execute(_INSERT, row).lastrowid
                assert seq is not None
                seqs.append(seq)
                count, dropped = self._trim(conn, count, event.time)
                overflowed += dropped
        # Only once committed: a rollback leaves the in-memory count as it was.
        self._count = count
        self.overflowed += overflowed
        return seqs

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database without waiting for readers, so the
        log is reset (and truncated to `journal_size_limit`) once they move on."""
        with self._lock, sqlite_errors(self._what):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def wal_bytes(self) -> int:
        """The current size of the write-ahead log file (0 when there is none)."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            return wal.stat().st_size
        except OSError:
            return 0

    def _row(self, event: Event) -> tuple[object, ...]:
        # The boundary for text from outside: no stored value can forge a second record.
        event = escaped_event(event)
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
            event.direction,
        )

    def _trim(self, conn: sqlite3.Connection, before: int, when: float) -> tuple[int, int]:
        """Apply the retention rule after one insert into a journal of `before` rows;
        (new row count, undelivered dropped).

        The in-memory count saves a COUNT(*) per insert, and the agents are only looked at
        when the journal is over `max_events`: below it an insert costs one statement.
        """
        count = before + 1
        excess = count - self._max_events
        if excess <= 0:
            return count, 0
        floor = min_active_cursor(conn)
        delivered = self._drop_oldest(conn, excess, floor)
        count -= delivered
        if delivered == excess or floor is None:
            return count, 0
        dropped = self._overflow(conn, excess - delivered, count - 1, floor, when)
        return count - dropped + 1, dropped

    @staticmethod
    def _drop_oldest(conn: sqlite3.Connection, limit: int, floor: int | None) -> int:
        """Delete up to `limit` of the oldest rows with seq <= `floor` (any seq for None)."""
        bound = "" if floor is None else "WHERE seq <= ? "
        args: tuple[int, ...] = (limit,) if floor is None else (floor, limit)
        deleted = conn.execute(
            f"DELETE FROM events WHERE seq IN (SELECT seq FROM events {bound}ORDER BY seq LIMIT ?)",
            args,
        )
        return deleted.rowcount

    def _overflow(
        self, conn: sqlite3.Connection, short: int, older: int, floor: int, when: float
    ) -> int:
        """Drop the oldest undelivered rows (a chunk of at least `short` + room for the
        overflow event itself) and journal `journal_overflow`; returns how many went.

        Only the `older` rows before the event being appended may go: it is never dropped.
        """
        chunk = min(max(short + 1, self._overflow_chunk), older)
        first, last, dropped = conn.execute(
            "SELECT MIN(seq), MAX(seq), COUNT(*) FROM "
            "(SELECT seq FROM events ORDER BY seq LIMIT ?)",
            (chunk,),
        ).fetchone()
        behind = agents_behind(conn, last)
        conn.execute("DELETE FROM events WHERE seq <= ?", (last,))
        agents = "; ".join(f"agent {i} {url} (cursor {cursor})" for i, url, cursor in behind)
        # The count comes first so a machine can read it: "<n> undelivered events ...".
        trace = (
            f"{dropped} undelivered events dropped, journal full (seq {first}-{last}, "
            f"lowest active cursor {floor}); agents behind: {agents}"
        )
        overflow = Event("system", when, reason=OVERFLOW_REASON, trace=trace)
        conn.execute(_INSERT, self._row(overflow))
        return int(dropped)

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

    # -- runtime log management (ACTAtek logsetting, deleteLogs, resetLog) ----------------

    @property
    def max_events(self) -> int:
        """The current bound on kept rows."""
        return self._max_events

    def set_max_events(self, max_events: int) -> None:
        """Change the bound at runtime; the next append applies the retention rule to it."""
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        with self._lock:
            self._max_events = max_events
            self._overflow_chunk = max(1, max_events // OVERFLOW_CHUNK_DIVISOR)

    def delete_logs(self, up_to_seq: int, before: str | None, view: LogView) -> DeletedLogs:
        """Take the rows getLogs lists under `view` with seq <= `up_to_seq` (and, given
        `before`, a journal time earlier than it) out of the access log; every other event
        (logins, user and configuration changes, system events) stays.

        As retention does, only rows every active agent has received are deleted; the
        others are marked `log_cleared`: no longer listed, still forwarded, dropped by
        retention once delivered. Deleting never moves the sequence (AUTOINCREMENT keeps the
        highest seq ever given), so cursors stay meaningful. Batches keep each transaction,
        and so the writer's wait for the lock, short.
        """
        clauses, args = ["e.seq <= ?", listed_sql(view)], list[object]([up_to_seq])
        if before is not None:
            clauses.append("e.time < ?")
            args.append(before)
        select = (
            f"SELECT e.seq FROM events e WHERE e.seq > ? AND {' AND '.join(clauses)} "
            "ORDER BY e.seq LIMIT ?"
        )
        after = deleted = kept = 0
        while True:
            with self._lock:
                with sqlite_errors(self._what), write_transaction(self._conn) as conn:
                    seqs = [
                        int(row[0]) for row in conn.execute(select, [after, *args, DELETE_BATCH])
                    ]
                    gone = self._delete_delivered(conn, seqs)
                self._count = max(0, self._count - gone)  # only once committed
            deleted, kept = deleted + gone, kept + len(seqs) - gone
            if len(seqs) < DELETE_BATCH:
                return DeletedLogs(deleted + kept, deleted, kept)
            after = seqs[-1]

    @staticmethod
    def _delete_delivered(conn: sqlite3.Connection, seqs: list[int]) -> int:
        """Delete the rows of `seqs` (ascending) that every active agent has received and
        mark the others `log_cleared`; returns how many were deleted."""
        floor = min_active_cursor(conn)
        delivered = [seq for seq in seqs if floor is None or seq <= floor]
        undelivered = seqs[len(delivered) :]
        in_list = "WHERE seq IN (SELECT value FROM json_each(?))"
        conn.execute(f"DELETE FROM events {in_list}", (json.dumps(delivered),))
        conn.execute(f"UPDATE events SET log_cleared = 1 {in_list}", (json.dumps(undelivered),))
        return len(delivered)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _stored(row: Any) -> StoredEvent:
    (seq, time, local, type_, door, reader, user, kind, cred, granted, reason, src, trace, lat) = (
        row[:14]
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
        direction=row[14],
    )
