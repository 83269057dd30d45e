"""Event names of logs: the SQL expression getLogs filters on and the Python function
other code can use agree on every kind of log row, and hide what is not a log."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Direction, Event
from gateway.store import db as store_db
from gateway.store.journal import EventJournal
from gateway.store.log_query import LogCursor, event_name
from gateway.store.log_records import LogQuery, added_log_trace
from gateway.store.schema import MIGRATIONS

OUT_READERS = ("exit-reader", "it's-quoted")
OUT: dict[str, Direction] = {"direction": "out"}
IN: dict[str, Direction] = {"direction": "in"}
T = 1_800_000_000.0
ROWS = [
    Event("access", T, "front", "front-in", "u1", "card", "AB", True, "granted"),
    Event("access", T + 1, "front", "exit-reader", "u1", "pin", "****", True, "granted"),
    Event("access", T + 2, "front", "it's-quoted", "u1", "qr", "x", True, "granted"),
    Event("access", T + 3, "front", "front-in", None, "card", "CD", False, "unknown_credential"),
    Event("door", T + 4, "front", user_id="tech", reason="unlocked", trace="remote"),
    Event("door", T + 5, "front", user_id="u1", reason="unlocked", trace="granted"),
    Event("door", T + 6, "front", reason="door_opened", trace="granted"),
    Event("door", T + 7, "front", reason="lockdown_on"),
    Event("alarm", T + 8, "front", reason="forced_open", trace="forced"),
    Event("alarm", T + 9, "front", reason="tamper"),
    Event("api", T + 10, user_id="u1", reason="log_added", trace=added_log_trace("me", "F7")),
]
NOT_LOGS = [
    Event("api", T + 11, user_id="tech", reason="login"),
    Event("system", T + 12, reason="started"),
    Event("reader", T + 13, reason="keypad_locked_out"),
]


def test_sql_and_python_name_every_log_alike_and_skip_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    journal = EventJournal(db, ZoneInfo("UTC"), 1000)
    for event in ROWS + NOT_LOGS:
        journal.append(event)
    journal.close()
    cursor = LogCursor(db, LogQuery(), OUT_READERS)
    rows = cursor.fetch(100)
    cursor.close()
    expected = [
        event_name(e.type, e.reason, e.granted, e.reader, e.trace, OUT_READERS) for e in ROWS
    ]
    assert [row.trigger for row in rows] == expected
    assert expected == [
        "IN",
        "OUT",
        "OUT",
        "ACCESS DENIED",
        "REMOTE DOOR OPEN",
        "DOOR UNLOCKED",
        "DOOR OPENED",
        "LOCKDOWN ON",
        "DOOR FORCED OPEN",
        "TAMPER ALARM",
        "F7",
    ]
    assert [row.remarks for row in rows][-1] == "added by me"


def test_a_grant_keeps_the_direction_it_was_recorded_with(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    journal = EventJournal(db, ZoneInfo("UTC"), 1000)
    passages = [
        # An OpenDoor exit: its pseudo-reader has no configured direction.
        Event("access", T, "front", "http_unlock", "u1", "card", "AB", True, "granted", **OUT),
        # A reader reconfigured since: the event says how the person passed then.
        Event("access", T + 1, "front", "exit-reader", "u1", "card", "AB", True, "granted", **IN),
        # Journaled before directions were recorded: the reader's configured direction.
        Event("access", T + 2, "front", "exit-reader", "u1", "card", "AB", True, "granted"),
    ]
    for event in passages:
        journal.append(event)
    journal.close()
    cursor = LogCursor(db, LogQuery(), OUT_READERS)
    rows = cursor.fetch(100)
    cursor.close()
    assert [row.trigger for row in rows] == ["OUT", "IN", "OUT"]
    names = [
        event_name(e.type, e.reason, e.granted, e.reader, e.trace, OUT_READERS, e.direction)
        for e in passages
    ]
    assert names == ["OUT", "IN", "OUT"]


def test_grants_journaled_before_directions_were_recorded_keep_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "gateway.db"
    with monkeypatch.context() as older:  # a database written by the previous release
        older.setattr(store_db, "MIGRATIONS", MIGRATIONS[:4])
        older.setattr(store_db, "LATEST_VERSION", 4)
        conn = store_db.open_database(db)
        conn.executemany(
            "INSERT INTO events (time, local_time, type, reader, granted, reason) "
            "VALUES ('2027-01-15T09:00:00.000Z', '2027-01-15T09:00:00.000+00:00', "
            "'access', ?, 1, 'granted')",
            [("front-in",), ("exit-reader",)],
        )
        conn.close()
    cursor = LogCursor(db, LogQuery(), OUT_READERS)  # migrates the file
    rows = cursor.fetch(100)
    cursor.close()
    assert [row.trigger for row in rows] == ["IN", "OUT"]
