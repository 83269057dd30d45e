"""The journal as ACTAtek event logs (getLogs / getFullLogs), filtered and ordered in SQL.

The journal can hold a million rows, so every filter is a WHERE clause and the order
(time, then seq) is the order of an index (`events_time`, or `events_user_time` with an
employee filter): a small `limit` reads a few rows, and a full listing is streamed from
one cursor in chunks (`LogCursor.fetch`) instead of being built in memory.

Which journal rows are logs: every access decision, every door and alarm event, and the
logs added through the API (`type = 'api'`, `reason = 'log_added'`), less those that
deleteLogs / resetLog took out while an agent still had to receive them (`log_cleared`)
and those the log settings hide (`LogView`); `listed_sql` is that condition. Their ACTAtek event
name ("trigger") is computed in SQL from the row (`trigger_sql`):

- a grant: the direction recorded with the event (`IN` or `OUT`: the reader's, or an
  OpenDoor request's AntiPassbackMode); for a row without one (journaled before directions
  were recorded, or an OpenDoor request without a mode) the reader's configured direction,
  else `IN`;
- a refusal: `ACCESS DENIED`;
- an added log: the trigger it was added with;
- a door or alarm event: `DOOR_EVENT_NAMES`, else the reason in capitals with spaces
  (`door_opened` -> `DOOR OPENED`); a remote unlock is `REMOTE DOOR OPEN`.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from gateway.store.db import open_database, sqlite_errors
from gateway.store.log_records import (
    ADDED_LOG_MARK,
    ADDED_LOG_REASON,
    LogQuery,
    LogRow,
    LogView,
)

DENIED_TRIGGER = "ACCESS DENIED"
REMOTE_OPEN_TRIGGER = "REMOTE DOOR OPEN"
CASE_EVENTS: tuple[str, ...] = ("tamper", "tamper_cleared")  # the enclosure ("case") opened
# Door and alarm reasons whose event name is not simply the reason in capitals.
DOOR_EVENT_NAMES: dict[str, str] = {
    "unlocked": "DOOR UNLOCKED",
    "locked": "DOOR LOCKED",
    "grant_refused": "GRANT REFUSED LOCKDOWN",
    "forced_open": "DOOR FORCED OPEN",
    "held_open": "DOOR HELD OPEN",
    "held_open_prealarm": "DOOR HELD OPEN PREALARM",
    "held_open_cleared": "DOOR HELD OPEN CLEARED",
    "tamper": "TAMPER ALARM",
}
_SELECT = (
    "e.seq, e.time, e.local_time, e.user_id, {trigger} AS trigger, e.door, "
    "e.credential_kind, e.reason, e.trace, e.type"
)
_NAMES = (
    ", (SELECT trim(u.first_name || ' ' || u.last_name) FROM users u "
    "WHERE u.user_id = e.user_id), "
    "(SELECT d.name FROM user_departments ud JOIN departments d ON d.id = ud.department_id "
    "WHERE ud.user_id = e.user_id ORDER BY ud.position LIMIT 1)"
)


def event_name(
    type_: str,
    reason: str,
    granted: bool | None,
    reader: str | None,
    trace: str,
    out_readers: Collection[str],
    direction: str | None = None,
) -> str:
    """The event name of one log row in Python: what `trigger_sql` computes in SQL, for
    code that holds rows already (what agents receive should name events the same way)."""
    if type_ == "access":
        if granted:
            return passage_name(direction, reader, out_readers)
        return DENIED_TRIGGER
    if type_ == "api":
        return trace.partition(ADDED_LOG_MARK)[2]
    if reason == "unlocked" and trace == "remote":
        return REMOTE_OPEN_TRIGGER
    return DOOR_EVENT_NAMES.get(reason, reason.replace("_", " ").upper())


def passage_name(direction: str | None, reader: str | None, out_readers: Collection[str]) -> str:
    """`IN` or `OUT` for a grant: its recorded direction, else its reader's, else `IN`."""
    if direction in ("in", "out"):
        return direction.upper()
    return "OUT" if reader in out_readers else "IN"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def trigger_sql(out_readers: Collection[str]) -> str:
    """The SQL expression of a row's event name (see the module docstring)."""
    outs = ", ".join(_quote(reader) for reader in sorted(out_readers)) or "NULL"
    names = " ".join(
        f"WHEN {_quote(reason)} THEN {_quote(name)}" for reason, name in DOOR_EVENT_NAMES.items()
    )
    return (
        "(CASE "
        f"WHEN e.type = 'access' AND e.granted = 1 THEN (CASE "
        "WHEN e.direction = 'out' THEN 'OUT' WHEN e.direction = 'in' THEN 'IN' "
        f"WHEN e.reader IN ({outs}) THEN 'OUT' ELSE 'IN' END) "
        f"WHEN e.type = 'access' THEN {_quote(DENIED_TRIGGER)} "
        f"WHEN e.type = 'api' "
        f"THEN substr(e.trace, instr(e.trace, {_quote(ADDED_LOG_MARK)}) + {len(ADDED_LOG_MARK)}) "
        f"WHEN e.reason = 'unlocked' AND e.trace = 'remote' THEN {_quote(REMOTE_OPEN_TRIGGER)} "
        f"ELSE (CASE e.reason {names} ELSE upper(replace(e.reason, '_', ' ')) END) END)"
    )


