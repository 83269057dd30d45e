"""Request bodies arrive whole: a body that reaches the server in several TCP segments is
read to its end (within the limit) before it is parsed, and refused with 413 as soon as it
is over the limit, whether its length was declared or it comes in chunks."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from gateway.web.strictjson import BodyRejected, read_strict_json
from tests.web.conftest import Client
from tests.web.slow_http import chunked, pieces_of, send_slowly

LIMIT = 1000


@dataclass
class EchoServer:
    """A real aiohttp server whose one endpoint answers what the reader made of the body
    ({"body": ...} or the refusal) and keeps it in `outcomes` (for a client that hung up
    before any answer)."""

    port: int = 0
    outcomes: list[Any] = field(default_factory=list)

    async def echo(self, request: web.Request) -> web.Response:
        try:
            body = await read_strict_json(request, LIMIT)
        except BodyRejected as exc:
            self.outcomes.append(exc.message)
            return web.json_response({"error": exc.message}, status=exc.status)
        self.outcomes.append(body)
        return web.json_response({"body": body})


@pytest.fixture
async def server() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    app = web.Application()
    app.router.add_post("/echo", echo.echo)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    echo.port = runner.addresses[0][1]
    yield echo
    await runner.cleanup()


@pytest.fixture
def port(server: EchoServer) -> int:
    return server.port


def padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    frame = b'{"pad": ""}'
    return b'{"pad": "' + b"x" * (size - len(frame)) + b'"}'


async def test_a_json_object_split_across_segments_parses(port: int) -> None:
    raw = b'{"card": "0C8707", "door": "front"}'
    pieces = [raw[:7], raw[7:20], raw[20:]]  # the first ends right after a key
    answer = await send_slowly(port, "/echo", pieces, content_length=len(raw))
    assert answer.status == 200, answer.body
    assert answer.json() == {"body": {"card": "0C8707", "door": "front"}}


async def test_a_chunked_body_just_under_the_limit_is_accepted(port: int) -> None:
    raw = padded(LIMIT)
    answer = await send_slowly(port, "/echo", chunked(pieces_of(raw, 150)))
    assert answer.status == 200, answer.body
    assert answer.json()["body"]["pad"] == "x" * (LIMIT - 11)


async def test_a_chunked_body_just_over_the_limit_is_413(port: int) -> None:
    raw = padded(LIMIT + 1)
    answer = await send_slowly(port, "/echo", chunked(pieces_of(raw, 150)))
    assert answer.status == 413
    assert answer.json() == {"error": f"body larger than {LIMIT} bytes"}


async def test_an_endless_chunked_body_is_refused_once_over_the_limit(port: int) -> None:
    # The body never ends: only a reader that stops at the limit can answer at all.
    endless = chunked(pieces_of(b"[" + b"1," * LIMIT, 100), last=False)
    answer = await send_slowly(port, "/echo", endless)
    assert answer.status == 413


async def test_a_declared_length_over_the_limit_is_413_before_any_body(port: int) -> None:
    answer = await send_slowly(port, "/echo", [], content_length=LIMIT + 1)
    assert answer.status == 413


async def test_a_client_hanging_up_mid_body_is_refused_not_parsed(server: EchoServer) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n[1, 2")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    for _ in range(100):  # the server notices the hang-up on its next read
        if server.outcomes:
            break
        await asyncio.sleep(0.01)
    assert server.outcomes == ["body incomplete: the connection ended before it"]


# -- through the gateway: an ACTAtek addUser with a face photo ---------------------------------

PHOTO_BYTES = 2 * 1024 * 1024  # a 2 MB JPEG


async def test_add_user_with_a_2_mb_face_photo_sent_slowly(client: Client) -> None:
    status, login, _ = await client.call(
        "POST", "/cgi-bin/restapi/login", json={"username": "admin", "password": "simulate"}
    )
    assert status == 200, login
    sid = login["sessionid"]
    photo = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(PHOTO_BYTES - 4)).decode()
    user = {
        "userID": "A0001",
        "lastName": "Li",
        "firstName": "Edwin",
        "status": {
            "active": True,
            "autoMatch": False,
            "smartCard": True,
            "fingerprint": False,
            "password": False,
            "facial": True,
            "facialAutoMatch": False,
        },
        "facialrecords": {
            "FacialTemplateType": 1,
            "FacialTemplate": "AAAA",
            "FacialPhoto": photo,
        },
    }
    # As PHP's json_encode writes it: every "/" of the base64 text escaped as "\/".
    raw = json.dumps(user).replace("/", "\\/").encode()
    port = int(client.gateway.settings.web.listen.rsplit(":", 1)[1])
    answer = await send_slowly(
        port, f"/cgi-bin/restapi/user/{sid}", chunked(pieces_of(raw, 256 * 1024)), pause_s=0.005
    )
    assert answer.status == 200, answer.body
    assert answer.json() == {"status": "success", "message": "User A0001 Added"}
    status, users, _ = await client.call("GET", f"/cgi-bin/restapi/user/{sid}?userID=A0001")
    assert status == 200
    faces = users[0]["facialrecords"]
    stored = faces[0] if isinstance(faces, list) else faces
    assert stored["FacialPhoto"] == photo
