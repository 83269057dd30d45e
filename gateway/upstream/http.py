"""Shared HTTP client plumbing for the verify client and the anti-passback notifier.

One place decides how TLS is checked, that a request is never sent twice, and how an
aiohttp failure is described, so the two clients cannot drift apart (e.g. one verifying
certificates and the other not).

Never twice: aiohttp sends an idempotent request (GET, PUT, DELETE, ...) a second time when
the connection drops before the answer starts (`ServerDisconnectedError`, or an OS error
such as a reset), on a kept-alive connection or a new one alike. For us a GET is not
idempotent: a verify request may be logged or counted by the server, an anti-passback URL
opens a door and records a passage. If the first one reached the server, the second is a
second presentation the person never made; and the failure of the first is hidden from
the circuit breaker. aiohttp has no switch for it, so `no_resend`, a client middleware
(aiohttp >= 3.12), turns those two errors into `ConnectionDropped`, which aiohttp does not
retry: one presentation, one request, and a drop is a failure like any other.

Without the resend, a kept-alive connection would turn a server's idle close into a
failure whenever the close crosses our next request (a keep-alive timeout about as long
as the gap between cards), so every request has a connection of its own (`force_close`):
a handshake more per request (TLS included) instead of a denial for nothing.
"""

from __future__ import annotations

import base64
import ssl

import aiohttp

from gateway import __version__

USER_AGENT = f"door-gateway/{__version__}"


def client_ssl(verify_tls: bool, ca_file: str) -> ssl.SSLContext | bool:
    """The `ssl` argument for aiohttp: a verifying context, or False when switched off.

    A `ca_file` replaces the system's trust store (a private CA for the site's servers);
    `ssl.create_default_context` loads the system store only when no file is given.
    Raises ValueError naming the file when it cannot be used (at start-up, not per request).
    """
    if not verify_tls:
        return False
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unusable"
        message = f"upstream.ca_file {ca_file}: not a usable PEM CA file ({reason})"
        raise ValueError(message) from None


class ConnectionDropped(aiohttp.ClientConnectionError):
    """The connection failed after the request may have reached the server (it is not
    sent again). `__cause__` is aiohttp's original error."""


async def no_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Client middleware: a dropped connection ends the request instead of resending it."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # could not connect: nothing was sent (and aiohttp does not resend these)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise ConnectionDropped(type(exc).__name__) from exc


def new_session(
    ssl_setting: ssl.SSLContext | bool,
    timeout_s: float,
    limit: int,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientSession:
    """A client session with our defaults (call from within the running event loop).

    No compression (a gzip bomb cannot get past the body size cap), no proxies from the
    environment (a daemon's behaviour should not depend on a login shell's variables),
    no request sent twice and one connection per request (see the module docstring).
    """
    connector = aiohttp.TCPConnector(ssl=ssl_setting, limit=limit, force_close=True)
    base = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={**base, **(headers or {})},
        auto_decompress=False,
        trust_env=False,
        middlewares=(no_resend,),
    )


def basic_auth(username: str, password: str) -> str:
    """The `Authorization` header value for HTTP basic auth (UTF-8, RFC 7617)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def failure_kind(exc: BaseException) -> str:
    """timeout | tls | unreachable | protocol | error: what went wrong, never the text.

    Exception text is not used: aiohttp puts the URL (and so a PIN) into some messages.
    """
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        return "tls"
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)):
        return "unreachable"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "protocol"  # the server spoke, but not valid HTTP
    return "error"