def listed_sql(view: LogView) -> str:
    """The SQL condition (on `events e`) of the rows getLogs lists under `view`."""
    return " AND ".join(_view_clauses(view))


def _view_clauses(view: LogView) -> list[str]:
    clauses = [
        "(e.type IN ('access', 'door', 'alarm') "
        f"OR (e.type = 'api' AND e.reason = {_quote(ADDED_LOG_REASON)}))",
        "e.log_cleared = 0",
    ]
    if not view.user_events:
        clauses.append("e.type IN ('door', 'alarm')")
    if not view.audit_events:
        clauses.append("e.type NOT IN ('door', 'alarm')")
    if not view.unauthorized:
        clauses.append("NOT (e.type = 'access' AND e.granted = 0)")
    if not view.unregistered_cards:
        clauses.append(
            "NOT (e.type = 'access' AND e.granted = 0 AND e.user_id IS NULL "
            "AND e.credential_kind = 'card')"
        )
    if not view.case_events:
        clauses.append(f"e.reason NOT IN ({', '.join(_quote(r) for r in CASE_EVENTS)})")
    return clauses


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def build_sql(query: LogQuery, out_readers: Collection[str]) -> tuple[str, list[object]]:
    """The SELECT for `query` and its arguments."""
    trigger = trigger_sql(out_readers)
    clauses, args = _view_clauses(query.view), list[object]()
    filters: list[tuple[str, object | None]] = [
        ("e.time >= ?", query.start),
        ("e.time < ?", query.end),
        ("e.user_id = ?", query.employee_id),
        (
            "e.user_id IN (SELECT user_id FROM users "
            "WHERE trim(first_name || ' ' || last_name) LIKE ? ESCAPE '\\')",
            None if query.employee_name is None else _like(query.employee_name),
        ),
        (
            "e.user_id IN (SELECT user_id FROM user_departments WHERE department_id = ?)",
            query.department_id,
        ),
        (f"upper({trigger}) = upper(?)", query.trigger),
    ]
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            args.append(value)
    select = _SELECT.format(trigger=trigger) + (_NAMES if query.full else "")
    sql = f"SELECT {select} FROM events e WHERE {' AND '.join(clauses)} ORDER BY e.time, e.seq"
    if query.limit is not None:
        sql += " LIMIT ?"
        args.append(query.limit)
    return sql, args


class LogCursor:
    """One listing on its own read-only connection; call `fetch` until it returns [], then
    `close`. Each call blocks on SQLite: run them on a worker thread, never the loop."""

    def __init__(self, db_path: Path, query: LogQuery, out_readers: Collection[str]) -> None:
        self._what = f"event journal {db_path}"
        self._full = query.full
        self._conn = open_database(db_path, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA query_only = ON")
            sql, args = build_sql(query, out_readers)
            with sqlite_errors(self._what):
                self._cursor = self._conn.execute(sql, args)
        except BaseException:
            self._conn.close()
            raise

    def fetch(self, size: int = 1000) -> list[LogRow]:
        """The next `size` logs at most; [] at the end."""
        with sqlite_errors(self._what):
            rows = self._cursor.fetchmany(size)
        return [_row(row, self._full) for row in rows]

    def close(self) -> None:
        self._conn.close()


def _row(row: Any, full: bool) -> LogRow:
    # sqlite3 rows are untyped; the SELECT fixes the types (seq INTEGER, the rest TEXT).
    seq, time, local, user, trigger, door, kind, reason, trace, type_ = row[:10]
    name, department = (row[10] or "", row[11] or "") if full else ("", "")
    return LogRow(
        seq, time, local, user, trigger, door, kind, reason, trace, type_, name, department
    )
