"""kill -9 at random moments, while cards and PINs are presented and users are written through
the ACTAtek API, and while the daemon is still starting: nothing acknowledged is ever lost.

After every restart, before the next kill:
- the relay of every door was driven locked before READY: the new process journaled each
  door's `locked` (trace `startup`) before its `started` event (which it journals just before
  it sends READY=1), nothing unlocked in between, and the outputs read locked at READY;
- every event the API had returned is still there, unchanged, and the new process's seq
  numbers are above every seq given before (seq never goes back);
- every user write the API acknowledged is there (a write cut by the kill may or may not be);
- `PRAGMA integrity_check` says ok;
- every decision the API returned was right: a card of a user written (and acknowledged) in
  an earlier process is granted, an unknown card is refused.

The short form (`make test`) kills 20 times; `make soak` 300 times (SOAK_MINUTES=30). The
figures go to test-artifacts/soak-kill.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon, launch_daemon
from tests.daemon.test_systemd_notify import FakeSystemd
from tests.soak.conftest import DaemonClient, part_timeout, percentiles, soak_count, write_report

KILLS = soak_count("kill", short=20, full=300)
STARTUP_KILLS = 0.25  # the share of kills that land while the daemon is still starting
DOORS = ("front", "back")
DEMO_CARD, DEMO_USER = "0C8707", "1001"  # config/simulate.toml
UNKNOWN_FACILITY = 201  # no user ever gets a card of this facility
USER_FACILITY = 150


def h10301(facility: int, number: int) -> tuple[str, str]:
    """(canonical card number, Wiegand bits) of an H10301 card."""
    return f"{facility:02X}{number:04X}", encode_h10301(facility, number)


@dataclass
class Ledger:
    """What the daemon's APIs acknowledged, over every process the test ran."""

    events: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> as returned
    max_seq: int = 0
    unverified_from: int | None = None  # lowest seq returned since the last restart
    users: dict[str, str] = field(default_factory=dict)  # userID -> acknowledged firstName
    cards: dict[str, str] = field(default_factory=dict)  # userID -> card
    in_flight: tuple[str, str, str] | None = None  # (userID, firstName, card) unanswered
    known_cards: dict[str, str] = field(default_factory=lambda: {DEMO_CARD: DEMO_USER})
    next_user: int = 0
    decisions_checked: int = 0

    def returned(self, event: dict[str, Any]) -> None:
        """The API returned `event`: it must match what it returned before for that seq,
        and a decision in it must be right."""
        seq = int(event["seq"])
        before = self.events.get(seq)
        if before is not None:
            assert before == event, f"seq {seq} changed:\n{before}\n{event}"
            return
        self.events[seq] = event
        self.max_seq = max(self.max_seq, seq)
        if self.unverified_from is None or seq < self.unverified_from:
            self.unverified_from = seq
        self._check_decision(event)

    def _check_decision(self, event: dict[str, Any]) -> None:
        if event["type"] != "access" or event["reader"] not in ("front-wiegand", "front-keypad"):
            return
        if event["reader"] == "front-keypad":
            expected_user: str | None = DEMO_USER  # only the demo PIN is ever keyed
        else:
            expected_user = self.known_cards.get(event["credential"])
        if expected_user is None:
            assert event["credential"].startswith(f"{UNKNOWN_FACILITY:02X}"), event
            assert event["granted"] is False and event["reason"] == "unknown_credential", event
        else:
            assert event["granted"] is True and event["user_id"] == expected_user, event
        self.decisions_checked += 1


def event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


@dataclass
class CycleFigures:
    ready_s: list[float] = field(default_factory=list)  # launch -> READY=1
    verify_s: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)
    startup_kills: int = 0
    presented: int = 0
    user_writes_acknowledged: int = 0
    user_writes_cut: int = 0


async def check_start(
    client: DaemonClient, ledger: Ledger, launched_wall: float
) -> list[dict[str, Any]]:
    """The new process's start, from its journal (waiting until its `started` is durable):
    doors locked before READY, seq above every seq given before. The events read."""
    low = min(ledger.max_seq, (ledger.unverified_from or ledger.max_seq + 1) - 1)
    deadline = time.monotonic() + 10
    while True:
        events = await client.all_events_after(low)
        ours = [e for e in events if event_time(e) >= launched_wall - 0.001]
        if any(e["reason"] == "started" for e in ours):
            break
        assert time.monotonic() < deadline, f"no started event after READY: {events[-5:]}"
        await asyncio.sleep(0.05)
    before = [e for e in events if event_time(e) < launched_wall - 0.001]
    if before or ledger.max_seq:
        older = max([ledger.max_seq, *(e["seq"] for e in before)])
        assert min(e["seq"] for e in ours) > older, "seq went back after a restart"
    started = next(e for e in ours if e["reason"] == "started")
    before_ready = [e for e in ours if e["seq"] < started["seq"] and e["type"] == "door"]
    for door in DOORS:
        mine = [(e["reason"], e["trace"]) for e in before_ready if e["door"] == door]
        assert mine and mine[0] == ("locked", "startup"), (door, mine)
        assert all(reason != "unlocked" for reason, _ in mine), (door, mine)
    outputs = await client.outputs()
    assert {d: outputs["doors"][d]["relay"] for d in DOORS} == dict.fromkeys(DOORS, "locked")
    return events


