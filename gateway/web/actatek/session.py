"""Section 1: login and logout, and 11.2 apiversion (the one endpoint without a session)."""

from __future__ import annotations

from aiohttp import web

from gateway.web.actatek.common import (
    SESSIONS,
    ActatekError,
    context_of,
    endpoint,
    read_json,
    session_of,
    success,
    text,
)

API_NAME = "A4 REST API"
API_VERSION = "0.1"


async def login(request: web.Request) -> web.Response:
    """POST /login {"username", "password"} -> {"status": "success", "sessionid": N}.

    Only technician accounts log in; a user's ACTAtek `password` (their keypad PIN) never
    does. Every failure is the same common error.
    """
    body = await read_json(request, max_bytes=4096)
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    username = text(body, "username", 64, required=True)
    password = text(body, "password", 256, required=True)
    assert username is not None and password is not None
    ctx = context_of(request)
    account = await ctx.verify_login(username, password)
    if account is None:
        ctx.record_api("login_failed", username, f"actatek from {request.remote}")
        raise ActatekError("login failed")
    session = request.app[SESSIONS].issue(*account)
    ctx.record_api("login", username, f"actatek from {request.remote}")
    return success(sessionid=session.id)


@endpoint(None)
async def logout(request: web.Request) -> web.Response:
    """DELETE /logout/{sessionid}."""
    session = session_of(request)
    request.app[SESSIONS].end(str(session.id))
    context_of(request).record_api("logout", session.username, "actatek")
    return success()


async def apiversion(_request: web.Request) -> web.Response:
    """GET /apiversion."""
    return web.json_response({"name": API_NAME, "version": API_VERSION})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/cgi-bin/restapi/login", login)
    app.router.add_delete("/cgi-bin/restapi/logout/{sessionid}", logout)
    app.router.add_get("/cgi-bin/restapi/apiversion", apiversion)
