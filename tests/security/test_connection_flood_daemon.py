"""The whole daemon under a connection flood: 1,100 idle or dripping connections from
loopback leave the API answering another client within 1 s, the log bounded, and the door
deciding (docs/security.md, "Denial of service").

The daemon runs with a soft file descriptor limit of 1024, systemd's default and what it
had before the unit raised it: the web server's own caps must keep it out of EMFILE, which
once made asyncio log a traceback per accept() (27 MB of stderr in 10 s) while the API
stopped answering.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import aiohttp
import pytest

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon, start_daemon

ATTACK = 1100
IDLE_FROM = "127.0.0.2"  # half the flood from one address, idle
DRIP_FROM = [f"127.0.1.{n}" for n in range(1, 51)]  # half from 50 addresses, dripping
DAEMON_NOFILE = 1024
KNOWN_CARD_BITS = encode_h10301(12, 34567)  # demo user 1001 (config/simulate.toml)
LOG_BOUND = 64 * 1024  # bytes the daemon may log during the whole flood


@pytest.fixture
def descriptors_for_the_attack() -> Iterator[None]:
    """This test process holds 1,100 sockets: raise its soft limit as a unit would."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = ATTACK + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the hard descriptor limit ({hard}) is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def flooded_daemon(tmp_path: Path, descriptors_for_the_attack: None) -> Iterator[Daemon]:
    running = start_daemon(tmp_path / "state", nofile=DAEMON_NOFILE)
    yield running
    running.stop()


class Flood:
    """The attacker's connections: opened concurrently (each connect bounded in time),
    some dripping a header line now and then, all closed at the end."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.writers: list[asyncio.StreamWriter] = []
        self.dripping: list[asyncio.StreamWriter] = []
        self._drip_task: asyncio.Task[None] | None = None

    async def open(self, source: str, drip: bool) -> None:
        with suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0)
                )
            self.writers.append(writer)
            if drip:
                writer.write(b"GET /api/v1/status HTTP/1.1\r\nHost: gateway\r\n")
                self.dripping.append(writer)

    async def start(self) -> None:
        half = ATTACK // 2
        opening = [self.open(IDLE_FROM, drip=False) for _ in range(half)]
        opening += [self.open(DRIP_FROM[n % len(DRIP_FROM)], drip=True) for n in range(half)]
        await asyncio.gather(*opening)
        self._drip_task = asyncio.create_task(self._drip())

    async def _drip(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for writer in self.dripping:
                if not writer.is_closing():
                    with suppress(OSError):
                        writer.write(b"X-Drip: 1\r\n")

    def close(self) -> None:
        if self._drip_task is not None:
            self._drip_task.cancel()
        for writer in self.writers:
            writer.close()


async def timed_call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: object
) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    async with http.request(method, url, **kw) as resp:  # type: ignore[arg-type]
        body = await resp.json()
        return resp.status, body, time.monotonic() - started


async def test_a_connection_flood_leaves_the_api_the_log_and_the_door_working(
    flooded_daemon: Daemon,
) -> None:
    base = flooded_daemon.base_url
    flood = Flood(int(base.rsplit(":", 1)[1]))
    log_before = flooded_daemon.log_path.stat().st_size
    await flood.start()
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            waits = []
            for _ in range(3):
                status, body, waited = await timed_call(
                    http, "POST", f"{base}/api/v1/login",
                    json={"username": "admin", "password": "simulate"},
                )  # fmt: skip
                assert status == 200, body
                headers = {"Authorization": f"Bearer {body['token']}"}
                status, _, waited_status = await timed_call(
                    http, "GET", f"{base}/api/v1/status", headers=headers
                )
                assert status == 200
                waits += [waited, waited_status]
                await asyncio.sleep(0.5)
            assert max(waits) < 1.0, waits

            # The door keeps deciding: a known card opens it, and the grant is journaled.
            status, body, _ = await timed_call(
                http, "POST", f"{base}/sim/wiegand",
                json={"reader": "front-wiegand", "bits": KNOWN_CARD_BITS},
            )  # fmt: skip
            assert status == 200, body
            deadline = time.monotonic() + 3
            granted: list[object] = []
            while not granted and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                _, events, _ = await timed_call(
                    http, "GET", f"{base}/api/v1/events?after=0&limit=1000", headers=headers
                )
                granted = [
                    e for e in events["events"]  # type: ignore[attr-defined]
                    if e["type"] == "access" and e["granted"] is True
                ]  # fmt: skip
            assert granted, "the card was not decided while the flood went on"
    finally:
        flood.close()
    assert flooded_daemon.process.poll() is None, "the daemon died"
    grown = flooded_daemon.log_path.stat().st_size - log_before
    log = flooded_daemon.log()
    assert grown < LOG_BOUND, f"{grown} bytes logged:\n{log[-3000:]}"
    assert "Traceback" not in log and "Too many open files" not in log
