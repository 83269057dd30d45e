"""A real gateway (simulated hardware, real SQLite, real HTTP on loopback) for driving the
ACTAtek API with an HTTP client, plus logged-in sessions for every role."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import load_settings

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
ROLES = ("PERSONALUSER", "USERADMIN", "NETWORKADMIN", "SUPERADMIN")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """An HTTP client for /cgi-bin/restapi/ that returns (status, json body)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, gateway: Gateway) -> None:
        self.http, self.base, self.gateway = session, base, gateway
        self.sessions: dict[str, str] = {}

    async def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        url = f"{self.base}/cgi-bin/restapi/{path}"
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        if body is None and raw is None:
            kwargs = {}
        async with self.http.request(method, url, **kwargs) as resp:
            assert resp.content_type == "application/json", await resp.text()
            return resp.status, await resp.json()

    async def login(self, username: str, password: str) -> tuple[int, Any]:
        return await self.call("POST", "login", {"username": username, "password": password})

    def sid(self, role: str = "SUPERADMIN") -> str:
        return self.sessions[role]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = load_settings(REPO / "config" / "simulate.toml")
    device = dataclasses.replace(settings.device, state_dir=str(tmp_path / "state"))
    web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}")
    running = Gateway(dataclasses.replace(settings, device=device, web=web))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def api(gateway: Gateway) -> AsyncIterator[Api]:
    for role in ROLES:
        gateway.stores.technicians.set_technician_password(role.lower(), PASSWORD, level=role)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        client = Api(http, f"http://{gateway.settings.web.listen}", gateway)
        for role in ROLES:
            status, body = await client.login(role.lower(), PASSWORD)
            assert status == 200, body
            client.sessions[role] = body["sessionid"]
        yield client
