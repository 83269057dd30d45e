"""The whole daemon, started as a subprocess in simulation and driven over HTTP."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.rules_cache import build_database
from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon, launch_daemon, wait_listening

KNOWN_CARD_BITS = encode_h10301(12, 34567)  # demo user 1001, canonical 0C8707
UNKNOWN_CARD_BITS = encode_h10301(200, 4242)


async def login(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with session.post(
        f"{base}/api/v1/login", json={"username": "admin", "password": "simulate"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def access_events(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    async with session.get(f"{base}/api/v1/events?after=0&limit=1000", headers=headers) as resp:
        assert resp.status == 200
        body = await resp.json()
    return [e for e in body["events"] if e["type"] == "access"]


async def test_known_card_opens_front_door_and_unknown_is_denied(daemon: Daemon) -> None:
    base = daemon.base_url
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        headers = await login(session, base)
        async with session.get(f"{base}/sim/outputs") as resp:
            assert (await resp.json())["doors"]["front"]["relay"] == "locked"

        async with session.post(
            f"{base}/sim/wiegand",
            json={"reader": "front-wiegand", "bits": KNOWN_CARD_BITS, "bit_interval_us": 2000,
                  "pulse_us": 50},
        ) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()

        async def unlocked() -> bool:
            async with session.get(f"{base}/sim/outputs") as resp:
                return bool((await resp.json())["doors"]["front"]["relay"] == "unlocked")

        await wait_for(unlocked)

        async def granted() -> list[dict[str, Any]]:
            events = await access_events(session, base, headers)
            return [e for e in events if e["granted"] is True]

        grant = (await wait_for(granted))[0]
        assert grant["user_id"] == "1001"
        assert grant["credential"] == "0C8707"
        assert grant["door"] == "front" and grant["reader"] == "front-wiegand"
        assert grant["time"].endswith("Z") and grant["source"] == "cache"

        async with session.post(
            f"{base}/sim/wiegand", json={"reader": "front-wiegand", "bits": UNKNOWN_CARD_BITS}
        ) as resp:
            assert resp.status == 200

        async def denied() -> list[dict[str, Any]]:
            events = await access_events(session, base, headers)
            return [e for e in events if e["granted"] is False]

        deny = (await wait_for(denied))[0]
        assert deny["reason"] == "unknown_credential"
        assert deny["user_id"] is None
        assert deny["credential"] == "C81092"


async def test_api_needs_a_token_and_wrong_password_is_refused(daemon: Daemon) -> None:
    base = daemon.base_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(f"{base}/api/v1/status") as resp:
            assert resp.status == 401
        async with session.post(
            f"{base}/api/v1/login", json={"username": "admin", "password": "wrong"}
        ) as resp:
            assert resp.status == 401
        async with session.post(f"{base}/api/v1/login", data=b"{not json") as resp:
            assert resp.status == 400
        headers = await login(session, base)
        async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
            status = await resp.json()
        assert set(status) >= {"device", "doors", "readers", "upstream", "store", "journal"}
        assert status["doors"]["front"]["lock"] == "locked"


async def test_garbage_wiegand_opens_nothing_and_daemon_keeps_running(daemon: Daemon) -> None:
    base = daemon.base_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        bad_parity = KNOWN_CARD_BITS[:-1] + ("0" if KNOWN_CARD_BITS[-1] == "1" else "1")
        for body in (
            {"reader": "front-wiegand", "bits": bad_parity},
            {"reader": "front-wiegand", "bits": "0101"},
            {"reader": "front-wiegand", "bits": "01x1"},
            {"reader": "nope", "bits": KNOWN_CARD_BITS},
        ):
            async with session.post(f"{base}/sim/wiegand", json=body) as resp:
                assert resp.status in (200, 400, 404)
        async with session.get(f"{base}/sim/outputs") as resp:
            assert (await resp.json())["doors"]["front"]["relay"] == "locked"
        headers = await login(session, base)
        assert await access_events(session, base, headers) == []


def test_sigterm_locks_and_journals_the_stop(daemon: Daemon) -> None:
    assert daemon.stop(signal.SIGTERM) == 0
    import sqlite3

    with sqlite3.connect(daemon.state_dir / "gateway.db") as db:
        reasons = [r[0] for r in db.execute("SELECT reason FROM events ORDER BY seq")]
    assert reasons[0] == "started" or "started" in reasons
    assert reasons[-1] == "stopping"


def test_sigterm_while_starting_still_locks_and_exits_cleanly(tmp_path: Path) -> None:
    """systemd may stop the unit while it starts: once the web server listens, the rules
    of a large site may still be loading (up to WARM_START_S before READY). A SIGTERM
    then is a clean stop through the locks, exit code 0, not the default action."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    build_database(state / "gateway.db", 60_000)  # a load that outlasts the warm start
    daemon = wait_listening(launch_daemon(state))
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log()
    with closing(sqlite3.connect(state / "gateway.db")) as db:
        reasons = [r[0] for r in db.execute("SELECT reason FROM events ORDER BY seq")]
    assert reasons[-1] == "stopping"
