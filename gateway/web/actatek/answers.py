"""What every ACTAtek answer looks like, and the one way a handler refuses.

A handler refuses by raising `ActatekError` (the message, and 400 unless it says
otherwise); the `common_errors` middleware turns it, and any other failure under
/cgi-bin/restapi/, into the reference's common shape `{"status": "error", "message": ...}`:
400 for a bad request, an unknown or expired session, or a role that may not do it; 413 for
a body too large; 500 only for a real fault; never an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

PREFIX = "/cgi-bin/restapi/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ActatekError(Exception):
    """An answer in the common error shape."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(message: str, status: int = 400) -> web.Response:
    return web.json_response({"status": "error", "message": message}, status=status)


def success(message: str | None = None, **extra: Any) -> web.Response:
    """`{"status": "success", "message": ...}` as most write endpoints answer."""
    body: dict[str, Any] = {"status": "success"}
    if message is not None:
        body["message"] = message
    body.update(extra)
    return web.json_response(body)


def seconds(value: float) -> int | float:
    """A duration as the reference's integer seconds when it is whole."""
    return int(value) if float(value).is_integer() else value


@web.middleware
async def common_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /cgi-bin/restapi/ every failure is the common error, never HTML or a trace."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ActatekError as exc:
        return error_response(exc.message, exc.status)
    except web.HTTPRequestEntityTooLarge:
        return error_response("request body too large", 413)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response("unknown endpoint or method")
        return error_response(exc.reason or "bad request", exc.status)
    except Exception:
        log.exception("ACTAtek API fault on %s %s", request.method, request.path)
        return error_response("internal error", 500)
