"""The forwarder against real aiohttp agents on 127.0.0.1: order, fields, cursors, back-off,
init sync, several agents, credentials, the backlog alarm."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.access.pins import PinHasher
from gateway.model import Event, User
from gateway.settings import ForwardingSettings
from gateway.store.agents import AgentStore
from gateway.store.journal import EventJournal
from gateway.store.stores import Stores
from gateway.store.writer import JournalWriter
from gateway.upstream.forward import Forwarder, TerminalIdentity, backoff_delay
from gateway.upstream.forward_payload import trigger
from tests.fakes import ManualClock
from tests.upstream.forward_fakes import HANG, AgentServer, wait_until

LONDON = ZoneInfo("Europe/London")
# 2027-07-01 09:00:00 UTC = 10:00:00 in London (summer time, +01:00).
T0 = datetime(2027, 7, 1, 9, 0, 0, tzinfo=UTC).timestamp()
TERMINAL = TerminalIdentity(serial="gw-1", name="Front gateway")
DIRECTIONS = {"front-in": "in", "front-out": "out"}
FAST = ForwardingSettings(
    batch_size=100,
    timeout_s=0.5,
    retry_initial_s=0.05,
    retry_max_s=0.2,
    idle_poll_s=0.2,
    backlog_alarm=1000,
)


def grant(n: int = 0, reader: str = "front-in", user: str = "1001") -> Event:
    return Event(
        "access",
        T0 + n,
        door="front",
        reader=reader,
        user_id=user,
        credential_kind="card",
        credential="0C8707",
        granted=True,
        reason="granted",
        source="cache",
        trace="user 1001 > group 0 > right 0",
    )


def deny(n: int = 0) -> Event:
    return Event(
        "access",
        T0 + n,
        door="front",
        reader="front-in",
        credential_kind="card",
        credential="C8D092",
        granted=False,
        reason="unknown_credential",
        source="cache",
    )


def door_event(n: int = 0, reason: str = "door_opened", type_: str = "door") -> Event:
    return Event(type_, T0 + n, door="front", reason=reason)  # type: ignore[arg-type]


class Rig:
    """A journal, the agents table and forwarders over them, sharing one database file."""

    def __init__(self, journal: EventJournal, agents: AgentStore) -> None:
        self.journal = journal
        self.agents = agents
        self.clock = ManualClock(T0)
        self.emitted: list[Event] = []
        self.forwarders: list[Forwarder] = []

    async def forwarder(self, **changes: Any) -> Forwarder:
        """A started forwarder with `FAST` settings, changed by `changes`; no jitter."""
        settings = replace(FAST, **changes)
        forwarder = Forwarder(
            self.journal,
            self.agents,
            settings,
            self.emit,
            TERMINAL,
            DIRECTIONS,
            self.clock,
            rng=lambda: 0.0,
        )
        self.forwarders.append(forwarder)
        await forwarder.start()
        return forwarder

    def add(self, *events: Event) -> list[int]:
        """Journal `events` as the daemon's writer would, and tell the forwarders."""
        seqs = []
        for event in events:
            seq = self.journal.append(event)
            seqs.append(seq)
            for forwarder in self.forwarders:
                forwarder.notify(seq)
        return seqs

    def emit(self, event: Event) -> None:
        self.emitted.append(event)
        self.add(event)

    def reasons(self) -> list[str]:
        return [event.reason for event in self.emitted]

    def cursor(self, url: str) -> int:
        agent = self.agents.find(url)
        assert agent is not None
        return agent.cursor


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def journal(db_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(db_path, LONDON, max_events=1000)
    yield opened
    opened.close()


@pytest.fixture
def agents(db_path: Path) -> Iterator[AgentStore]:
    with AgentStore.open(db_path) as opened:
        yield opened


@pytest.fixture
async def rig(journal: EventJournal, agents: AgentStore) -> AsyncIterator[Rig]:
    made = Rig(journal, agents)
    yield made
    for forwarder in made.forwarders:
        await forwarder.stop(timeout=2)


@pytest.fixture
async def agent() -> AsyncIterator[AgentServer]:
    server = await AgentServer().start()
    yield server
    await server.stop()


# ----------------------------------------------------------------------------- order, fields


async def test_batches_in_seq_order_with_getfulllogs_fields(
    rig: Rig, agent: AgentServer, db_path: Path
) -> None:
    with Stores.open(db_path, PinHasher(bytes(32))) as stores:
        stores.users.add_user(User("1001", first_name="Ada", last_name="Lovelace"))
    seqs = rig.add(
        grant(0),
        grant(1, reader="front-out"),
        deny(2),
        door_event(3, "held_open", "alarm"),
        door_event(4),
    )
    rig.agents.register(agent.url, now=T0, init_sync=True, magic="s3cret")
    await rig.forwarder(batch_size=2)
    await wait_until(lambda: agent.delivered_seqs() == seqs)

    assert [a.seqs for a in agent.delivered()] == [seqs[0:2], seqs[2:4], seqs[4:5]]
    entries = [entry for attempt in agent.delivered() for entry in attempt.entries]
    first = entries[0]
    assert first == {
        "logID": seqs[0],
        "seq": seqs[0],
        "userID": "1001",
        "userName": "Ada Lovelace",
        "departmentName": "General",
        "timestamp": "2027-07-01T10:00:00",
        "time": "2027-07-01T09:00:00.000Z",
        "trigger": "IN",
        "terminalSN": "gw-1",
        "terminalName": "Front gateway",
        "accessMethod": "CARD",
        "remarks": "#CARD# granted",
        "type": "access",
        "door": "front",
        "reader": "front-in",
        "reason": "granted",
        "granted": True,
    }
    assert [e["trigger"] for e in entries] == [
        "IN",
        "OUT",
        "ACCESS DENIED",
        "held_open",
        "door_opened",
    ]
    assert entries[2]["userID"] == "" and entries[2]["userName"] == ""
    assert "C8D092" not in str(entries)  # the credential itself is never pushed
    headers = agent.delivered()[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Agent-Magic"] == "s3cret" and headers["X-Agent-Version"] == "1.2"

    stored = rig.agents.find(agent.url)
    assert stored is not None and stored.cursor == seqs[-1]
    listed = stored.as_reference()
    assert listed["lastUpdate"] == listed["lastCheck"] == "2027-07-01T09:00:00Z"
    assert listed["lastCheckStatus"] is True and listed["lastCheckDetail"] == "HTTP 200"


def test_a_grant_is_pushed_with_the_direction_it_was_recorded_with(
    journal: EventJournal,
) -> None:
    exit_ = replace(grant(1, reader="http_unlock"), direction="out")  # an OpenDoor Exit
    entry = replace(grant(2, reader="front-out"), direction="in")  # reconfigured since
    old = grant(3, reader="front-out")  # journaled before directions were recorded
    for event in (exit_, entry, old):
        journal.append(event)
    directions = {"front-in": "in", "front-out": "out"}
    assert [trigger(e, directions) for e in journal.read()] == ["OUT", "IN", "OUT"]


async def test_new_events_are_pushed_promptly_through_the_writer_hook(
    rig: Rig, agent: AgentServer, journal: EventJournal
) -> None:
    rig.agents.register(agent.url, now=T0)
    forwarder = await rig.forwarder(idle_poll_s=30)  # only the hook can wake it in time
    writer = JournalWriter(journal, ManualClock())
    writer.add_listener(forwarder.notify)
    seq = await writer.submit(grant())
    await wait_until(lambda: agent.delivered_seqs() == [seq], timeout=2)
    await writer.close()


# ----------------------------------------------------------------------------- cursors


async def test_cursor_moves_only_after_a_2xx(rig: Rig, agent: AgentServer) -> None:
    seqs = rig.add(grant(0), grant(1), grant(2))
    agent.script(500, HANG, 200)
    rig.agents.register(agent.url, now=T0, init_sync=True)
    await rig.forwarder(timeout_s=0.3)

    await wait_until(lambda: len(agent.attempts) == 2)  # the 500 was answered; now a hang
    assert rig.cursor(agent.url) == 0
    stored = rig.agents.find(agent.url)
    assert stored is not None and not stored.last_check_ok
    assert stored.last_check_status == "HTTP 500" and stored.last_update is None

    await wait_until(lambda: len(agent.attempts) == 3)  # the hang timed out: retried
    assert agent.attempts[1].seqs == agent.attempts[2].seqs == seqs
    await wait_until(lambda: rig.cursor(agent.url) == seqs[-1])
    assert [a.status for a in agent.attempts] == [500, HANG, 200]


async def test_a_timeout_is_recorded_and_keeps_the_cursor(rig: Rig, agent: AgentServer) -> None:
    rig.add(grant())
    agent.script(HANG, HANG, HANG, HANG)
    rig.agents.register(agent.url, now=T0, init_sync=True)
    forwarder = await rig.forwarder(timeout_s=0.2, retry_initial_s=1, retry_max_s=1)

    def backing_off() -> bool:
        return bool(forwarder.status()["agents"][agent.url]["state"] == "backoff")

    await wait_until(backing_off)
    stored = rig.agents.find(agent.url)
    assert stored is not None and stored.last_check_status == "timeout"
    assert rig.cursor(agent.url) == 0
    status = forwarder.status()["agents"][agent.url]
    assert status["failures"] == 1 and status["last_check_status"] == "timeout"
    assert status["cursor"] == 0 and status["backlog"] == 1
    assert status["next_retry"] == "2027-07-01T09:00:01Z"  # ManualClock + 1 s, no jitter


async def test_back_off_doubles_between_failures(rig: Rig, agent: AgentServer) -> None:
    rig.add(grant())
    agent.script(500, 500, 500, 500)
    rig.agents.register(agent.url, now=T0, init_sync=True)
    await rig.forwarder(retry_initial_s=0.1, retry_max_s=0.25)
    await wait_until(lambda: len(agent.delivered()) == 1)

    arrivals = [attempt.at for attempt in agent.attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # 0.1, 0.2, then capped at 0.25 twice (no jitter); a little slack for scheduling.
    for gap, expected in zip(gaps, (0.1, 0.2, 0.25, 0.25), strict=True):
        assert expected - 0.02 <= gap <= expected + 0.3


def test_backoff_delay_doubles_to_the_ceiling_with_jitter_below() -> None:
    delays = [backoff_delay(n, 1.0, 300.0, lambda: 0.0) for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff_delay(3, 1.0, 300.0, lambda: 1.0) == 3.0  # at most 25% shorter
    assert backoff_delay(10_000, 1.0, 300.0, lambda: 0.5) == 300 * 0.875


async def test_init_sync_resends_the_whole_journal(rig: Rig, agent: AgentServer) -> None:
    old = rig.add(grant(0), grant(1), grant(2))
    rig.agents.register(agent.url, now=T0)  # no initSync: only what comes next
    forwarder = await rig.forwarder()
    new = rig.add(grant(3), grant(4))
    await wait_until(lambda: agent.delivered_seqs() == new)

    await forwarder.request_init_sync(agent.url)
    everything = old + new
    await wait_until(lambda: agent.delivered_seqs() == new + everything)
    assert rig.cursor(agent.url) == everything[-1]
    stored = rig.agents.find(agent.url)
    assert stored is not None and not stored.init_sync  # the request was taken


async def test_two_agents_with_different_cursors(rig: Rig, agent: AgentServer) -> None:
    late = await AgentServer().start()
    try:
        old = rig.add(grant(0), grant(1), grant(2))
        rig.agents.register(agent.url, now=T0, init_sync=True)
        rig.agents.register(late.url.replace("/agent", "/agent?b=1"), now=T0)
        # Both paths reach the same handler; the query tells the agents apart.
        await rig.forwarder()
        new = rig.add(grant(3))
        await wait_until(lambda: agent.delivered_seqs() == old + new)
        await wait_until(lambda: late.delivered_seqs() == new)
        assert rig.cursor(agent.url) == rig.cursor(late.url + "?b=1") == new[-1]
    finally:
        await late.stop()


async def test_unregistered_agent_gets_nothing_more(rig: Rig, agent: AgentServer) -> None:
    rig.agents.register(agent.url, now=T0)
    forwarder = await rig.forwarder()
    first = rig.add(grant(0))
    await wait_until(lambda: agent.delivered_seqs() == first)
    await forwarder.unregister(agent.url)
    assert forwarder.status()["agents"] == {}
    rig.add(grant(1))
    await forwarder.register(agent.url)
    later = rig.add(grant(2))  # re-registered without initSync: only from now on
    await wait_until(lambda: agent.delivered_seqs() == first + later)


# ----------------------------------------------------------------------------- credentials


async def test_basic_auth_from_the_url_and_never_shown(rig: Rig, agent: AgentServer) -> None:
    secret_url = agent.url.replace("http://", "http://pusher:pa%40ss@")
    registered = rig.agents.register(secret_url, now=T0, init_sync=True)
    seqs = rig.add(grant())
    forwarder = await rig.forwarder()
    await wait_until(lambda: agent.delivered_seqs() == seqs)

    expected = "Basic " + base64.b64encode(b"pusher:pa@ss").decode()
    assert agent.delivered()[0].headers["Authorization"] == expected
    shown = [repr(registered), str(registered.as_reference()), str(forwarder.status())]
    assert all("pa%40ss" not in text and "pusher" not in text for text in shown)
    assert registered.as_reference()["url"] == agent.url
    assert rig.agents.unregister(agent.url).id == registered.id  # by the public form


# ----------------------------------------------------------------------------- backlog alarm


async def test_backlog_alarm_is_raised_once_and_cleared_once(rig: Rig, agent: AgentServer) -> None:
    agent.answer(503)
    rig.agents.register(agent.url, now=T0, init_sync=True)
    forwarder = await rig.forwarder(backlog_alarm=5, retry_initial_s=0.02, retry_max_s=0.02)
    rig.add(*(grant(n) for n in range(8)))
    await wait_until(lambda: "forwarding_backlog" in rig.reasons())
    attempts = len(agent.attempts)
    rig.add(*(grant(n) for n in range(8, 12)))
    await wait_until(lambda: len(agent.attempts) >= attempts + 5)  # still failing
    assert rig.reasons() == ["forwarding_backlog"]
    stored = rig.agents.find(agent.url)
    assert stored is not None and stored.backlog_alarm
    assert forwarder.status()["agents"][agent.url]["backlog_alarm"] is True

    agent.answer(200)
    await wait_until(lambda: "forwarding_backlog_cleared" in rig.reasons())
    await wait_until(lambda: rig.cursor(agent.url) == rig.journal.last_seq())
    assert rig.reasons() == ["forwarding_backlog", "forwarding_backlog_cleared"]
    alarm = rig.emitted[0]
    assert alarm.type == "alarm" and agent.url in alarm.trace
    stored = rig.agents.find(agent.url)
    assert stored is not None and not stored.backlog_alarm


async def test_stop_is_bounded_while_a_post_hangs(rig: Rig, agent: AgentServer) -> None:
    agent.script(HANG)
    rig.add(grant())
    rig.agents.register(agent.url, now=T0, init_sync=True)
    forwarder = await rig.forwarder(timeout_s=30)
    await wait_until(lambda: len(agent.attempts) == 1)
    rig.forwarders.remove(forwarder)
    await forwarder.stop(timeout=1)
    assert rig.cursor(agent.url) == 0
