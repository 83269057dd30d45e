"""A handler outside the ACTAtek API refuses by raising the one refusal type (`BadRequest`)
and the error middleware answers it in the shape of the API the path belongs to, with its
status: a handler that forgets to catch its refusal still answers the refusal, never a
500 "internal error"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.web import security
from gateway.web.common import BadRequest

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async def refuse(request: web.Request) -> web.Response:
        raise BadRequest(f"refused: {request.query.get('why', '')}", int(request.query["status"]))

    app = web.Application(middlewares=[security.json_errors])
    app.router.add_get("/api/v1/refuse", refuse)
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
