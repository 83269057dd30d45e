"""The event journal: sequence numbers, PIN masking, bounded size, time fields."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.store.journal import EventJournal, utc_iso
from gateway.store.log_records import LogView, added_log_trace

PARIS = ZoneInfo("Europe/Paris")
# 2027-01-15 09:00:00.123 UTC = 10:00:00.123 in Paris (winter, +01:00).
WINTER = datetime(2027, 1, 15, 9, 0, 0, 123000, tzinfo=UTC).timestamp()


@pytest.fixture
def journal(db_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(db_path, PARIS, max_events=1000)
    yield opened
    opened.close()


def access(n: int = 0, **changes: object) -> Event:
    fields: dict[str, object] = {
        "type": "access",
        "time": WINTER + n,
        "door": "front",
        "reader": "r1",
        "user_id": "A1",
        "credential_kind": "card",
        "credential": "04A1B2C3",
        "granted": True,
        "reason": "granted",
        "source": "cache",
        "trace": "user A1 > group 0 > right 0",
        "latency_ms": 1.25,
        "direction": "in",
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def test_append_returns_increasing_seq_and_reads_back(journal: EventJournal) -> None:
    seqs = [journal.append(access(i)) for i in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    events = journal.read()
    assert [e.seq for e in events] == seqs
    first = events[0]
    assert first.as_dict() == {
        "seq": seqs[0],
        "time": "2027-01-15T09:00:00.123Z",
        "local_time": "2027-01-15T10:00:00.123+01:00",
        "type": "access",
        "door": "front",
        "reader": "r1",
        "user_id": "A1",
        "credential_kind": "card",
        "credential": "04A1B2C3",
        "granted": True,
        "reason": "granted",
        "source": "cache",
        "trace": "user A1 > group 0 > right 0",
        "latency_ms": 1.25,
        "direction": "in",
        "raw": None,
    }
    assert journal.last_seq() == seqs[-1]
    assert journal.count() == 5


def test_read_from_a_cursor_with_a_limit(journal: EventJournal) -> None:
    seqs = [journal.append(access(i)) for i in range(10)]
    page = journal.read(after=seqs[2], limit=3)
    assert [e.seq for e in page] == seqs[3:6]
    assert journal.read(after=seqs[-1]) == []
    assert [e.seq for e in journal.tail(2)] == seqs[-2:]


def test_time_fields_format(journal: EventJournal) -> None:
    summer = datetime(2027, 7, 1, 22, 30, 5, tzinfo=UTC).timestamp()
    journal.append(access(time=summer))
    event = journal.read()[0]
    assert event.time == "2027-07-01T22:30:05.000Z"
    assert event.local_time == "2027-07-02T00:30:05.000+02:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event.time)


def test_pin_is_masked_whatever_the_caller_passed(journal: EventJournal, db_path: Path) -> None:
    journal.append(access(credential_kind="pin", credential="73910462"))
    journal.append(access(credential_kind="pin", credential=None))
    assert [e.credential for e in journal.read()] == ["****", "****"]
    journal.close()
    for path in db_path.parent.iterdir():
        assert b"73910462" not in path.read_bytes()


def test_the_table_itself_refuses_a_clear_pin(journal: EventJournal, db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(
                "INSERT INTO events (time, local_time, type, credential_kind, credential) "
                "VALUES ('t', 'l', 'access', 'pin', '1234')"
            )
    finally:
        raw.close()


def test_non_access_events_and_nulls(journal: EventJournal) -> None:
    journal.append(Event("door", WINTER, door="front", reason="held_open"))
    event = journal.read()[0]
    assert event.type == "door" and event.granted is None and event.user_id is None
    assert event.credential is None and event.latency_ms is None and event.trace == ""
    journal.append(access(granted=False))
    assert journal.read()[-1].granted is False


def test_bounded_size_drops_the_oldest_and_seq_keeps_growing(db_path: Path) -> None:
    journal = EventJournal(db_path, PARIS, max_events=3)
    try:
        seqs = [journal.append(access(i)) for i in range(7)]
        assert journal.count() == 3
        assert [e.seq for e in journal.read()] == seqs[-3:]
        assert journal.first_seq() == seqs[-3]
        assert journal.last_seq() == seqs[-1]
    finally:
        journal.close()
    # A restart with the oldest rows gone still never reuses a seq.
    again = EventJournal(db_path, PARIS, max_events=3)
    try:
        assert again.count() == 3
        assert again.append(access(99)) == seqs[-1] + 1
        assert [e.seq for e in again.read()] == [*seqs[-2:], seqs[-1] + 1]
    finally:
        again.close()


def test_seq_never_goes_back_even_when_everything_was_dropped(db_path: Path) -> None:
    journal = EventJournal(db_path, PARIS, max_events=1)
    try:
        last = [journal.append(access(i)) for i in range(3)][-1]
        raw = sqlite3.connect(db_path)
        raw.execute("DELETE FROM events")
        raw.commit()
        raw.close()
        assert journal.last_seq() == last
        assert journal.append(access()) == last + 1
    finally:
        journal.close()


def test_deleting_logs_takes_what_getlogs_lists_and_nothing_else(journal: EventJournal) -> None:
    audit = [
        Event("api", WINTER, user_id="tech", reason="login", trace="actatek"),
        Event("api", WINTER, user_id="tech", reason="user_added", trace="userID=A1"),
        Event("api", WINTER, user_id="tech", reason="log_setting_set"),
        Event("system", WINTER, reason="started"),
        Event("reader", WINTER, reason="keypad_locked_out"),
    ]
    hidden = access(1, granted=False, reason="unknown_credential", user_id=None)
    logs = [
        access(0),
        Event("door", WINTER + 2, "front", reason="unlocked", trace="granted"),
        Event("alarm", WINTER + 3, "front", reason="forced_open"),
        Event(
            "api", WINTER + 4, user_id="A1", reason="log_added", trace=added_log_trace("t", "IN")
        ),
    ]
    kept = [journal.append(event) for event in audit] + [journal.append(hidden)]
    for event in logs:
        journal.append(event)
    last = journal.last_seq()
    view = LogView(unauthorized=False)  # the log settings hide refused attempts

    deleted = journal.delete_logs(last, None, view)

    assert (deleted.listed, deleted.deleted, deleted.kept_for_agents) == (len(logs), 4, 0)
    assert [e.seq for e in journal.read(limit=100)] == kept
    assert journal.count() == len(kept)
    assert journal.append(access(9)) == last + 1  # the sequence never goes back


def test_deleting_logs_older_than_a_time_keeps_the_newer(journal: EventJournal) -> None:
    old, new = journal.append(access(0)), journal.append(access(86_400))
    deleted = journal.delete_logs(journal.last_seq(), "2027-01-16T00:00:00.000Z", LogView())
    assert deleted.listed == 1 and [e.seq for e in journal.read()] == [new] and old < new


def test_shrinking_max_events_trims_on_next_append(db_path: Path) -> None:
    journal = EventJournal(db_path, PARIS, max_events=10)
    for i in range(10):
        journal.append(access(i))
    journal.close()
    smaller = EventJournal(db_path, PARIS, max_events=4)
    try:
        smaller.append(access(10))
        assert smaller.count() == 4
        assert len(smaller.read(limit=100)) == 4
    finally:
        smaller.close()


def test_append_from_another_thread(journal: EventJournal) -> None:
    seqs: list[int] = []
    worker = threading.Thread(
        target=lambda: seqs.extend(journal.append(access(i)) for i in range(20))
    )
    worker.start()
    worker.join()
    assert seqs == sorted(seqs) and len(seqs) == 20
    assert journal.count() == 20


def test_journal_shares_the_file_with_the_store(journal: EventJournal, db_path: Path) -> None:
    from gateway.access.pins import PinHasher
    from gateway.store.stores import Stores

    stores = Stores.open(db_path, PinHasher(b"k" * 32))
    try:
        version = stores.engine_state.rules_version()
        journal.append(access())
        assert stores.engine_state.rules_version() == version  # the journal is not a rule change
    finally:
        stores.close()


def test_append_waits_for_another_writer(journal: EventJournal, db_path: Path) -> None:
    # A CLI import holding the write lock must delay an event, not lose it.
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(journal.append(access())))
    worker.start()
    worker.join(timeout=0.3)
    assert worker.is_alive() and not result
    other.execute("COMMIT")
    other.close()
    worker.join(timeout=5)
    assert len(result) == 1


@pytest.mark.parametrize(
    ("epoch", "shown"),
    [
        (WINTER, "2027-01-15T09:00:00.123Z"),
        (WINTER + 0.0009, "2027-01-15T09:00:00.123Z"),  # milliseconds truncated, not rounded
        (WINTER - 0.123 + 0.9999, "2027-01-15T09:00:00.999Z"),  # never into the next second
        (0.0, "1970-01-01T00:00:00.000Z"),
        (4102444799.9995, "2099-12-31T23:59:59.999Z"),
    ],
)
def test_journal_times_are_utc_with_milliseconds_truncated(epoch: float, shown: str) -> None:
    assert utc_iso(epoch) == shown
