"""Retention without loss: the journal keeps what an active agent has not acknowledged
while it is under max_events, and says so (journal_overflow) when it has to drop it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.model import Event
from gateway.store.agents import AgentStore
from gateway.store.journal import EventJournal
from gateway.store.log_query import LogCursor
from gateway.store.log_records import LogQuery, LogView
from tests.upstream.forward_fakes import AgentServer, wait_until
from tests.upstream.test_forward import LONDON, T0, Rig, grant

MAX = 10
CHUNK = 3
AGENT_A = "http://127.0.0.1:9/a"  # never contacted: these tests run no forwarder
AGENT_B = "http://127.0.0.1:9/b"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(tmp_path / "gateway.db", LONDON, max_events=MAX, overflow_chunk=CHUNK)
    yield opened
    opened.close()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentStore]:
    with AgentStore.open(tmp_path / "gateway.db") as opened:
        yield opened


def fill(journal: EventJournal, n: int, start: int = 0) -> list[int]:
    return [journal.append(grant(start + i)) for i in range(n)]


def overflow_events(journal: EventJournal) -> list[str]:
    return [e.trace for e in journal.read(limit=1000) if e.reason == "journal_overflow"]


def test_undelivered_rows_are_kept_while_under_max(
    journal: EventJournal, agents: AgentStore
) -> None:
    agents.register(AGENT_A, now=T0, init_sync=True)  # cursor 0: has nothing yet
    seqs = fill(journal, MAX)
    assert [e.seq for e in journal.read(limit=100)] == seqs
    assert overflow_events(journal) == [] and journal.overflowed == 0


def test_delivered_rows_go_first_and_quietly(journal: EventJournal, agents: AgentStore) -> None:
    agent = agents.register(AGENT_A, now=T0, init_sync=True)
    seqs = fill(journal, MAX)
    agents.take_init_sync(agent.id)
    assert agents.record_success(agent.id, seqs[3], T0, "HTTP 200")
    more = fill(journal, 4, start=MAX)  # exactly the 4 delivered rows must make room
    assert [e.seq for e in journal.read(limit=100)] == seqs[4:] + more
    assert journal.count() == MAX and overflow_events(journal) == []


def test_without_an_active_agent_the_oldest_go_quietly(
    journal: EventJournal, agents: AgentStore
) -> None:
    agents.register(AGENT_A, now=T0, init_sync=True)
    agents.set_active(AGENT_A, False)  # a paused agent does not hold the journal back
    seqs = fill(journal, MAX + 5)
    assert [e.seq for e in journal.read(limit=100)] == seqs[5:]
    assert overflow_events(journal) == []


def test_overflow_drops_the_oldest_and_journals_how_many(
    journal: EventJournal, agents: AgentStore
) -> None:
    behind = agents.register(AGENT_A, now=T0, init_sync=True)
    current = agents.register(AGENT_B, now=T0, init_sync=True)
    seqs = fill(journal, MAX)
    agents.take_init_sync(current.id)
    agents.record_success(current.id, seqs[-1], T0, "HTTP 200")  # B has everything

    newest = journal.append(grant(MAX))
    rows = journal.read(limit=100)
    # A chunk of CHUNK oldest rows went (none was delivered to A); the overflow event
    # follows the event that caused it.
    assert [e.seq for e in rows] == [*seqs[CHUNK:], newest, newest + 1]
    overflow = rows[-1]
    assert (overflow.type, overflow.reason) == ("system", "journal_overflow")
    assert re.match(rf"{CHUNK} undelivered events dropped", overflow.trace)
    assert f"seq {seqs[0]}-{seqs[CHUNK - 1]}" in overflow.trace
    assert f"agent {behind.id} {AGENT_A} (cursor 0)" in overflow.trace
    assert AGENT_B not in overflow.trace
    assert journal.count() == MAX - CHUNK + 2 == len(rows)
    assert journal.overflowed == CHUNK

    # The next inserts fill the room the chunk made: no overflow per insert.
    fill(journal, CHUNK - 2, start=MAX + 1)
    assert len(overflow_events(journal)) == 1 and journal.count() == MAX


async def test_a_dead_agent_gets_what_is_left_and_the_overflow_notice(
    journal: EventJournal, agents: AgentStore
) -> None:
    server = await AgentServer().start()
    rig = Rig(journal, agents)
    try:
        server.answer(503)
        agents.register(server.url, now=T0, init_sync=True)
        forwarder = await rig.forwarder()
        fill(journal, MAX + 1)  # one too many while the agent is down
        kept = [e.seq for e in journal.read(limit=100)]
        server.answer(200)
        await wait_until(lambda: server.delivered_seqs() == kept)
        entries = [entry for a in server.delivered() for entry in a.entries]
        assert entries[-1]["trigger"] == "journal_overflow"
        assert entries[-1]["remarks"].startswith(f"{CHUNK} undelivered events dropped")
        # The agent has the batch before the forwarder reads its reply and moves the cursor.
        await wait_until(lambda: forwarder.status()["agents"][server.url]["backlog"] == 0)
    finally:
        for forwarder in rig.forwarders:
            await forwarder.stop(timeout=2)
        await server.stop()


async def test_deleting_the_access_log_keeps_what_an_agent_has_not_received(
    journal: EventJournal, agents: AgentStore, tmp_path: Path
) -> None:
    server = await AgentServer().start()
    rig = Rig(journal, agents)
    try:
        agent = agents.register(server.url, now=T0, init_sync=True)
        agents.take_init_sync(agent.id)
        seqs = fill(journal, 4)
        login = journal.append(Event("api", T0 + 5, user_id="tech", reason="login"))
        agents.record_success(agent.id, seqs[1], T0, "HTTP 200")  # the agent has two

        deleted = journal.delete_logs(journal.last_seq(), None, LogView())

        assert (deleted.listed, deleted.deleted, deleted.kept_for_agents) == (4, 2, 2)
        assert [e.seq for e in journal.read(limit=100)] == [*seqs[2:], login]
        cursor = LogCursor(tmp_path / "gateway.db", LogQuery(), ())
        assert cursor.fetch(100) == []  # gone from the access log at once
        cursor.close()
        await rig.forwarder()  # ...and the agent still gets what it had not received
        await wait_until(lambda: server.delivered_seqs() == [*seqs[2:], login])
        assert journal.delete_logs(journal.last_seq(), None, LogView()).listed == 0
    finally:
        for forwarder in rig.forwarders:
            await forwarder.stop(timeout=2)
        await server.stop()
