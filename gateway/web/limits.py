"""Limits that keep the web server answering when clients are slow, idle or many
(docs/security.md, "Denial of service").

aiohttp does the HTTP; this module only sets its options and caps connections:

- **Idle and header timeout** (`idle_timeout_s`): aiohttp's keep-alive timer runs from the
  moment a connection opens and from the end of each answer, and closes a connection that
  has not sent a whole request head by then, however many bytes it drips.
- **Body timeout** (`body_timeout_s`): a request body must arrive whole within it (408
  otherwise; `gateway.web.strictjson` reads every body).
- **Head size**: request line, each header and the number of headers are bounded.
- **Connections**: at most `max_per_address` open from one client address (an IPv6 client
  counts by its /64, which one host can fill); a connection beyond is closed at once. At
  most `connection_cap()` in total, half the process's file descriptors at most, so that
  accept() never fails with EMFILE; at the cap, a new connection closes the oldest one (a
  slowloris has been waiting longest), so that many addresses cannot lock everyone out.

Handlers are not cancelled when their client hangs up (aiohttp's `handler_cancellation`
stays off): a handler that changed the store must get to journal the change. A request
aiohttp cannot parse (too many headers, a line too long, garbage) or whose body it cannot
decode is the client's fault: one warning line, where aiohttp alone logs an error with a
traceback for each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpLimits:
    idle_timeout_s: float = 15.0  # a whole request head within this of connecting/answering
    body_timeout_s: float = 30.0  # a whole body within this (4 MiB at 140 kB/s)
    lingering_s: float = 2.0  # after an answer, unread body is drained this long at most
    shutdown_timeout_s: float = 5.0  # on stop, running handlers get this long
    max_connections: int = 1024  # in total, and at most half the file descriptors
    max_per_address: int = 32
    max_line_bytes: int = 8190  # the request line (OpenDoor URLs carry a few parameters)
    max_field_bytes: int = 8190  # one header
    max_headers: int = 64

    def connection_cap(self, nofile: int | None = None) -> int:
        """Connections open at once: `max_connections`, or half the soft file descriptor
        limit (`nofile`, this process's when None) if that is lower."""
        if nofile is None:
            nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if nofile == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, nofile // 2))

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments of aiohttp's `AppRunner` (its request handlers and shutdown)."""
        return {
            "keepalive_timeout": self.idle_timeout_s,
            "lingering_time": self.lingering_s,
            "max_line_size": self.max_line_bytes,
            "max_field_size": self.max_field_bytes,
            "max_headers": self.max_headers,
            "handler_cancellation": False,
            "shutdown_timeout": self.shutdown_timeout_s,
            "logger": ServerLog(logging.getLogger("aiohttp.server")),
        }


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """The logger aiohttp's request handlers report through: a request it could not parse
    or whose body it could not decode (the client's fault) is one warning line without a
    traceback; anything else is logged as aiohttp would."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError | web.RequestPayloadError):
            kwargs["exc_info"] = None
            what = " ".join(str(error).split())  # "400, message: ..." on one line
            self.warning(f"{msg}: %s", *args, what, **kwargs)
            return
        super().exception(msg, *args, **kwargs)


HTTP_LIMITS = web.AppKey("http_limits", HttpLimits)
TLS_HANDSHAKE_TIMEOUT_S = 10.0


def client_key(peername: Any) -> str:
    """The address a connection is counted under: the IP, or an IPv6 address's /64."""
    host = peername[0] if isinstance(peername, tuple) and peername else str(peername)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class ConnectionGuard:
    """Counts open connections in total and per address; admits, refuses or evicts."""

    def __init__(self, max_total: int, max_per_address: int) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._open: dict[GuardedProtocol, str] = {}  # insertion order: oldest first
        self._per_address: dict[str, int] = {}
        self.refused = 0
        self.evicted = 0

    def admit(self, connection: GuardedProtocol, address: str) -> bool:
        """True when `connection` may open; at the total cap the oldest one is closed."""
        if self._per_address.get(address, 0) >= self.max_per_address:
            self.refused += 1
            log.warning(
                "HTTP connection from %s refused: %d open from that address already",
                address,
                self.max_per_address,
            )
            return False
        if len(self._open) >= self.max_total:
            oldest = next(iter(self._open))
            self.evicted += 1
            log.warning(
                "HTTP connections at their limit (%d): closed the oldest, from %s",
                self.max_total,
                self._open[oldest],
            )
            self.release(oldest)
            oldest.close()
        self._open[connection] = address
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return True

    def release(self, connection: GuardedProtocol) -> None:
        """`connection` ended (or was evicted); idempotent."""
        address = self._open.pop(connection, None)
        if address is None:
            return
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]

    def status(self) -> dict[str, int]:
        return {
            "open": len(self._open),
            "limit": self.max_total,
            "per_address_limit": self.max_per_address,
            "refused": self.refused,
            "evicted": self.evicted,
        }


class GuardedProtocol(asyncio.Protocol):
    """Asks the guard before handing a new connection to aiohttp's protocol (made only
    then), and tells it when the connection ends; everything else is passed through."""

    def __init__(self, guard: ConnectionGuard, make_inner: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make_inner = make_inner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._guard.admit(self, client_key(transport.get_extra_info("peername"))):
            self.close()
            return
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def close(self) -> None:
        """Drop the connection now (no lingering: its descriptor is what is scarce)."""
        if self._transport is not None and not self._transport.is_closing():
            transport = self._transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.release(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)


class GuardedTCPSite(web.BaseSite):
    """aiohttp's TCP site, with every connection passing the `ConnectionGuard`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host, self._port, self._guard = host, port, guard

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard
        self._server = await asyncio.get_running_loop().create_server(
            lambda: GuardedProtocol(guard, server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            # A client that opens TLS and stalls holds a connection slot: not for long.
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S if self._ssl_context else None,
        )
