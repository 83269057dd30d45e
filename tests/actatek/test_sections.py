"""One helper puts a section's collection on the app (`add_section`): POST and PUT take one
object or an array and answer per item, GET and DELETE answer what the section says; every
method checks the session and its role's capability, and every refusal is the common error.
Driven here with a section of its own over a list, so a new section gets exactly this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.web.actatek.answers import ActatekError, common_errors, success
from gateway.web.actatek.inputs import integer, path_id, text
from gateway.web.actatek.sections import Section, add_section
from gateway.web.actatek.session import SESSIONS, ActatekSessions
from tests.fakes import ManualClock

Client = TestClient[web.Request, web.Application]
PATH = "/cgi-bin/restapi/thing/{sessionid}"


class Accounts:
    """Technician accounts whose credentials never move."""

    def technician_credential_version(self, username: str) -> int | None:
        return 1


class Things:
    """The section's store: names by id."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    async def add(self, _request: web.Request, item: Mapping[str, Any]) -> str:
        thing_id = integer(item, "id", 0, 99, required=True)
        name = text(item, "name", 8, required=True)
        assert thing_id is not None and name is not None
        if thing_id in self.names:
            raise ActatekError(f"thing {thing_id} exists")
        self.names[thing_id] = name
        return f"thing {thing_id} Added"

    async def update(self, _request: web.Request, item: Mapping[str, Any]) -> str:
        thing_id = integer(item, "id", 0, 99, required=True)
        if thing_id not in self.names:
            raise ActatekError(f"thing {thing_id} does not exist")
        self.names[thing_id] = text(item, "name", 8) or self.names[thing_id]
        return f"thing {thing_id} Updated"

    async def get(self, _request: web.Request) -> web.Response:
        return web.json_response([{"id": i, "name": n} for i, n in sorted(self.names.items())])

    async def delete(self, request: web.Request) -> web.Response:
        thing_id = path_id(request)
        if self.names.pop(thing_id, None) is None:
            raise ActatekError(f"thing {thing_id} does not exist")
        return success(f"thing {thing_id} Deleted")


@pytest.fixture
async def api() -> AsyncIterator[tuple[Client, dict[str, str]]]:
    things = Things()
    app = web.Application(middlewares=[common_errors])
    sessions = ActatekSessions(ManualClock(), Accounts())
    app[SESSIONS] = sessions
    add_section(
        app,
        Section(
            PATH,
            "departments",
            add=things.add,
            update=things.update,
            get=things.get,
            delete=things.delete,
            delete_suffix="/{id}",
        ),
    )
    ids = {
        role: str(sessions.issue(role.lower(), role, 1).id)
        for role in ("SUPERADMIN", "NETWORKADMIN")
    }
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, ids
    await client.close()


async def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with client.request(method, path, json=body) as resp:
        return resp.status, await resp.json()


async def test_one_object_answers_one_result_and_an_array_one_per_item(
    api: tuple[Client, dict[str, str]],
) -> None:
    client, ids = api
    url = f"/cgi-bin/restapi/thing/{ids['SUPERADMIN']}"
    assert await call(client, "POST", url, {"id": 1, "name": "one"}) == (
        200,
        {"status": "success", "message": "thing 1 Added"},
    )
    status, results = await call(
        client, "POST", url, [{"id": 2, "name": "two"}, {"id": 1, "name": "again"}]
    )
    assert status == 200
    assert results == [
        {"status": "success", "message": "thing 2 Added"},
        {"status": "error", "message": "thing 1 exists"},
    ]
    assert await call(client, "PUT", url, {"id": 2, "name": "deux"}) == (
        200,
        {"status": "success", "message": "thing 2 Updated"},
    )
    assert await call(client, "GET", url) == (
        200,
        [{"id": 1, "name": "one"}, {"id": 2, "name": "deux"}],
    )
    assert await call(client, "DELETE", url + "/1") == (
        200,
        {"status": "success", "message": "thing 1 Deleted"},
    )
    assert await call(client, "DELETE", url + "/1") == (
        400,
        {"status": "error", "message": "thing 1 does not exist"},
    )


async def test_a_refused_single_object_is_the_common_error(
    api: tuple[Client, dict[str, str]],
) -> None:
    client, ids = api
    url = f"/cgi-bin/restapi/thing/{ids['SUPERADMIN']}"
    assert await call(client, "PUT", url, {"id": 5}) == (
        400,
        {"status": "error", "message": "thing 5 does not exist"},
    )
    assert await call(client, "POST", url, "text") == (
        400,
        {"status": "error", "message": "expected a JSON object or a non-empty array of objects"},
    )


METHODS = [("POST", ""), ("PUT", ""), ("GET", ""), ("DELETE", "/1")]


@pytest.mark.parametrize(("method", "suffix"), METHODS)
async def test_every_method_checks_the_session_and_the_capability(
    api: tuple[Client, dict[str, str]], method: str, suffix: str
) -> None:
    client, ids = api
    body = {"id": 1, "name": "one"} if method in ("POST", "PUT") else None
    url = f"/cgi-bin/restapi/thing/{ids['NETWORKADMIN']}{suffix}"
    assert await call(client, method, url, body) == (
        400,
        {"status": "error", "message": "NETWORKADMIN may not do this"},
    )
    assert await call(client, method, f"/cgi-bin/restapi/thing/12345{suffix}", body) == (
        400,
        {"status": "error", "message": "invalid or expired session"},
    )
