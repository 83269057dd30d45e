"""The whole daemon in simulation: a keypad lockout lasts its 60 s however the wall clock is
stepped (`/sim/clock` steps the wall clock alone), and across a restart of the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon.conftest import start_daemon
from tests.daemon.test_simulated_daemon import login, wait_for

KEYPAD = "front-keypad"


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with session.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()


async def locked(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    headers = await login(session, base)
    async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
        assert resp.status == 200
        status = await resp.json()
    result: dict[str, float] = status["access"]["lockout"]["locked"]
    return result


async def test_a_keypad_lockout_is_not_stretched_by_a_step_back_of_the_wall_clock(
    tmp_path: Path,
) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    daemon = start_daemon(tmp_path / "state")
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            base = daemon.base_url
            for _ in range(5):
                await post(session, f"{base}/sim/keys", {"reader": KEYPAD, "keys": "0000#"})

            async def keypad_locked() -> dict[str, float]:
                return await locked(session, base)

            assert 0 < (await wait_for(keypad_locked))[KEYPAD] <= 60
            await post(session, f"{base}/sim/clock", {"step_s": -3600})
            assert 0 < (await locked(session, base))[KEYPAD] <= 60
    finally:
        assert daemon.stop() == 0
    restarted = start_daemon(tmp_path / "state")
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            # The same boot: the time the daemon was down counted on the monotonic clock.
            assert 0 < (await locked(session, restarted.base_url))[KEYPAD] <= 60
    finally:
        assert restarted.stop() == 0


async def test_a_wall_clock_step_back_is_journaled_before_the_events_it_restamps(
    tmp_path: Path,
) -> None:
    card = {"reader": "front-wiegand", "bits": "10000110010000111000001111"}
    daemon = start_daemon(tmp_path / "state")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)
            await post(session, f"{base}/sim/wiegand", card)
            await post(session, f"{base}/sim/clock", {"step_s": -3600})
            await post(session, f"{base}/sim/wiegand", card)

            async def two_grants() -> list[dict[str, Any]]:
                url = f"{base}/api/v1/events?after=0&limit=1000"
                async with session.get(url, headers=headers) as resp:
                    events: list[dict[str, Any]] = (await resp.json())["events"]
                grants = [e for e in events if e["type"] == "access" and e["granted"]]
                return events if len(grants) == 2 else []

            events = await wait_for(two_grants)
    finally:
        assert daemon.stop() == 0
    steps = [i for i, e in enumerate(events) if e["reason"] == "clock_stepped"]
    assert len(steps) == 1
    before, after = events[: steps[0]], events[steps[0] + 1 :]
    assert [e["time"] for e in before] == sorted(e["time"] for e in before)
    assert [e["time"] for e in after] == sorted(e["time"] for e in after)
    assert after[0]["time"] < before[-1]["time"]
    assert [e["granted"] for e in events if e["type"] == "access"] == [True, True]
