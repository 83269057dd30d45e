"""A real aiohttp server on 127.0.0.1 that plays the upstream (or an APB receiver), with
verbs for how it answers: `answer_json`, `answer_status`, `stall`, `reset`, `flood`.

Every request it receives is recorded (path, decoded query, headers), so tests assert on
what actually went over the wire."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.model import Credential, CredentialKind
from gateway.settings import DoorSettings, ReaderSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STALL_S = 30.0
FLOOD_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    path_qs: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeUpstream:
    """An HTTP(S) server on an ephemeral loopback port."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._handler: Handler = _json_handler({"isvalid": True}, 200)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.scheme = "http"

    # -- behaviour verbs ---------------------------------------------------------------------

    def answer_json(self, body: object, status: int = 200) -> None:
        """Answer every request with `body` as JSON."""
        self._handler = _json_handler(body, status)

    def answer_text(self, text: str, status: int = 200) -> None:
        """Answer with raw text (not JSON unless it happens to be)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(text=text, status=status)

        self._handler = handler

    def answer_status(self, status: int) -> None:
        """Answer with an HTTP status and a JSON grant body (which must not count)."""
        self._handler = _json_handler({"isvalid": True}, status)

    def stall(self) -> None:
        """Accept the request and say nothing for 30 s."""

        async def handler(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(STALL_S)
            return web.Response(text="{}")

        self._handler = handler

    def reset(self) -> None:
        """Start a response, then close the connection mid-body."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b'{"isvalid": tr')
            assert request.transport is not None
            request.transport.close()
            return response

        self._handler = handler

    def flood(self, announce_length: bool) -> None:
        """Send a 10 MB body (with or without a Content-Length header)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            headers = {"Content-Length": str(FLOOD_BYTES)} if announce_length else {}
            response = web.StreamResponse(headers=headers)
            if not announce_length:
                response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b'{"isvalid": true, "pad": "' + b"x" * 65536
            try:
                for _ in range(FLOOD_BYTES // len(chunk)):
                    await response.write(chunk)
            except (ConnectionError, RuntimeError):
                pass  # the client hung up: that is the point
            return response

        self._handler = handler

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.1, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=tls)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.scheme = "https" if tls else "http"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(request.path, request.raw_path, dict(request.query), dict(request.headers))
        )
        return await self._handler(request)


class DroppingUpstream:
    """A raw HTTP/1.1 server on loopback that answers every request `{"isvalid": false}`
    on a kept-alive connection, except those whose number (0-based, over the whole server)
    is in `drop`: such a request is read whole, then the connection is dropped without a
    word (closed, or reset with `reset=True`). With `close_after_s` every connection is
    also closed that long after each answer, without saying so beforehand (a keep-alive
    timeout; 0 = at once).

    `requests` holds every request line it read, so a test sees a request sent twice."""

    def __init__(
        self,
        drop: tuple[int, ...] = (),
        reset: bool = False,
        close_after_s: float | None = None,
    ) -> None:
        self.drop = drop
        self.reset = reset
        self.close_after_s = close_after_s
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")  # a GET has no body
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                if len(self.requests) - 1 in self.drop:
                    if self.reset:  # SO_LINGER 0: close() sends RST instead of FIN
                        sock = writer.get_extra_info("socket")
                        linger = struct.pack("ii", 1, 0)
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    break
                body = b'{"isvalid": false}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                if self.close_after_s is not None:
                    await asyncio.sleep(self.close_after_s)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up first
        writer.close()


def _json_handler(body: object, status: int) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=json.dumps(body), status=status, content_type="application/json")

    return handler


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 and the PEM file that trusts it (openssl CLI)."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


def door(name: str = "front", **options: object) -> DoorSettings:
    return DoorSettings(name=name, **options)  # type: ignore[arg-type]


def reader(name: str = "r1", door_name: str = "front", **options: object) -> ReaderSettings:
    return ReaderSettings(name=name, kind="wiegand", door=door_name, **options)  # type: ignore[arg-type]


def cred(kind: CredentialKind, value: str, reader_name: str = "r1") -> Credential:
    return Credential(kind=kind, value=value, reader=reader_name, timestamp=1_800_000_000.0)
