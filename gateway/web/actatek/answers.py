"""What every ACTAtek answer looks like, and the one way a handler refuses.

A handler refuses by raising `ActatekError` (the message, and 400 unless it says
otherwise), or lets the refusal of a service it calls through (`REFUSALS`: the strict
body reader, the stores, the terminal functions, the device clock); the `common_errors`
middleware turns each (`common_error`), and any other failure under /cgi-bin/restapi/,
into the reference's common shape `{"status": "error", "message": ...}`:
400 for a bad request, an unknown or expired session, or a role that may not do it; 413 for
a body too large; 500 only for a real fault; never an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from gateway.actatek_records import TerminalError
from gateway.device_time import TimeSettingError
from gateway.store.errors import NotFoundError, StoreError, ValidationError
from gateway.web.strictjson import BodyRejected

log = logging.getLogger(__name__)

PREFIX = "/cgi-bin/restapi/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ActatekError(Exception):
    """The ACTAtek API's refusal: an answer in the common error shape, 400 unless told."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# What the services the handlers call refuse with; `common_error` says how each answers.
REFUSALS = (ActatekError, BodyRejected, StoreError, TerminalError, TimeSettingError)


def common_error(exc: Exception, names: Mapping[str, str] | None = None) -> ActatekError:
    """The answer to a refusal of `REFUSALS`: a body, store, terminal or device clock
    refusal is a 400 with its message (a body's own status: 413, 408), a fault of the
    database or the system a 500. `names` maps store field names to the section's."""
    if isinstance(exc, ActatekError):
        return exc
    if isinstance(exc, BodyRejected):
        return ActatekError(exc.message, exc.status)
    if isinstance(exc, TimeSettingError):
        return ActatekError(exc.message, 500 if exc.fault else 400)
    if isinstance(exc, ValidationError):
        field = (names or {}).get(exc.field, exc.field)
        return ActatekError(f"{field}: {exc.message}")
    if isinstance(exc, NotFoundError | TerminalError):
        return ActatekError(str(exc))
    log.error("store failure in the ACTAtek API: %s", exc)
    return ActatekError("database error", 500)


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
    except REFUSALS as exc:
        answer = common_error(exc)
        return error_response(answer.message, answer.status)
    except web.HTTPRequestEntityTooLarge:
        return error_response("request body too large", 413)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response("unknown endpoint or method")
        return error_response(exc.reason or "bad request", exc.status)
    except Exception:
        log.exception("ACTAtek API fault on %s %s", request.method, request.path)
        return error_response("internal error", 500)
