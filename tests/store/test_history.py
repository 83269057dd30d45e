"""The 24-hour history the status page charts: grants, denials and door alarms per local
hour, counted by SQLite over a real journal, with events placed on the hour boundaries and
on the edge of the 24 hours."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.store.history import HOURS, hourly_history, read_history
from gateway.store.journal import EventJournal

PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30: local hours are not UTC hours
# 2027-01-15 14:20 in Paris (13:20 UTC): the window is 15:00 the day before to 15:00.
NOW = datetime(2027, 1, 15, 13, 20, 0, tzinfo=UTC).timestamp()
CURRENT_HOUR = datetime(2027, 1, 15, 13, 0, 0, tzinfo=UTC).timestamp()  # 14:00 Paris
WINDOW_START = CURRENT_HOUR - 23 * 3600


@pytest.fixture
def journal(db_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(db_path, PARIS, max_events=10_000)
    yield opened
    opened.close()


def access(when: float, granted: bool) -> Event:
    return Event(
        "access",
        when,
        door="front",
        reader="r1",
        credential_kind="card",
        credential="04A1B2C3",
        granted=granted,
        reason="granted" if granted else "unknown_credential",
    )


def alarm(when: float, reason: str = "forced_open") -> Event:
    return Event("alarm", when, door="front", reason=reason)


def counts(db_path: Path, tz: ZoneInfo = PARIS, now: float = NOW) -> list[tuple[int, int, int]]:
    history = read_history(db_path, now, tz)
    return [(hour.granted, hour.denied, hour.alarms) for hour in history.hours]


def test_an_empty_journal_gives_24_empty_hours_labelled_in_local_time(
    journal: EventJournal, db_path: Path
) -> None:
    history = read_history(db_path, NOW, PARIS)
    assert len(history.hours) == HOURS == 24
    assert all((h.granted, h.denied, h.alarms) == (0, 0, 0) for h in history.hours)
    assert history.hours[0].label == "15:00"  # yesterday 15:00 Paris
    assert history.hours[-1].label == "14:00"  # the current hour, so far
    assert history.hours[-1].start == CURRENT_HOUR
    assert [h.start for h in history.hours] == [WINDOW_START + 3600 * i for i in range(24)]


def test_events_on_hour_boundaries_fall_in_the_hour_they_start(
    journal: EventJournal, db_path: Path
) -> None:
    boundary = CURRENT_HOUR - 3600  # 13:00 Paris: starts hour 22
    journal.append_batch(
        [
            access(boundary - 0.001, True),  # 12:59:59.999: hour 21
            access(boundary, True),  # 13:00:00.000: hour 22
            access(boundary + 3599.999, False),  # 13:59:59.999: hour 22
            access(CURRENT_HOUR, False),  # 14:00:00.000: hour 23
            alarm(NOW),  # now: hour 23
        ]
    )
    found = counts(db_path)
    assert found[21] == (1, 0, 0)
    assert found[22] == (1, 1, 0)
    assert found[23] == (0, 1, 1)
    assert sum(g + d + a for g, d, a in found) == 5


def test_the_24_hour_edge_keeps_the_first_millisecond_and_nothing_older(
    journal: EventJournal, db_path: Path
) -> None:
    journal.append_batch(
        [
            access(WINDOW_START - 0.001, True),  # 24 h and a millisecond ago: outside
            access(WINDOW_START - 86400, True),  # yesterday: outside
            access(WINDOW_START, False),  # the first millisecond of the window
        ]
    )
    found = counts(db_path)
    assert found[0] == (0, 1, 0)
    assert sum(g + d + a for g, d, a in found) == 1


def test_only_raised_door_alarms_count_not_clears_nor_other_types(
    journal: EventJournal, db_path: Path
) -> None:
    when = CURRENT_HOUR + 60
    journal.append_batch(
        [
            alarm(when, "forced_open"),
            alarm(when, "held_open"),
            alarm(when, "tamper"),
            alarm(when, "held_open_cleared"),
            alarm(when, "alarm_acknowledged"),
            Event("alarm", when, reason="login_throttled"),  # not a door
            Event("door", when, door="front", reason="unlocked"),
            Event("api", when, user_id="admin", reason="login"),
            Event("access", when, door="front", granted=None, reason="pin_pending"),
        ]
    )
    assert counts(db_path)[23] == (0, 0, 3)


def test_hours_follow_local_time_in_a_half_hour_zone(journal: EventJournal, db_path: Path) -> None:
    # 2027-01-15 18:50 in Kolkata (13:20 UTC): its current hour began at 12:30 UTC.
    local_hour = datetime(2027, 1, 15, 12, 30, tzinfo=UTC).timestamp()
    journal.append_batch([access(local_hour - 0.001, True), access(local_hour, False)])
    history = read_history(db_path, NOW, KOLKATA)
    assert history.hours[-1].label == "18:00"
    assert (history.hours[-1].granted, history.hours[-1].denied) == (0, 1)
    assert (history.hours[-2].granted, history.hours[-2].denied) == (1, 0)


def test_events_the_api_cleared_from_the_log_are_not_counted(
    journal: EventJournal, db_path: Path
) -> None:
    journal.append_batch([access(CURRENT_HOUR + 1, True), access(CURRENT_HOUR + 2, True)])
    with sqlite3.connect(db_path) as conn:  # a test may look under the journal
        conn.execute("UPDATE events SET log_cleared = 1 WHERE seq = 1")
    assert counts(db_path)[23] == (1, 0, 0)


def test_the_count_is_one_indexed_query_over_the_window(db_path: Path) -> None:
    """SQLite finds the window through the time index instead of reading every row."""
    EventJournal(db_path, PARIS, max_events=10_000).close()
    conn = sqlite3.connect(db_path)
    try:
        plans = []
        conn.set_trace_callback(plans.append)
        hourly_history(conn, NOW, PARIS)
        conn.set_trace_callback(None)
        assert len(plans) == 1  # one statement
        plan = conn.execute("EXPLAIN QUERY PLAN " + plans[0]).fetchall()
    finally:
        conn.close()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH events USING INDEX events_time (time>? AND time<?)" in details, details


def test_history_as_json_names_each_hour(journal: EventJournal, db_path: Path) -> None:
    journal.append(access(CURRENT_HOUR + 5, True))
    shown = read_history(db_path, NOW, PARIS).as_dict()
    assert shown["timezone"] == "Europe/Paris"
    assert shown["totals"] == {"granted": 1, "denied": 0, "alarms": 0}
    assert shown["hours"][-1] == {
        "start": "2027-01-15T14:00:00+01:00",
        "label": "14:00",
        "granted": 1,
        "denied": 0,
        "alarms": 0,
    }
