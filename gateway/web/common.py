"""Shared helpers for the HTTP layer: strict JSON bodies and error answers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.web.strictjson import BodyRejected, read_strict_json

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    """The one refusal of the native API, the simulation API and OpenDoor: the client asked
    for something we will not do, and `message` says what. `security.json_errors` answers
    it in the shape of the API the path belongs to, with `status` (400 unless told: 404 for
    a name that is not there, 413 for a body over the limit, 501 for what is not built)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error(status: int, message: str) -> web.Response:
    """An error in the native API's shape."""
    return web.json_response({"status": "error", "message": message}, status=status)


async def json_object(request: web.Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a strict JSON object, or BadRequest (413 over the limit)."""
    try:
        body = await read_strict_json(request, max_bytes)
    except BodyRejected as exc:
        raise BadRequest(exc.message, exc.status) from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


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
