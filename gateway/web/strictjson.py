"""Reading a request body as JSON, strictly, for every API of the gateway.

UTF-8 only, at most `max_bytes` (413 above, whether declared or streamed), no NaN or
Infinity, and no duplicate keys: `{"on": false, "on": true}` means different things to
different parsers, so it means nothing here.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class BodyRejected(Exception):
    """The body is not acceptable JSON; `status` is 400 or 413."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def loads_strict(raw: bytes) -> Any:
    """Parse `raw`; ValueError (UnicodeDecodeError included) on anything not strict JSON."""
    return json.loads(
        raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
    )


async def read_strict_json(request: web.Request, max_bytes: int) -> Any:
    """The request body parsed with `loads_strict`, or BodyRejected."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise BodyRejected(f"body larger than {max_bytes} bytes", 413)
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BodyRejected(f"body larger than {max_bytes} bytes", 413)
    try:
        return loads_strict(raw)
    except ValueError as exc:
        raise BodyRejected(f"body is not valid JSON: {exc}") from exc
