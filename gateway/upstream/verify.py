"""The verify client: one Akuvox third-party-server request -> one `VerifyResult`.

An HTTP GET of the filled URL template, with one deadline (`timeout_s`) for the whole
exchange, connection included: aiohttp's `ClientTimeout(total=...)` plus an outer
`asyncio.timeout` in case some aiohttp phase escapes it. Fail closed: only a 2xx answer
whose JSON says so grants; every error, timeout or odd answer is a denial whose reason
says which. The client never raises for a network problem.

The result also says whether the exchange counts as a failure for the circuit breaker:
the server could not be reached or answered 5xx. A clean "no", a 4xx or a malformed body
is the server speaking promptly, so it does not open the breaker (and never makes the
door's offline policy apply).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from gateway.settings import UpstreamSettings
from gateway.upstream.answer import parse_answer
from gateway.upstream.http import basic_auth, client_ssl, failure_kind, new_session
from gateway.upstream.template import VerifyRequest, build_url, redacted_url, trace_target

log = logging.getLogger(__name__)

READ_CHUNK = 16 * 1024
CONNECTIONS = 8  # verify requests in flight at once (a few doors, one server)

_FAILURE_REASONS: dict[str, str] = {
    "timeout": "upstream_timeout",
    "tls": "upstream_tls",
    "unreachable": "upstream_unreachable",
    "protocol": "upstream_bad_answer",
    "error": "upstream_error",
}
_BREAKER_FAILURES = frozenset({"timeout", "tls", "unreachable"})


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of one request.

    `reason` is "granted", "upstream_denied" or the failure (`upstream_timeout`, ...);
    `detail` a short trace token (`http_200,isvalid=1`); `message` the server's prompt
    text, if any; `target` the redacted `host/path` requested; `failure` True when the
    circuit breaker should count it.
    """

    granted: bool
    reason: str
    detail: str
    target: str
    latency_s: float
    status: int | None = None
    message: str = ""
    failure: bool = False


@dataclass(frozen=True)
class _Reply:
    """What came back over HTTP: the status and the body (None: over the size cap);
    `framing` says why the body's extent is ambiguous ("" when it is not)."""

    status: int
    body: bytes | None
    framing: str = ""


class VerifyClient:
    """Sends verify requests for one `[upstream]` configuration, each on its own connection."""

    def __init__(
        self,
        settings: UpstreamSettings,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._ssl = client_ssl(settings.verify_tls, settings.ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The session, created on first use (aiohttp wants a running loop)."""
        if self._session is None or self._session.closed:
            settings = self._settings
            headers = {"Accept": "application/json"}
            if settings.username:
                headers["Authorization"] = basic_auth(settings.username, settings.password)
            elif settings.bearer_token:
                headers["Authorization"] = f"Bearer {settings.bearer_token}"
            self._session = new_session(self._ssl, settings.timeout_s, CONNECTIONS, headers)
        return self._session

    async def verify(self, request: VerifyRequest) -> VerifyResult:
        """Ask the server about `request`; never raises except on cancellation."""
        template = self._settings.url
        shown = redacted_url(template, request)
        target = trace_target(shown)
        started = self._monotonic()
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                reply = await self._fetch(build_url(template, request))
        except Exception as exc:  # every failure is a denial; the kind says which
            result = self._failed(exc, target, self._monotonic() - started)
        else:
            result = self._judge(reply, target, self._monotonic() - started)
        log.info(
            "upstream GET %s -> %s (%s) in %.0f ms",
            shown,
            result.reason,
            result.detail,
            result.latency_s * 1000,
        )
        return result

    async def _fetch(self, url: str) -> _Reply:
        """GET `url`; read the body of a 2xx answer up to the size cap."""
        # encoded=True: the template filler already percent-encoded every value, and
        # yarl must not re-encode (a `%2F` in a QR code has to stay one).
        async with self._client().get(URL(url, encoded=True), allow_redirects=False) as response:
            framing = ambiguous_framing(response.headers)
            if framing:
                response.close()  # what follows the body cannot be trusted either
                return _Reply(response.status, None, framing)
            if not 200 <= response.status < 300:
                return _Reply(response.status, b"")
            body = await _read_capped(response, self._settings.max_body_bytes)
            if body is None:
                response.close()  # drop the connection rather than drain a huge body
            return _Reply(response.status, body)

    def _failed(self, exc: Exception, target: str, latency: float) -> VerifyResult:
        kind = failure_kind(exc)
        if kind == "timeout":
            detail = f"timeout_after_{self._settings.timeout_s:g}s"
        else:
            detail = f"{kind}:{type(exc).__name__}"
        return VerifyResult(
            granted=False,
            reason=_FAILURE_REASONS[kind],
            detail=detail,
            target=target,
            latency_s=latency,
            failure=kind in _BREAKER_FAILURES,
        )

    def _judge(self, reply: _Reply, target: str, latency: float) -> VerifyResult:
        status = reply.status
        if reply.framing:  # the server spoke, but not HTTP one can rely on: as a parse error
            detail = f"http_{status},{reply.framing}"
            return VerifyResult(False, "upstream_bad_answer", detail, target, latency, status)
        if not 200 <= status < 300:
            return VerifyResult(
                False, f"upstream_http_{status}", f"http_{status}", target, latency, status,
                failure=status >= 500,
            )  # fmt: skip
        if reply.body is None:
            detail = f"http_{status},body_over_{self._settings.max_body_bytes}_bytes"
            return VerifyResult(False, "upstream_too_large", detail, target, latency, status)
        answer = parse_answer(reply.body)
        detail = f"http_{status},{answer.detail}"
        reason = {"grant": "granted", "deny": "upstream_denied"}.get(
            answer.verdict, "upstream_bad_answer"
        )
        return VerifyResult(
            answer.verdict == "grant", reason, detail, target, latency, status, answer.message
        )

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def ambiguous_framing(headers: CIMultiDictProxy[str]) -> str:
    """Why a response's body has no single length ("" when it has one).

    Two Content-Length fields, or a list in one, or one beside Transfer-Encoding: which
    bytes are the body then depends on the parser (RFC 9112 section 6.3 makes it an
    unrecoverable error). aiohttp's compiled parser refuses these; its pure-Python one
    (no compiled wheel installed, or AIOHTTP_NO_EXTENSIONS set) takes the first length,
    so `{"isvalid": true}` followed by anything would grant. Checked here so the answer
    does not depend on the parser.
    """
    lengths = headers.getall("Content-Length", [])
    if len(lengths) > 1 or any("," in length for length in lengths):
        return "conflicting_content_length"
    if lengths and "Transfer-Encoding" in headers:
        return "content_length_and_transfer_encoding"
    return ""


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `cap` bytes."""
    length = response.content_length
    if length is not None and length > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
