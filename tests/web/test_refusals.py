"""A handler outside the ACTAtek API refuses by raising the one refusal type (`BadRequest`)
and the error middleware answers it in the shape of the API the path belongs to, with its
status: a handler that forgets to catch its refusal still answers the refusal, never a
500 "internal error"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.doors.errors import UnknownDoor
from gateway.web import security
from gateway.web.common import BadRequest
from gateway.web.sim import NotBuilt, UnknownName

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async def refuse(request: web.Request) -> web.Response:
        raise BadRequest(f"refused: {request.query.get('why', '')}", int(request.query["status"]))

    async def no_door(_request: web.Request) -> web.Response:
        raise UnknownDoor("no door named 'back'")

    async def no_reader(_request: web.Request) -> web.Response:
        raise UnknownName("no reader named 'gate'")

    async def not_built(_request: web.Request) -> web.Response:
        raise NotBuilt("reader 'gate' cannot be driven by the simulation")

    app = web.Application(middlewares=[security.json_errors])
    app.router.add_get("/api/v1/refuse", refuse)
    app.router.add_get("/api/v1/doors/back/pulse", no_door)
    app.router.add_get("/sim/no-reader", no_reader)
    app.router.add_get("/sim/not-built", not_built)
    app.router.add_get("/fcgi/refuse", refuse)
    app.router.add_get("/sim/refuse", refuse)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    yield http
    await http.close()


@pytest.mark.parametrize("path", ["/api/v1/refuse", "/sim/refuse"])
@pytest.mark.parametrize("status", [400, 404, 413, 501])
async def test_a_native_or_sim_refusal_is_the_common_error_with_its_status(
    client: Client, path: str, status: int
) -> None:
    resp = await client.get(path, params={"status": str(status), "why": "x"})
    assert resp.status == status
    assert await resp.json() == {"status": "error", "message": "refused: x"}


async def test_an_opendoor_refusal_is_in_the_akuvox_shape(client: Client) -> None:
    resp = await client.get("/fcgi/refuse", params={"status": "404", "why": "door"})
    assert resp.status == 404
    assert await resp.json() == {"result": "error", "reason": "refused: door"}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v1/doors/back/pulse", 404, "no door named 'back'"),
        ("/sim/no-reader", 404, "no reader named 'gate'"),
        ("/sim/not-built", 501, "reader 'gate' cannot be driven by the simulation"),
    ],
)
async def test_a_name_that_is_not_there_or_not_built_answers_its_status(
    client: Client, path: str, status: int, message: str
) -> None:
    resp = await client.get(path)
    assert resp.status == status
    assert await resp.json() == {"status": "error", "message": message}
