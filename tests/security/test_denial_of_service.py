"""No cheap denial of service on the web server (docs/security.md, "Denial of service").

A real aiohttp server on loopback, started by the gateway's own `start_site` with short
limits (the defaults are seconds long): slow or idle clients are cut off, connections are
capped per address and in total, and a flood of one log message is summarised. The whole
daemon under 1,100 connections is in `test_connection_flood_daemon.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.logsetup import BURST, RepeatFilter, log_handler
from gateway.web.limits import HttpLimits
from gateway.web.server import start_site
from gateway.web.strictjson import BodyRejected, read_strict_json
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[2]
SHORT = HttpLimits(idle_timeout_s=0.5, body_timeout_s=0.5, max_connections=20, max_per_address=5)
CAPS = dataclasses.replace(SHORT, idle_timeout_s=30.0)  # connections stay until the cap acts
ATTACKER = "127.0.0.2"  # loopback is 127.0.0.0/8: another client address on this host


@dataclass
class Server:
    """A running site with one JSON endpoint (what the gateway's handlers do with a body)."""

    port: int
    runner: web.AppRunner
    bodies: list[object] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


StartServer = Callable[[HttpLimits], Awaitable[Server]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    running: list[Server] = []

    async def _start(limits: HttpLimits) -> Server:
        bodies: list[object] = []

        async def echo(request: web.Request) -> web.Response:
            try:
                body = await read_strict_json(request, 1000)
            except BodyRejected as exc:
                return web.json_response({"error": exc.message}, status=exc.status)
            bodies.append(body)
            return web.json_response({"body": body})

        async def hello(_request: web.Request) -> web.Response:
            return web.json_response({"hello": True})

        app = web.Application()
        app.router.add_post("/echo", echo)
        app.router.add_get("/hello", hello)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        runner = await start_site(app, f"127.0.0.1:{port}", limits)
        server = Server(port, runner, bodies)
        running.append(server)
        return server

    yield _start
    for server in running:
        await server.runner.cleanup()


async def connect(
    port: int, source: str = ATTACKER
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the server ends the connection (EOF or reset) within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def get_hello(server: Server) -> float:
    """Seconds a fresh client from 127.0.0.1 waits for an answer (it must be 200)."""
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(server.base + "/hello") as resp,
    ):
        assert resp.status == 200
    return time.monotonic() - started


# -- slow clients ---------------------------------------------------------------------


async def test_a_client_dripping_its_request_head_is_cut_off(start_server: StartServer) -> None:
    """Slowloris: a header line now and then never completes the head; the connection is
    closed at the idle timeout however much it sends."""
    server = await start_server(SHORT)
    reader, writer = await connect(server.port)
    writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    for _ in range(10):
        await asyncio.sleep(0.1)
        if writer.is_closing():
            break
        writer.write(b"X-Drip: 1\r\n")
    assert await closed_within(reader, 2.0)
    assert time.monotonic() - started < SHORT.idle_timeout_s + 1.5
    writer.close()


async def test_an_idle_connection_is_closed(start_server: StartServer) -> None:
    server = await start_server(SHORT)
    reader, writer = await connect(server.port)
    started = time.monotonic()
    assert await closed_within(reader, 2.0)
    assert SHORT.idle_timeout_s - 0.1 <= time.monotonic() - started < SHORT.idle_timeout_s + 1.0
    writer.close()


async def test_a_body_that_never_arrives_whole_is_refused_with_408(
    start_server: StartServer,
) -> None:
    server = await start_server(SHORT)
    reader, writer = await connect(server.port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"a": '
    )
    started = time.monotonic()
    async with asyncio.timeout(3):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert time.monotonic() - started < SHORT.body_timeout_s + 1.0
    assert await closed_within(reader, SHORT.lingering_s + 2.0)
    assert server.bodies == []
    writer.close()


async def test_a_whole_body_still_arrives_in_pieces(start_server: StartServer) -> None:
    """The body timeout is for the whole body, not for each piece: a normal slow link
    that delivers within it is served."""
    server = await start_server(SHORT)
    reader, writer = await connect(server.port, "127.0.0.1")
    body = json.dumps({"name": "ada"}).encode()
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    for piece in (body[:5], body[5:]):
        await asyncio.sleep(0.1)
        writer.write(piece)
    async with asyncio.timeout(3):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert server.bodies == [{"name": "ada"}]
    writer.close()


async def test_an_oversized_request_head_is_refused_in_one_log_line(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A request aiohttp cannot parse is the client's fault: 400, and one warning line
    (aiohttp alone logs an error with a traceback for each)."""
    caplog.set_level(logging.DEBUG)
    server = await start_server(SHORT)
    too_many = {f"X-{n}": "y" for n in range(SHORT.max_headers + 1)}
    too_long = {"X-Long": "y" * (SHORT.max_field_bytes + 1)}
    async with aiohttp.ClientSession() as http:
        for headers in (too_many, too_long):
            async with http.get(server.base + "/hello", headers=headers) as resp:
                assert resp.status == 400
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in logged] == [logging.WARNING, logging.WARNING]
    assert all(r.exc_info is None for r in logged), [r.getMessage() for r in logged]
    assert "Too many headers" in logged[0].getMessage()
    assert "Traceback" not in caplog.text


# -- connection caps ------------------------------------------------------------------


async def test_one_address_gets_a_bounded_number_of_connections(
    start_server: StartServer,
) -> None:
    """Beyond `max_per_address`, the address's new connections are closed at once; other
    clients are served as if nothing happened."""
    server = await start_server(CAPS)
    opened = [await connect(server.port) for _ in range(SHORT.max_per_address + 5)]
    try:
        kept = opened[: SHORT.max_per_address]
        refused = opened[SHORT.max_per_address :]
        assert all([await closed_within(reader, 0.3) for reader, _ in refused])
        assert not any([await closed_within(reader, 0.05) for reader, _ in kept])
        assert await get_hello(server) < 1.0
    finally:
        for _, writer in opened:
            writer.close()


async def test_at_the_total_cap_the_oldest_connection_makes_room(
    start_server: StartServer,
) -> None:
    """Many addresses filling every slot do not lock others out: a new connection closes
    the oldest one (a slowloris has been waiting longest)."""
    server = await start_server(CAPS)
    sources = [f"127.0.1.{n}" for n in range(1, SHORT.max_connections + 1)]
    opened = [await connect(server.port, source) for source in sources]
    try:
        assert not any([await closed_within(reader, 0.05) for reader, _ in opened])
        assert await get_hello(server) < 1.0
        assert await closed_within(opened[0][0], 0.5)  # the oldest went
        assert not await closed_within(opened[-1][0], 0.05)
    finally:
        for _, writer in opened:
            writer.close()


def test_the_total_cap_fits_the_file_descriptor_limit() -> None:
    """Half the descriptors at most go to HTTP connections: accept() never hits EMFILE
    (which made asyncio log a traceback per attempt) and the journal, readers and upstream
    keep theirs."""
    limits = HttpLimits(max_connections=1024)
    assert limits.connection_cap(nofile=1024) == 512
    assert limits.connection_cap(nofile=65536) == 1024
    assert limits.connection_cap(nofile=-1) == 1024  # RLIM_INFINITY


def test_the_unit_raises_the_descriptor_limit() -> None:
    unit = (REPO / "systemd" / "door-gateway.service").read_text()
    limit = [line for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert limit == ["LimitNOFILE=4096"]
    assert HttpLimits().connection_cap(nofile=4096) == HttpLimits().max_connections


# -- the log ------------------------------------------------------------------------


def asyncio_emfile_flood(logger: logging.Logger, clock: ManualClock, seconds: float) -> None:
    """What asyncio logged for every failed accept() (a message with a traceback), at the
    rate it did: about 2,000 a second."""
    try:
        raise OSError(24, "Too many open files")
    except OSError as exc:
        error = exc
    for n in range(int(seconds * 2000)):
        clock.advance(1 / 2000)
        logger.error(
            "socket.accept() out of system resource\nsocket: <asyncio.TransportSocket fd=%d>",
            7 + n % 3,
            exc_info=error,
        )


def test_a_flood_of_one_message_is_summarised() -> None:
    clock = ManualClock()
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.flood")
    logger.propagate = False
    logger.addHandler(log_handler(stream, clock=clock.monotonic))
    try:
        asyncio_emfile_flood(logger, clock, seconds=10.0)
        clock.advance(60.0)
        logger.error("socket.accept() out of system resource\nsocket: <fd=7>")
        logger.warning("something else")
    finally:
        logger.handlers.clear()
    text = stream.getvalue()
    assert len(text) < 50_000  # 27 MB in 10 s before
    records = [line for line in text.splitlines() if not line.startswith("  ")]
    assert len(records) == BURST + 2
    assert "[19990 similar messages suppressed over the previous 70 s]" in records[BURST]
    assert records[-1].endswith("something else")


def test_distinct_messages_are_limited_separately_and_memory_stays_bounded() -> None:
    clock = ManualClock()
    limiter = RepeatFilter(burst=2, interval_s=60.0, max_keys=100, clock=clock.monotonic)

    def passes(msg: str, level: int = logging.WARNING) -> bool:
        record = logging.LogRecord("gateway.x", level, __file__, 1, msg, None, None)
        return limiter.filter(record)

    assert [passes("a %s") for _ in range(3)] == [True, True, False]
    assert [passes("b %s") for _ in range(3)] == [True, True, False]
    assert passes("a %s", logging.ERROR)  # another level is another message
    flood = [passes(f"attacker-chosen {n}") for n in range(10_000)]
    assert sum(flood) <= 100 * 2  # the overflow shares one window
    assert len(limiter._windows) <= 100 + 1  # and the shared one
