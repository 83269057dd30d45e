"""The event journal: every decision and door/alarm/system change, sequence-numbered.

Sequence numbers come from an AUTOINCREMENT key, so they only ever grow, even after the
oldest rows are dropped to keep the journal bounded; forwarders read from a cursor (`read`)
and can compare it with `first_seq` to notice that they fell behind the retention window.

Retention keeps two classes of rows, each within its own bound, so that one class never
makes room for the other:

- **evidence** (access decisions, door, alarm, reader, upstream and system events): at
  most `max_events` rows. Beyond that, rows every active agent already acknowledged
  (seq <= the lowest active cursor, see `gateway.store.agents`) go first, oldest first.
  Only when that is not enough do undelivered rows go: then a chunk of the oldest ones
  (at least 1% of `max_events`, so a dead agent costs one overflow event per chunk, not
  one per insert) is dropped and a `journal_overflow` system event, in the same
  transaction, says how many and which agents missed them.
- **administrative** (`api` events: logins, user and configuration changes, whatever a
  person can repeat through an API): at most `max_admin_events` rows (a tenth of
  `max_events` unless told). Beyond that, a tenth of that bound goes at once, oldest first
  (delivered rows first, as above), and an `admin_events_dropped` event, itself
  administrative, says how many, which seqs and times, and which agents missed them.

So however much administrative noise arrives, no access, door or alarm event is pushed
out by it, and the administrative share is never eaten by a busy door either.
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

from gateway.model import ADMINISTRATIVE_TYPE, PIN_MASK, Event, StoredEvent, shown_credential
from gateway.safetext import escaped_event
from gateway.store.agents import agents_behind, min_active_cursor
from gateway.store.db import open_database, sqlite_errors, write_transaction
from gateway.store.log_query import listed_sql
from gateway.store.log_records import LogView

_COLUMNS = (
    "seq, time, local_time, type, door, reader, user_id, credential_kind, credential, "
    "granted, reason, source, trace, latency_ms, direction, raw"
)
MAX_READ_LIMIT = 10_000
JOURNAL_BUSY_TIMEOUT_MS = 60_000
OVERFLOW_CHUNK_DIVISOR = 100  # an overflow drops max_events / 100 undelivered rows at once
OVERFLOW_REASON = "journal_overflow"
ADMIN_SHARE_DIVISOR = 10  # administrative rows: their own bound, max_events / 10 by default
ADMIN_CHUNK_DIVISOR = 10  # administrative rows go a tenth of their bound at a time
ADMIN_DROPPED_REASON = "admin_events_dropped"
# The two classes in SQL, exactly as the partial indexes of schema version 7 say them, so
# that SQLite finds the oldest rows of a class in its own index.
_ADMINISTRATIVE = f"type = '{ADMINISTRATIVE_TYPE}'"
_EVIDENCE = f"type <> '{ADMINISTRATIVE_TYPE}'"
DELETE_BATCH = 10_000  # rows per transaction when logs are deleted through the API
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES (NULL{', ?' * 15})"  # seq is assigned


@dataclass(frozen=True)
class DeletedLogs:
    """What `EventJournal.delete_logs` took out of the access log."""

    listed: int  # rows getLogs listed and lists no more
    deleted: int  # of them, rows every active agent had: deleted from the journal
    kept_for_agents: int  # of them, rows an active agent had not received: kept, marked


@dataclass
class _Counts:
    """Rows kept of each retention class (kept in memory: no COUNT(*) per insert)."""

    evidence: int
    administrative: int

    @property
    def total(self) -> int:
        return self.evidence + self.administrative


@dataclass(frozen=True)
class _Span:
    """The oldest rows of one class that retention picked: seqs, times, how many."""

    first: int
    last: int
    count: int
    first_time: str
    last_time: str
    undelivered: int  # of them, rows with seq above the lowest active cursor


def utc_iso(epoch: float) -> str:
    """`2027-01-15T09:00:00.123Z`: ISO 8601 UTC with milliseconds."""
    # isoformat truncates to milliseconds, as the journal always did; strftime costs
    # twice as much, once per journaled event.
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def local_iso(epoch: float, tz: ZoneInfo) -> str:
    """`2027-01-15T10:00:00.123+01:00`: ISO 8601 in `tz`, with milliseconds and offset."""
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="milliseconds")


class EventJournal:
    """Append-only, bounded event log on its own connection to the gateway database.

    `append` is called from one writer thread (an executor) and readers may call from
    others, hence `check_same_thread=False` and a lock around every statement.
    """

    def __init__(
        self,
        db_path: Path,
        tz: ZoneInfo,
        max_events: int,
        overflow_chunk: int | None = None,
        max_admin_events: int | None = None,
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = db_path
        self._what = f"event journal {db_path}"
        self._tz = tz
        self._max_events = max_events
        self._overflow_chunk = max(1, overflow_chunk or max_events // OVERFLOW_CHUNK_DIVISOR)
        self._max_admin = max(1, max_admin_events or max_events // ADMIN_SHARE_DIVISOR)
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
        self._counts = self._count_classes(self._conn)

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
            counts = _Counts(self._counts.evidence, self._counts.administrative)
            for row, event in zip(rows, events, strict=True):
                seq = conn.execute(_INSERT, row).lastrowid
                assert seq is not None
                seqs.append(seq)
                if event.administrative:
                    counts.administrative += 1
                else:
                    counts.evidence += 1
                overflowed += self._trim(conn, counts, seq, event.time)
        # Only once committed: a rollback leaves the in-memory counts as they were.
        self._counts = counts
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
        # Defence in depth: whatever a caller passed, a PIN event never stores the digits
        # and a QR code event never the code.
        credential = PIN_MASK if event.credential_kind == "pin" else event.credential
        if credential is not None:
            credential = shown_credential(event.credential_kind, credential)
        granted = None if event.granted is None else int(event.granted)
        secret = event.credential_kind in ("pin", "qr")
        raw = None if secret or not event.raw else event.raw
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
            raw,
        )

    @staticmethod
    def _count_classes(conn: sqlite3.Connection) -> _Counts:
        administrative = conn.execute(f"SELECT COUNT(*) FROM events WHERE {_ADMINISTRATIVE}")
        evidence = conn.execute(f"SELECT COUNT(*) FROM events WHERE {_EVIDENCE}")
        return _Counts(int(evidence.fetchone()[0]), int(administrative.fetchone()[0]))

    def _trim(self, conn: sqlite3.Connection, counts: _Counts, seq: int, when: float) -> int:
        """Apply the retention rule after inserting row `seq`; undelivered rows dropped.

        The in-memory counts save a COUNT(*) per insert, and the agents are only looked at
        when a class is over its bound: below it an insert costs one statement. The row
        just inserted is never dropped.
        """
        dropped = 0
        if counts.administrative > self._max_admin:
            dropped += self._trim_administrative(conn, counts, seq, when)
        if counts.evidence > self._max_events:
            dropped += self._trim_evidence(conn, counts, seq, when)
        return dropped

    def _trim_evidence(
        self, conn: sqlite3.Connection, counts: _Counts, seq: int, when: float
    ) -> int:
        excess = counts.evidence - self._max_events
        floor = min_active_cursor(conn)
        delivered = self._drop_oldest_evidence(conn, excess, floor)
        counts.evidence -= delivered
        if delivered == excess or floor is None:
            return 0
        # Room for the rows still in excess and for the overflow event itself.
        size = max(excess - delivered + 1, self._overflow_chunk)
        span = self._oldest(conn, _EVIDENCE, seq, size, None, floor)
        if span is None:
            return 0
        conn.execute(f"DELETE FROM events WHERE {_EVIDENCE} AND seq <= ?", (span.last,))
        behind = _agents(conn, span.last)
        # The count comes first so a machine can read it: "<n> undelivered events ...".
        trace = (
            f"{span.count} undelivered events dropped, journal full (seq {span.first}-"
            f"{span.last}, lowest active cursor {floor}); agents behind: {behind}"
        )
        conn.execute(_INSERT, self._row(Event("system", when, reason=OVERFLOW_REASON, trace=trace)))
        counts.evidence += 1 - span.count
        return span.count

    def _trim_administrative(
        self, conn: sqlite3.Connection, counts: _Counts, seq: int, when: float
    ) -> int:
        """Drop a chunk of the oldest administrative rows (delivered ones, unless too few
        are) and journal how many went; returns how many of them were undelivered."""
        needed = counts.administrative - self._max_admin + 1  # + the event saying so
        size = max(needed, self._max_admin // ADMIN_CHUNK_DIVISOR)
        floor = min_active_cursor(conn)
        span = self._oldest(conn, _ADMINISTRATIVE, seq, size, floor, floor)
        if floor is not None and (span is None or span.count < needed):
            span = self._oldest(conn, _ADMINISTRATIVE, seq, size, None, floor)
        if span is None:
            return 0
        conn.execute(
            f"DELETE FROM events WHERE {_ADMINISTRATIVE} AND seq BETWEEN ? AND ?",
            (span.first, span.last),
        )
        trace = (
            f"{span.count} administrative events dropped, their share of the journal full "
            f"({self._max_admin} rows): seq {span.first}-{span.last}, "
            f"{span.first_time} to {span.last_time}"
        )
        if span.undelivered:
            trace += (
                f"; {span.undelivered} of them not yet delivered; "
                f"agents behind: {_agents(conn, span.last)}"
            )
        notice = Event(ADMINISTRATIVE_TYPE, when, reason=ADMIN_DROPPED_REASON, trace=trace)
        conn.execute(_INSERT, self._row(notice))
        counts.administrative += 1 - span.count
        return span.undelivered

    @staticmethod
    def _drop_oldest_evidence(conn: sqlite3.Connection, limit: int, floor: int | None) -> int:
        """Delete up to `limit` of the oldest evidence rows with seq <= `floor` (any seq
        for None)."""
        bound = "" if floor is None else "AND seq <= ? "
        args: tuple[int, ...] = (limit,) if floor is None else (floor, limit)
        deleted = conn.execute(
            f"DELETE FROM events WHERE seq IN "
            f"(SELECT seq FROM events WHERE {_EVIDENCE} {bound}ORDER BY seq LIMIT ?)",
            args,
        )
        return deleted.rowcount

    @staticmethod
    def _oldest(
        conn: sqlite3.Connection,
        of_class: str,
        before: int,
        limit: int,
        up_to: int | None,
        floor: int | None,
    ) -> _Span | None:
        """The `limit` oldest rows of a class with seq < `before` (and <= `up_to` when
        given); None when there is none. `floor` tells which of them are undelivered."""
        bound = "" if up_to is None else " AND seq <= ?"
        args = (before,) if up_to is None else (before, up_to)
        row = conn.execute(
            "SELECT MIN(seq), MAX(seq), COUNT(*), MIN(time), MAX(time), SUM(seq > ?) FROM "
            f"(SELECT seq, time FROM events WHERE {of_class} AND seq < ?{bound} "
            "ORDER BY seq LIMIT ?)",
            (-1 if floor is None else floor, *args, limit),
        ).fetchone()
        if not row[2]:
            return None
        undelivered = 0 if floor is None else int(row[5])
        return _Span(int(row[0]), int(row[1]), int(row[2]), row[3], row[4], undelivered)

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
            return self._counts.total

    # -- runtime log management (ACTAtek logsetting, deleteLogs, resetLog) ----------------

    @property
    def max_events(self) -> int:
        """The current bound on kept evidence rows."""
        return self._max_events

    @property
    def max_admin_events(self) -> int:
        """The current bound on kept administrative rows."""
        return self._max_admin

    def set_max_events(self, max_events: int) -> None:
        """Change the bound at runtime (and the administrative share with it); the next
        append applies the retention rule to it."""
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        with self._lock:
            self._max_events = max_events
            self._overflow_chunk = max(1, max_events // OVERFLOW_CHUNK_DIVISOR)
            self._max_admin = max(1, max_events // ADMIN_SHARE_DIVISOR)

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
                    gone, administrative = self._delete_delivered(conn, seqs)
                # Only once committed: a rollback leaves the in-memory counts as they were.
                self._counts = _Counts(
                    max(0, self._counts.evidence - (gone - administrative)),
                    max(0, self._counts.administrative - administrative),
                )
            deleted, kept = deleted + gone, kept + len(seqs) - gone
            if len(seqs) < DELETE_BATCH:
                return DeletedLogs(deleted + kept, deleted, kept)
            after = seqs[-1]

    @staticmethod
    def _delete_delivered(conn: sqlite3.Connection, seqs: list[int]) -> tuple[int, int]:
        """Delete the rows of `seqs` (ascending) that every active agent has received and
        mark the others `log_cleared`; returns how many were deleted, and how many of
        those were administrative (added logs)."""
        floor = min_active_cursor(conn)
        delivered = [seq for seq in seqs if floor is None or seq <= floor]
        undelivered = seqs[len(delivered) :]
        in_list = "WHERE seq IN (SELECT value FROM json_each(?))"
        administrative = conn.execute(
            f"SELECT COUNT(*) FROM events {in_list} AND {_ADMINISTRATIVE}",
            (json.dumps(delivered),),
        ).fetchone()[0]
        conn.execute(f"DELETE FROM events {in_list}", (json.dumps(delivered),))
        conn.execute(f"UPDATE events SET log_cleared = 1 {in_list}", (json.dumps(undelivered),))
        return len(delivered), int(administrative)

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
        raw=row[15],
    )


def _agents(conn: sqlite3.Connection, seq: int) -> str:
    """The active agents that have not acknowledged `seq`, for an event's trace."""
    behind = agents_behind(conn, seq)
    return "; ".join(f"agent {i} {url} (cursor {cursor})" for i, url, cursor in behind)
