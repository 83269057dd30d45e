"""An in-process gateway (tests/web/conftest.py: simulated hardware, real SQLite, real HTTP
on loopback, a manual clock) with an ACTAtek session for every role, for attack tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.actatek.conftest import PASSWORD, ROLES, Api
from tests.web.conftest import Client


@dataclass
class Site:
    """A running gateway, its HTTP client (manual clock) and ACTAtek sessions by role."""

    client: Client
    api: Api

    def sid(self, role: str) -> str:
        return self.api.sid(role)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.api.call(method, path, body)

    async def events(self, **match: Any) -> list[dict[str, Any]]:
        await self.client.gateway.writer.flush()
        return await self.client.events(**match)


async def site_with_roles(client: Client) -> Site:
    """Technicians `personaluser`, `useradmin`, ... (one per role), each logged in."""
    gateway = client.gateway
    for role in ROLES:
        gateway.stores.technicians.set_technician_password(role.lower(), PASSWORD, level=role)
    api = Api(client.http, client.base, gateway)
    for role in ROLES:
        status, body = await api.login(role.lower(), PASSWORD)
        assert status == 200, body
        api.sessions[role] = body["sessionid"]
    return Site(client, api)