async def check_acknowledged(client: DaemonClient, ledger: Ledger, read: list[Any]) -> None:
    """Every event and user write acknowledged before the kill is there."""
    for event in read:
        ledger.returned(event)
    if ledger.unverified_from is not None:
        by_seq = {e["seq"]: e for e in read}
        for seq, event in ledger.events.items():
            if seq >= ledger.unverified_from:
                assert by_seq.get(seq) == event, f"acknowledged seq {seq} lost or changed"
    ledger.unverified_from = None
    status, users = await client.actatek("GET", "user")
    assert status == 200, users
    stored = {u["userID"]: u for u in users}
    for user_id, first_name in ledger.users.items():
        assert user_id in stored, f"acknowledged user {user_id} lost"
        assert stored[user_id]["firstName"] == first_name or (
            ledger.in_flight is not None
            and ledger.in_flight[:2] == (user_id, stored[user_id]["firstName"])
        ), (user_id, first_name, stored[user_id], ledger.in_flight)
        assert stored[user_id]["cardsn"] == ledger.cards[user_id]
    if ledger.in_flight is not None:
        user_id, _, card = ledger.in_flight
        if user_id in stored:  # the cut write was applied: now it is acknowledged
            ledger.users[user_id] = stored[user_id]["firstName"]
            ledger.cards[user_id] = card
        ledger.in_flight = None
    for user_id, card in ledger.cards.items():
        ledger.known_cards[card] = user_id  # in the store: presented from now on


