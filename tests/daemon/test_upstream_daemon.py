"""The whole daemon pointed at an upstream server that speaks the Akuvox third-party
protocol: unknown cards are asked about, known cards never are, and a dead server makes
misses fail fast by the door's offline policy while cached cards keep opening."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import SIMULATE, Daemon, free_port, start_daemon
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

VISITOR = encode_h10301(99, 4242)  # 63 10 92: unknown to the cache, granted upstream
KNOWN = encode_h10301(12, 34567)  # demo user 1001


class VerifyServer:
    """An upstream verify server on loopback that grants card 631092 only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/verify", self._verify)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _verify(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        granted = request.query.get("card") == "631092"
        return web.json_response({"isvalid": granted, "message": "welcome"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def upstream() -> AsyncIterator[VerifyServer]:
    server = VerifyServer(free_port())
    await server.start()
    yield server
    await server.stop()


def daemon_config(tmp_path: Path, port: int) -> Path:
    url = f"http://127.0.0.1:{port}/verify?card={{Card}}&device={{DeviceID}}&time={{Time}}"
    text = SIMULATE.read_text().replace(
        'url = ""                     # no upstream server: decisions come from the local cache',
        f'url = "{url}"\ntimeout_s = 1.0\nbreaker_failures = 2\nbreaker_open_s = 30',
    )
    assert url in text
    path = tmp_path / "simulate.toml"
    path.write_text(text)
    return path


async def present(session: aiohttp.ClientSession, daemon: Daemon, bits: str) -> float:
    started = time.monotonic()
    async with session.post(
        f"{daemon.base_url}/sim/wiegand", json={"reader": "front-wiegand", "bits": bits}
    ) as resp:
        assert resp.status == 200
    return started


async def next_access(
    session: aiohttp.ClientSession, daemon: Daemon, headers: dict[str, str], count: int
) -> dict[str, Any]:
    async def arrived() -> list[dict[str, Any]]:
        events = await access_events(session, daemon.base_url, headers)
        return events if len(events) >= count else []

    return (await wait_for(arrived, timeout=8.0))[count - 1]


async def test_misses_go_upstream_and_a_dead_server_trips_the_breaker(
    tmp_path: Path, upstream: VerifyServer
) -> None:
    daemon = start_daemon(tmp_path / "state", daemon_config(tmp_path, upstream.port))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            headers = await login(session, daemon.base_url)
            await present(session, daemon, VISITOR)
            grant = await next_access(session, daemon, headers, 1)
            assert grant["granted"] is True and grant["source"] == "upstream"
            assert upstream.requests and "card=631092" in upstream.requests[0]

            await present(session, daemon, KNOWN)
            local = await next_access(session, daemon, headers, 2)
            assert local["granted"] is True and local["source"] == "cache"
            assert len(upstream.requests) == 1  # a cached card is never asked about

            await upstream.stop()
            for count in (3, 4):  # two failures open the breaker
                await present(session, daemon, VISITOR)
                failed = await next_access(session, daemon, headers, count)
                assert failed["granted"] is False
            started = await present(session, daemon, VISITOR)
            offline = await next_access(session, daemon, headers, 5)
            assert offline["reason"] == "upstream_offline" and offline["source"] == "policy"
            assert time.monotonic() - started < 0.9  # decided at once, not after the 1 s timeout

            await present(session, daemon, KNOWN)
            still = await next_access(session, daemon, headers, 6)
            assert still["granted"] is True and still["latency_ms"] < 50
            await asyncio.sleep(0)
    finally:
        daemon.stop()
