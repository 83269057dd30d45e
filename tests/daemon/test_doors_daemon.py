"""Doors through the whole daemon: /sim/input and /sim/outputs, the door API, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon
from tests.daemon.test_simulated_daemon import login, wait_for

KNOWN_CARD_BITS = encode_h10301(12, 34567)


class Sim:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def post(self, path: str, body: dict[str, Any], headers: Any = None) -> int:
        async with self.session.post(f"{self.base}{path}", json=body, headers=headers) as resp:
            return resp.status

    async def front(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/sim/outputs") as resp:
            doors: dict[str, Any] = (await resp.json())["doors"]
        return dict(doors["front"])

    async def contact(self, is_open: bool) -> None:
        body = {"door": "front", "input": "contact", "active": is_open}
        assert await self.post("/sim/input", body) == 200
        await asyncio.sleep(0.15)  # past the 50 ms contact debounce

    async def reasons(self, headers: dict[str, str]) -> list[str]:
        async with self.session.get(
            f"{self.base}/api/v1/events?after=0&limit=1000", headers=headers
        ) as resp:
            events = (await resp.json())["events"]
        return [e["reason"] for e in events if e["door"] == "front"]


async def test_grant_open_close_relocks(daemon: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        sim = Sim(session, daemon.base_url)
        body = {"reader": "front-wiegand", "bits": KNOWN_CARD_BITS}
        assert await sim.post("/sim/wiegand", body) == 200

        async def unlocked() -> bool:
            return (await sim.front())["relay"] == "unlocked"

        await wait_for(unlocked)
        await sim.contact(True)
        await sim.contact(False)
        assert (await sim.front())["relay"] == "locked"  # long before the 5 s pulse ends
        headers = await login(session, daemon.base_url)
        reasons = await sim.reasons(headers)
        assert reasons[-5:] == ["granted", "unlocked", "door_opened", "door_closed", "locked"]


async def test_forced_open_alarms_until_acknowledged(daemon: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        sim = Sim(session, daemon.base_url)
        await sim.contact(True)
        await sim.contact(False)
        front = await sim.front()
        assert front["alarm_output"] is True and front["relay"] == "locked"

        headers = await login(session, daemon.base_url)
        assert await sim.post("/api/v1/doors/front/acknowledge", {}, headers) == 200
        assert (await sim.front())["alarm_output"] is False
        reasons = await sim.reasons(headers)
        assert reasons.count("forced_open") == 1 and reasons[-1] == "alarm_acknowledged"
        assert await sim.post("/api/v1/doors/nowhere/acknowledge", {}, headers) == 404
        assert await sim.post("/api/v1/doors/front/acknowledge", {}) == 401


async def test_lockdown_refuses_a_card_and_a_remote_pulse(daemon: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        sim = Sim(session, daemon.base_url)
        headers = await login(session, daemon.base_url)
        assert await sim.post("/api/v1/doors/front/lockdown", {"on": "yes"}, headers) == 400
        assert await sim.post("/api/v1/doors/front/lockdown", {"on": True}, headers) == 200
        assert await sim.post("/sim/wiegand", {"reader": "front-wiegand", "bits": KNOWN_CARD_BITS})
        assert await sim.post("/api/v1/doors/front/pulse", {}, headers) == 409
        assert (await sim.front())["relay"] == "locked"
        assert await sim.post("/api/v1/lockdown", {"on": False}, headers) == 200
        assert await sim.post("/api/v1/doors/front/pulse", {}, headers) == 200
        assert (await sim.front())["relay"] == "unlocked"
        reasons = await sim.reasons(headers)
        assert "lockdown_on" in reasons and "lockdown_off" in reasons and "lockdown" in reasons


async def test_sigterm_while_unlocked_leaves_the_relay_locked(daemon: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        sim = Sim(session, daemon.base_url)
        headers = await login(session, daemon.base_url)
        assert await sim.post("/api/v1/doors/front/pulse", {}, headers) == 200
        assert (await sim.front())["relay"] == "unlocked"
    assert daemon.stop(signal.SIGTERM) == 0
    with sqlite3.connect(daemon.state_dir / "gateway.db") as db:
        rows = db.execute("SELECT type, door, reason, trace FROM events ORDER BY seq").fetchall()
    front = [(r[2], r[3]) for r in rows if r[1] == "front"]
    assert front[-1] == ("locked", "stopping")
    assert rows[-1][2] == "stopping" and rows[-1][0] == "system"