def integrity(db: Path) -> str:
    """PRAGMA integrity_check on a read-only connection beside the running daemon."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def present(
    client: DaemonClient, ledger: Ledger, rng: random.Random, figures: CycleFigures
) -> None:
    """Cards (known and unknown) and the demo PIN, until the daemon dies."""
    known = sorted(ledger.known_cards)
    while True:
        roll = rng.random()
        if roll < 0.15:
            await client.sim("keys", {"reader": "front-keypad", "keys": "1234#"})
        else:
            if roll < 0.6:
                card = rng.choice(known)
                bits = encode_h10301(int(card[:2], 16), int(card[2:], 16))
            else:
                _, bits = h10301(UNKNOWN_FACILITY, rng.randrange(65536))
            await client.sim("wiegand", {"reader": "front-wiegand", "bits": bits})
        figures.presented += 1
        await asyncio.sleep(rng.uniform(0.01, 0.06))


async def write_users(
    client: DaemonClient, ledger: Ledger, rng: random.Random, figures: CycleFigures
) -> None:
    """Add users with a card, or rename one, one request at a time, until the daemon dies."""
    while True:
        if ledger.users and rng.random() < 0.3:
            user_id = rng.choice(sorted(ledger.users))
            first_name = f"v{rng.randrange(10**6)}"
            ledger.in_flight = (user_id, first_name, ledger.cards[user_id])
            status, body = await client.actatek(
                "PUT", "user", {"userID": user_id, "firstName": first_name}
            )
        else:
            ledger.next_user += 1
            user_id, first_name = f"S{ledger.next_user}", "v0"
            card, _ = h10301(USER_FACILITY + ledger.next_user // 65536, ledger.next_user % 65536)
            ledger.in_flight = (user_id, first_name, card)
            status, body = await client.actatek(
                "POST", "user", {"userID": user_id, "firstName": first_name, "cardsn": card}
            )
        assert status == 200 and body["status"] == "success", body
        ledger.users[user_id] = first_name
        ledger.cards[user_id] = ledger.in_flight[2]
        ledger.in_flight = None
        figures.user_writes_acknowledged += 1
        await asyncio.sleep(rng.uniform(0.01, 0.1))


async def poll_events(client: DaemonClient, ledger: Ledger, rng: random.Random) -> None:
    """Read the journal (and the status) as a management tool would, until the daemon dies."""
    while True:
        for event in await client.events_after(ledger.max_seq):
            ledger.returned(event)
        if rng.random() < 0.2:
            await client.status()
        await asyncio.sleep(rng.uniform(0.02, 0.15))


async def until_killed(daemon: Daemon, work: list[Any], delay: float) -> None:
    """Run `work` for `delay` seconds, then kill -9 the daemon under it; the work must end
    with the connection errors of a dead server, nothing else."""
    tasks = [asyncio.ensure_future(w) for w in work]
    done, _ = await asyncio.wait(tasks, timeout=delay, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()  # an assertion in the work fails the test here
    daemon.process.send_signal(signal.SIGKILL)
    await asyncio.get_running_loop().run_in_executor(None, daemon.process.wait)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, AssertionError):
            raise result
        assert isinstance(result, (aiohttp.ClientError, asyncio.TimeoutError)), repr(result)


async def restart_checked(
    daemon: Daemon, ledger: Ledger, launched_wall: float, figures: CycleFigures
) -> DaemonClient:
    """Every check after a restart; the logged-in client."""
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    client = DaemonClient(http, daemon.base_url)
    started = time.monotonic()
    await client.login()
    read = await check_start(client, ledger, launched_wall)
    await check_acknowledged(client, ledger, read)
    assert integrity(daemon.state_dir / "gateway.db") == "ok"
    figures.verify_s.append(time.monotonic() - started)
    return client


async def cycle(
    daemon: Daemon,
    ledger: Ledger,
    launched_wall: float,
    rng: random.Random,
    figures: CycleFigures,
) -> None:
    """Check the restart, then load the daemon and kill it at a random moment."""
    client = await restart_checked(daemon, ledger, launched_wall, figures)
    async with client.http:
        delay = rng.uniform(0.05, 1.5)
        figures.load_s.append(delay)
        writes = figures.user_writes_acknowledged
        await until_killed(
            daemon,
            [
                present(client, ledger, rng, figures),
                write_users(client, ledger, rng, figures),
                poll_events(client, ledger, rng),
            ],
            delay,
        )
        figures.user_writes_cut += ledger.in_flight is not None
        assert figures.user_writes_acknowledged >= writes


def wait_ready(daemon: Daemon, systemd: FakeSystemd, launched: float) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert daemon.process.poll() is None, f"daemon exited:\n{daemon.log()}"
        if any(w >= launched and "READY=1" in m for w, m in list(systemd.messages)):
            return
        time.sleep(0.01)
    raise AssertionError(f"no READY=1 in 30 s:\n{daemon.log()}")


@pytest.mark.timeout(part_timeout(240, 7200))
def test_kill_9_at_random_moments_loses_nothing_acknowledged(
    tmp_path: Path, systemd: FakeSystemd
) -> None:
    seed = int(os.environ.get("SOAK_SEED", time.time_ns() % 10**9))
    rng, ledger, figures = random.Random(seed), Ledger(), CycleFigures()
    state = tmp_path / "state"
    began = time.monotonic()
    kills = 0
    daemon: Daemon | None = None
    try:
        while True:
            launched_wall, launched = time.time(), time.monotonic()
            daemon = launch_daemon(state, environ=systemd.environ())
            if kills < KILLS and rng.random() < STARTUP_KILLS:
                time.sleep(rng.uniform(0.0, 1.2))  # about a start-up on this machine
                assert daemon.process.poll() is None, f"daemon exited:\n{daemon.log()}"
                daemon.stop(signal.SIGKILL)
                kills += 1
                figures.startup_kills += 1
                continue
            wait_ready(daemon, systemd, launched)
            figures.ready_s.append(time.monotonic() - launched)
            if kills == KILLS:
                asyncio.run(final_check(daemon, ledger, launched_wall, figures))
                assert daemon.stop(signal.SIGTERM) == 0
                break
            asyncio.run(cycle(daemon, ledger, launched_wall, rng, figures))
            kills += 1
    except BaseException:
        print(f"SOAK_SEED={seed} reproduces this run; daemon log:\n{daemon and daemon.log()}")
        raise
    finally:
        if daemon is not None:
            daemon.stop(signal.SIGKILL)
    report = {
        "seed": seed,
        "kills": kills,
        "kills_during_startup": figures.startup_kills,
        "seconds": round(time.monotonic() - began, 1),
        "events_acknowledged": len(ledger.events),
        "decisions_checked": ledger.decisions_checked,
        "credentials_presented": figures.presented,
        "user_writes_acknowledged": figures.user_writes_acknowledged,
        "user_writes_cut_by_a_kill": figures.user_writes_cut,
        "users_at_end": len(ledger.users),
        "launch_to_ready_s": percentiles(figures.ready_s),
        "checks_after_restart_s": percentiles(figures.verify_s),
        "load_before_kill_s": percentiles(figures.load_s),
    }
    path = write_report("kill", report)
    print(f"kill -9 soak: {kills} kills, report in {path}")
    assert ledger.decisions_checked > 0 and figures.user_writes_acknowledged > 0


async def final_check(
    daemon: Daemon, ledger: Ledger, launched_wall: float, figures: CycleFigures
) -> None:
    """The last restart: every event ever returned is still there, not only the latest."""
    client = await restart_checked(daemon, ledger, launched_wall, figures)
    async with client.http:
        everything = {e["seq"]: e for e in await client.all_events_after(0)}
    for seq, event in ledger.events.items():
        assert everything.get(seq) == event, f"acknowledged seq {seq} lost or changed"
