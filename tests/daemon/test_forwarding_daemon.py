"""The whole daemon pushes its journal to an agent and loses nothing across an agent outage
and a `kill -9`: every journal seq arrives at least once, each batch in order."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from gateway.store.agents import AgentStore
from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.upstream.forward_fakes import AgentServer, wait_until

KNOWN_CARD_BITS = encode_h10301(12, 34567)  # demo user 1001
UNKNOWN_CARD_BITS = encode_h10301(200, 4242)
# Short back-off so the agent's return is noticed within a second.
FORWARDING = "[forwarding]\nretry_initial_s = 0.2\nretry_max_s = 1\nidle_poll_s = 1\n"


def config_with_fast_forwarding(tmp_path: Path) -> Path:
    text = re.sub(r"(?ms)^\[forwarding\].*?(?=^\[|\Z)", "", SIMULATE.read_text())
    path = tmp_path / "forwarding.toml"
    path.write_text(text + "\n" + FORWARDING)
    return path


async def traffic(session: aiohttp.ClientSession, base: str, presentations: int) -> None:
    """Cards at the front reader (known and unknown) and exit-button presses."""
    for n in range(presentations):
        bits = KNOWN_CARD_BITS if n % 2 else UNKNOWN_CARD_BITS
        async with session.post(
            f"{base}/sim/wiegand", json={"reader": "front-wiegand", "bits": bits}
        ) as resp:
            assert resp.status == 200, await resp.text()
        if n % 3 == 0:
            for active in (True, False):
                async with session.post(
                    f"{base}/sim/input", json={"door": "front", "input": "rex", "active": active}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                await asyncio.sleep(0.1)  # longer than the button's 50 ms debounce


async def login(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with session.post(
        f"{base}/api/v1/login", json={"username": "admin", "password": "simulate"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def journal_seqs(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> list[int]:
    """Every seq the daemon's journal holds, through the native API (no new event)."""
    seqs: list[int] = []
    while True:
        after = seqs[-1] if seqs else 0
        async with session.get(
            f"{base}/api/v1/events?after={after}&limit=1000", headers=headers
        ) as resp:
            page: dict[str, Any] = await resp.json()
        if not page["events"]:
            return seqs
        seqs.extend(int(event["seq"]) for event in page["events"])


def check_order(agent: AgentServer) -> None:
    """Each batch is consecutive and increasing, and never skips past what came before."""
    highest = 0
    for attempt in agent.delivered():
        seqs = attempt.seqs
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        assert seqs[0] <= highest + 1, f"seq {highest + 1}..{seqs[0] - 1} skipped"
        highest = max(highest, seqs[-1])


async def test_no_event_is_lost_across_an_agent_outage_and_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = config_with_fast_forwarding(tmp_path)
    agent = await AgentServer().start()
    with AgentStore.open(state / "gateway.db") as agents:
        agents.register(agent.url, now=time.time(), init_sync=True)
    daemons: list[Daemon] = []
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            daemons.append(await asyncio.to_thread(start_daemon, state, config))
            base = daemons[-1].base_url
            await traffic(session, base, 6)
            await wait_until(lambda: len(agent.delivered_seqs()) >= 5, timeout=10)

            # The agent dies mid-stream, then the daemon is killed without warning.
            more = asyncio.create_task(traffic(session, base, 8))
            await asyncio.sleep(0.2)
            await agent.stop()
            await more
            daemons[-1].stop(signal.SIGKILL)

            daemons.append(await asyncio.to_thread(start_daemon, state, config))
            base = daemons[-1].base_url
            await traffic(session, base, 4)  # while the agent is still away
            await agent.start(port=agent.port)  # back, on the same port
            headers = await login(session, base)  # once: a login is an event too

            async def covered() -> bool:
                kept = await journal_seqs(session, base, headers)
                return kept == list(range(1, kept[-1] + 1)) and set(kept) <= set(
                    agent.delivered_seqs()
                )

            deadline = time.monotonic() + 20
            while not await covered():
                assert time.monotonic() < deadline, "the agent never caught up"
                await asyncio.sleep(0.2)

        check_order(agent)
        entries = [entry for attempt in agent.delivered() for entry in attempt.entries]
        reasons = {entry["reason"] for entry in entries}
        assert {"started", "granted", "exit_button"} <= reasons
        assert {entry["terminalSN"] for entry in entries} == {"sim-gateway"}
        assert daemons[-1].stop() == 0  # SIGTERM: the forwarder stops within its bound
    finally:
        for daemon in daemons:
            daemon.stop(signal.SIGKILL)
        await agent.stop()
