"""Journal retention in two classes: evidence (access, door, alarm, reader, upstream and
system events) and administrative events (`api`: logins, user and configuration changes).
Administrative noise never pushes evidence out, evidence never pushes out the
administrative share, and what retention drops of the administrative class is journaled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.model import Event, StoredEvent
from gateway.store.agents import AgentStore
from gateway.store.journal import EventJournal
from gateway.store.log_records import LogView
from tests.upstream.test_forward import LONDON, T0, grant

MAX = 1_000  # evidence rows
ADMIN_MAX = MAX // 10  # the administrative share: its own bound
ADMIN_CHUNK = ADMIN_MAX // 10  # dropped at a time, with one event saying so
DROPPED = re.compile(
    r"(\d+) administrative events dropped, their share of the journal full "
    rf"\({ADMIN_MAX} rows\): seq (\d+)-(\d+), \S+ to \S+"
)
AGENT = "http://127.0.0.1:9/a"  # never contacted: these tests run no forwarder


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(tmp_path / "gateway.db", LONDON, max_events=MAX)
    yield opened
    opened.close()


def changed_myself(n: int, who: str = "pat") -> Event:
    return Event("api", T0 + n, user_id=who, reason="myself_updated", trace=f"userID={who}")


def rows(journal: EventJournal) -> list[StoredEvent]:
    return journal.read(0, 10 * MAX)


def administrative(journal: EventJournal) -> list[StoredEvent]:
    return [row for row in rows(journal) if row.type == "api"]


def drops(journal: EventJournal) -> list[StoredEvent]:
    return [row for row in rows(journal) if row.reason == "admin_events_dropped"]


def test_administrative_noise_never_pushes_out_evidence(journal: EventJournal) -> None:
    evidence = journal.append_batch([grant(n) for n in range(MAX)])

    noise = journal.append_batch([changed_myself(n) for n in range(5 * MAX)])

    assert [row.seq for row in rows(journal) if row.type != "api"] == evidence
    kept = administrative(journal)
    assert len(kept) <= ADMIN_MAX and journal.count() == MAX + len(kept)
    assert noise[-1] in [row.seq for row in kept]  # the newest noise is kept
    notice = drops(journal)[-1]
    assert (notice.type, notice.user_id) == ("api", None)
    found = DROPPED.match(notice.trace)
    assert found is not None, notice.trace
    count, first, last = (int(group) for group in found.groups())
    assert count >= ADMIN_CHUNK and last - first + 1 >= count
    assert "not yet delivered" not in notice.trace  # no agent: nothing waited for delivery


def test_evidence_does_not_push_out_the_administrative_share(journal: EventJournal) -> None:
    changes = journal.append_batch([changed_myself(n, who="alice") for n in range(50)])

    evidence = journal.append_batch([grant(n) for n in range(3 * MAX)])

    assert [row.seq for row in administrative(journal)] == changes
    assert [row.seq for row in rows(journal) if row.type != "api"] == evidence[-MAX:]
    assert journal.count() == MAX + 50 and drops(journal) == []


def test_a_restart_counts_each_class_and_never_reuses_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    first = EventJournal(path, LONDON, max_events=MAX)
    first.append_batch([grant(n) for n in range(MAX)])
    last = first.append_batch([changed_myself(n) for n in range(ADMIN_MAX)])[-1]
    first.close()

    again = EventJournal(path, LONDON, max_events=MAX)
    try:
        assert again.count() == MAX + ADMIN_MAX
        seq = again.append(changed_myself(ADMIN_MAX))  # one over the share: the share trims
        assert seq == last + 1
        # A chunk went, and the event saying so came in.
        assert len(administrative(again)) == ADMIN_MAX + 1 - ADMIN_CHUNK + 1
        assert len([row for row in rows(again) if row.type != "api"]) == MAX
    finally:
        again.close()


def test_undelivered_administrative_rows_go_only_when_none_delivered_is_left(
    journal: EventJournal, tmp_path: Path
) -> None:
    with AgentStore.open(tmp_path / "gateway.db") as agents:
        agent = agents.register(AGENT, now=T0, init_sync=True)
        agents.take_init_sync(agent.id)
        evidence = journal.append_batch([grant(n) for n in range(10)])
        changes = journal.append_batch([changed_myself(n) for n in range(ADMIN_MAX)])
        agents.record_success(agent.id, changes[ADMIN_CHUNK - 1], T0, "HTTP 200")

        journal.append(changed_myself(ADMIN_MAX))  # the delivered chunk makes room
        assert journal.overflowed == 0
        quiet = drops(journal)[-1]
        assert "not yet delivered" not in quiet.trace
        assert f"seq {changes[0]}-{changes[ADMIN_CHUNK - 1]}" in quiet.trace

        journal.append_batch([changed_myself(ADMIN_MAX + 1 + n) for n in range(ADMIN_CHUNK)])
        loud = drops(journal)[-1]
        assert re.search(r"; (\d+) of them not yet delivered; agents behind: agent", loud.trace)
        assert f"agent {agent.id} {AGENT} (cursor {changes[ADMIN_CHUNK - 1]})" in loud.trace
        assert journal.overflowed >= ADMIN_CHUNK
        # Evidence the agent has not received is untouched by the administrative share.
        assert [row.seq for row in rows(journal) if row.type != "api"] == evidence


def test_deleting_added_logs_frees_administrative_room(journal: EventJournal) -> None:
    added = Event("api", T0, user_id="1001", reason="log_added", trace="by=tech;trigger=IN")
    journal.append_batch([added] * ADMIN_MAX)
    assert journal.delete_logs(journal.last_seq(), None, LogView()).deleted == ADMIN_MAX

    journal.append_batch([changed_myself(n) for n in range(ADMIN_MAX)])

    assert drops(journal) == [] and len(administrative(journal)) == ADMIN_MAX
