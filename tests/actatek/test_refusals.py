"""Under /cgi-bin/restapi/ a refusal is the common error whoever raised it: the handler
(`ActatekError`), the strict body reader, the stores, the terminal functions or the
device clock. The ACTAtek middleware maps each to its status, so a handler that calls a
service needs no try/except of its own, and one that forgets cannot answer a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.actatek_records import TerminalError
from gateway.device_time import TimeSettingError
from gateway.store.errors import NotFoundError, StoreError, ValidationError
from gateway.web.actatek.answers import ActatekError, common_errors
from gateway.web.strictjson import BodyRejected

Client = TestClient[web.Request, web.Application]

REFUSALS: dict[str, Exception] = {
    "handler": ActatekError("id: expected a whole number", 400),
    "body": BodyRejected("body larger than 10 bytes", 413),
    "terminal": TerminalError("relay TWO is not wired"),
    "clock_request": TimeSettingError("NTP is enabled", fault=False),
    "clock_fault": TimeSettingError("timedatectl failed", fault=True),
    "validation": ValidationError("name", "too long"),
    "not_found": NotFoundError("agent", "http://x/"),
    "database": StoreError("disk I/O error"),
}


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async def refuse(request: web.Request) -> web.Response:
        raise REFUSALS[request.match_info["kind"]]

    app = web.Application(middlewares=[common_errors])
    app.router.add_get("/cgi-bin/restapi/refuse/{kind}", refuse)
    http = TestClient(TestServer(app, host="127.0.0.1"))
    await http.start_server()
    yield http
    await http.close()


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("handler", 400, "id: expected a whole number"),
        ("body", 413, "body larger than 10 bytes"),
        ("terminal", 400, "relay TWO is not wired"),
        ("clock_request", 400, "NTP is enabled"),
        ("clock_fault", 500, "timedatectl failed"),
        ("validation", 400, "name: too long"),
        ("not_found", 400, "agent http://x/ does not exist"),
        ("database", 500, "database error"),
    ],
)
async def test_every_refusal_is_the_common_error_with_its_status(
    client: Client, kind: str, status: int, message: str
) -> None:
    resp = await client.get(f"/cgi-bin/restapi/refuse/{kind}")
    assert resp.status == status
    assert await resp.json() == {"status": "error", "message": message}
