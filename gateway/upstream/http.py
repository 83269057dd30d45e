"""Shared HTTP client plumbing for the verify client and the anti-passback notifier.

One place decides how TLS is checked and how an aiohttp failure is described, so the two
clients cannot drift apart (e.g. one verifying certificates and the other not).
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


def new_session(
    ssl_setting: ssl.SSLContext | bool,
    timeout_s: float,
    limit: int,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientSession:
    """A client session with our defaults (call from within the running event loop).

    No compression (a gzip bomb cannot get past the body size cap), no proxies from the
    environment (a daemon's behaviour should not depend on a login shell's variables).
    """
    connector = aiohttp.TCPConnector(ssl=ssl_setting, limit=limit)
    base = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={**base, **(headers or {})},
        auto_decompress=False,
        trust_env=False,
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
