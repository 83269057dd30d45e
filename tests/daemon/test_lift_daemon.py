"""A lift car through the whole daemon in simulation: a user given floors and a web relay
URL through the ACTAtek API badges at the lift reader; only their floors go active, for
`floor_enable_s`; their URL reaches a loopback server; both are journaled; a stop leaves
every floor disabled."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import start_daemon
from tests.daemon.test_simulated_daemon import login, wait_for

FLOOR_PINS = {str(n): 13 + n for n in range(1, 9)}  # floors "1".."8" on BCM 14..21
USER_FLOORS = {"2", "5", "8"}
ENABLE_S = 2

CONFIG = f"""
[device]
id = "lift-gateway"

[hardware]
backend = "simulated"

[[doors]]
name = "lift"

[[readers]]
name = "lift-car"
kind = "wiegand"
door = "lift"
d0_pin = 5
d1_pin = 6
lift = true

[[web.technicians]]
username = "admin"
password = "simulate"
level = "SUPERADMIN"

[lift]
floor_enable_s = {ENABLE_S}

[[simulation.demo_users]]
user_id = "1001"
first_name = "Ada"
last_name = "Lovelace"
cards = ["0C8707"]
""" + "".join(f'\n[[floors]]\nname = "{name}"\npin = {pin}\n' for name, pin in FLOOR_PINS.items())


@pytest.fixture
async def relay() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A web relay on a loopback port: (its base URL, the requests it got)."""
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://relay:S3cret@127.0.0.1:{port}", seen
    await runner.cleanup()


async def floors(session: aiohttp.ClientSession, base: str) -> set[str]:
    """The floors whose relay is energised, from the pins' levels (/sim/outputs)."""
    async with session.get(f"{base}/sim/outputs") as resp:
        pins = (await resp.json())["floors"]
    assert set(pins) == set(FLOOR_PINS)
    return {name for name, energised in pins.items() if energised}


async def shown_enabled(session: aiohttp.ClientSession, base: str, headers: Any) -> set[str]:
    """The floors the status API shows energised."""
    async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
        assert resp.status == 200
        section = (await resp.json())["floors"]
    return {name for name, floor in section["floors"].items() if floor["active"]}


async def test_a_grant_at_the_lift_enables_only_the_users_floors(
    tmp_path: Path, relay: tuple[str, list[web.Request]]
) -> None:
    relay_base, seen = relay
    config = tmp_path / "lift.toml"
    config.write_text(CONFIG)
    daemon = start_daemon(tmp_path / "state", config)
    try:
        base = daemon.base_url
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            headers = await login(session, base)
            assert await floors(session, base) == set()  # disabled from the start
            assert await shown_enabled(session, base, headers) == set()
            async with session.post(
                f"{base}/cgi-bin/restapi/login", json={"username": "admin", "password": "simulate"}
            ) as resp:
                sid = (await resp.json())["sessionid"]
            user = {
                "userID": "1001",
                "floorNo": sorted(USER_FLOORS),
                "webRelayURLs": [f"{relay_base}/relay/0?turn=on&who=$name"],
            }
            async with session.put(f"{base}/cgi-bin/restapi/user/{sid}", json=user) as resp:
                assert resp.status == 200, await resp.text()

            bits = encode_h10301(12, 34567)
            async with session.post(
                f"{base}/sim/wiegand", json={"reader": "lift-car", "bits": bits}
            ) as resp:
                assert resp.status == 200, await resp.text()

            async def enabled() -> set[str]:
                return await floors(session, base)

            assert await wait_for(enabled) == USER_FLOORS
            assert await shown_enabled(session, base, headers) == USER_FLOORS
            started = time.monotonic()
            ever: set[str] = set()
            while time.monotonic() - started < ENABLE_S - 0.5:
                ever |= await enabled()
            assert ever == USER_FLOORS  # the other five never went active

            async def all_off() -> bool:
                return not await enabled()

            await wait_for(all_off, timeout=ENABLE_S + 2)

            async def relayed() -> bool:
                return bool(seen)

            await wait_for(relayed)
            assert seen[0].path == "/relay/0"
            assert seen[0].query["who"] == "Ada Lovelace"
            assert seen[0].headers["Authorization"] == "Basic cmVsYXk6UzNjcmV0"

            async with session.get(
                f"{base}/api/v1/events?after=0&limit=1000", headers=headers
            ) as resp:
                events = (await resp.json())["events"]
            by_reason = {e["reason"]: e for e in events}
            assert by_reason["floors_enabled"]["trace"] == f"floors:2,5,8 for {ENABLE_S}s"
            assert by_reason["web_relay_sent"]["trace"].startswith("web_relay:1:GET http://")
            assert "S3cret" not in str(events)

            # A stop while floors are enabled leaves none enabled.
            async with session.post(
                f"{base}/sim/wiegand", json={"reader": "lift-car", "bits": bits}
            ) as resp:
                assert resp.status == 200
            assert await wait_for(enabled) == USER_FLOORS
        assert daemon.stop(signal.SIGTERM) == 0
        assert "S3cret" not in daemon.log()
    finally:
        daemon.stop(signal.SIGKILL)
