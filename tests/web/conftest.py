"""Real gateways in-process (simulated hardware, real SQLite, real HTTP on loopback) with a
manual clock, built from config/simulate.toml with `dataclasses.replace` overrides, and an
HTTP client that answers (status, JSON body, headers)."""

from __future__ import annotations

import base64
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from gateway.app import Gateway
from gateway.config import load_settings
from gateway.settings import Settings
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[2]
SIMULATE = REPO / "config" / "simulate.toml"
PASSWORD = "correct horse battery"
OPENDOOR_USER, OPENDOOR_PASSWORD = "opendoor", "simulate"  # config/simulate.toml
ADA_CARD, ADA_PIN, GRACE_CARD, INACTIVE_CARD = "0C8707", "1234", "0D10E1", "0C2B67"


def basic(username: str = OPENDOOR_USER, password: str = OPENDOOR_PASSWORD) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(state_dir: Path, **http_unlock: Any) -> Settings:
    """simulate.toml with its own state dir and port, and `[http_unlock]` overrides."""
    settings = load_settings(SIMULATE)
    device = dataclasses.replace(settings.device, state_dir=str(state_dir))
    web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}")
    unlock = dataclasses.replace(settings.http_unlock, **http_unlock)
    return dataclasses.replace(settings, device=device, web=web, http_unlock=unlock)


Answer = tuple[int, Any, CIMultiDictProxy[str]]


class Client:
    """HTTP calls against one running gateway: (status, JSON body or text, headers)."""

    def __init__(self, http: aiohttp.ClientSession, gateway: Gateway, clock: ManualClock) -> None:
        self.http, self.gateway, self.clock = http, gateway, clock
        self.base = f"http://{gateway.settings.web.listen}"

    async def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.http.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            body = await resp.json() if resp.content_type == "application/json" else text
            return resp.status, body, resp.headers

    async def login(
        self, username: str = "admin", password: str = "simulate", **extra: Any
    ) -> Answer:
        return await self.call(
            "POST", "/api/v1/login", json={"username": username, "password": password, **extra}
        )

    async def token_headers(
        self, username: str = "admin", password: str = "simulate"
    ) -> dict[str, str]:
        status, body, _ = await self.login(username, password)
        assert status == 200, body
        return {"Authorization": f"Bearer {body['token']}"}

    async def open_door(self, auth: dict[str, str] | None = None, **params: str) -> Answer:
        query = {"action": "OpenDoor", "DoorNum": "1", **params}
        headers = basic() if auth is None else auth
        return await self.call("GET", "/fcgi/OpenDoor", params=query, headers=headers)

    async def events(self, **match: Any) -> list[dict[str, Any]]:
        """Journal events whose fields equal `match` (read straight from the gateway)."""
        rows = await self.gateway.recorder.read_events(0, 1000)
        found = [row.as_dict() for row in rows]
        return [e for e in found if all(e.get(k) == v for k, v in match.items())]


Start = Callable[..., Awaitable[Client]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """`await start(**http_unlock_overrides)` -> a Client of a started gateway; several may
    be started (one after the other, e.g. to restart on the same state dir)."""
    running: list[tuple[Gateway, aiohttp.ClientSession]] = []

    async def _start(state: str = "state", **http_unlock: Any) -> Client:
        clock = ManualClock()
        gateway = Gateway(settings_for(tmp_path / state, **http_unlock), clock=clock)
        await gateway.start()
        assert await gateway.rules.loaded(10.0)  # as a technician sees "rules: ready"
        # unsafe=True: keep cookies from an IP-address host, as browsers do
        jar = aiohttp.CookieJar(unsafe=True)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), cookie_jar=jar)
        running.append((gateway, http))
        return Client(http, gateway, clock)

    yield _start
    for gateway, http in running:
        await http.close()
        await gateway.stop()  # a gateway already stopped stays stopped


@pytest.fixture
async def client(start: Start) -> Client:
    """A gateway with `[http_unlock]` as simulate.toml has it (enabled, hard)."""
    return await start()


async def stop(client: Client) -> None:
    """Stop a gateway before its test ends (e.g. to restart on the same state dir)."""
    await client.http.close()
    await client.gateway.stop()
