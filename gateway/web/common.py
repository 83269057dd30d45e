"""Shared helpers for the HTTP layer: strict JSON bodies and error answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    """The client sent something we will not act on; the message says what."""

    status = 400


class TooLarge(BadRequest):
    """The body is over the endpoint's limit (413)."""

    status = 413


def error(status: int, message: str) -> web.Response:
    """An error in the native API's shape."""
    return web.json_response({"status": "error", "message": message}, status=status)


async def json_object(request: web.Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, or BadRequest."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"body larger than {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise TooLarge(f"body larger than {max_bytes} bytes")
    try:
        body = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`{"on": false, "on": true}` means different things to different parsers: refuse it."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def field_str(body: dict[str, Any], name: str, max_len: int = 256) -> str:
    """A required string field of bounded length."""
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequest(f"{name}: expected a string of 1 to {max_len} characters")
    return value


def field_number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    """An optional number field within [low, high]."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"{name}: expected a number from {low:g} to {high:g}")
    return float(value)
