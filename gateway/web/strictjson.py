"""Reading a request body as JSON, strictly, for every API of the gateway.

The body is read to its end before it is parsed: it may reach us in many TCP segments
(a slow link, a large photo), and a read returns only what has arrived so far. At most
`max_bytes` (413 above, whether declared or counted while streaming, and at once: what
follows is never buffered). Parsed with `gateway.strictjson.loads_strict`: UTF-8 only,
no NaN or Infinity, and no duplicate keys (`{"on": false, "on": true}` means different
things to different parsers, so it means nothing here).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http import HttpProcessingError
from aiohttp.streams import StreamReader

from gateway.strictjson import TooDeep, loads_strict
from gateway.web.limits import HTTP_LIMITS, HttpLimits

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024


class BodyRejected(Exception):
    """The body is not acceptable JSON; `status` is 400, 408 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def _read_body(request: web.Request, max_bytes: int) -> bytes:
    """Every byte of the body, waiting for the segments still on their way; BodyRejected
    (413) as soon as more than `max_bytes` have arrived, (400) when the client hangs up
    or breaks the framing before the end (a half body is never parsed), (408) when the
    whole body has not arrived within the server's body timeout (a slow client would
    otherwise hold its connection and this handler for as long as it likes)."""
    limits = request.app.get(HTTP_LIMITS) or HttpLimits()
    try:
        if request.content.is_eof():  # it has all arrived (a small body): no wait, no timer
            return await _read_chunks(request.content, max_bytes)
        async with asyncio.timeout(limits.body_timeout_s):
            return await _read_chunks(request.content, max_bytes)
    except (ConnectionError, HttpProcessingError) as exc:
        raise BodyRejected("body incomplete: the connection ended before it") from exc
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip over other bytes
        raise BodyRejected(f"body could not be read: {exc}") from exc
    except TimeoutError as exc:
        message = f"body not received within {limits.body_timeout_s:g} s"
        raise BodyRejected(message, 408) from exc


async def _read_chunks(content: StreamReader, max_bytes: int) -> bytes:
    """The stream to its end; BodyRejected (413) as soon as it is over `max_bytes`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise BodyRejected(f"body larger than {max_bytes} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_bounded_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole request body, at most `max_bytes` (declared or streamed), or
    BodyRejected (see `_read_body`); for bodies that are not JSON (the status page's
    forms)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyRejected(f"body larger than {max_bytes} bytes", 413)
    return await _read_body(request, max_bytes)


async def read_strict_json(request: web.Request, max_bytes: int) -> Any:
    """The whole request body parsed with `loads_strict`, or BodyRejected."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyRejected(f"body larger than {max_bytes} bytes", 413)
    raw = await _read_body(request, max_bytes)
    try:
        return loads_strict(raw)
    except TooDeep as exc:
        # Nobody nests this deep by mistake: one line for the admin (the log rate-limits it).
        log.warning(
            "JSON body refused on %s %s from %s: %s",
            request.method,
            request.path,
            request.remote,
            exc,
        )
        raise BodyRejected(f"body is not valid JSON: {exc}") from exc
    except ValueError as exc:
        raise BodyRejected(f"body is not valid JSON: {exc}") from exc
