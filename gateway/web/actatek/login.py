"""Section 1: login and logout, and 11.2 apiversion (the one endpoint without a session)."""

from __future__ import annotations

from aiohttp import web

from gateway.web import security
from gateway.web.actatek.answers import ActatekError, error_response, success
from gateway.web.actatek.context import context_of
from gateway.web.actatek.inputs import read_json, text
from gateway.web.actatek.session import SESSIONS, endpoint, session_of
from gateway.web.auth import ACCOUNTS

API_NAME = "A4 REST API"
API_VERSION = "0.1"


async def login(request: web.Request) -> web.Response:
    """POST /login {"username", "password"} -> {"status": "success", "sessionid": "N"}.

    The id is sent as a string of digits, as the reference's example quotes it: a 63-bit
    number in JSON loses its low digits in JavaScript (doubles hold 53 bits), and the
    rounded id would then be refused. Paths take the digits either way.

    Only technician accounts log in; a user's ACTAtek `password` (their keypad PIN) never
    does. A wrong name or password is the same common error; the login throttle shared
    with the native API (`gateway.web.security`) answers the common error too, saying how
    long to wait (and a Retry-After header), since ACTAtek clients know no other shape.
    An account with a one-time password is refused until it changes it.
    """
    body = await read_json(request, max_bytes=4096)
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    username = text(body, "username", 64, required=True)
    password = text(body, "password", 256, required=True)
    assert username is not None and password is not None
    ctx = context_of(request)
    outcome = await security.checked_login(
        request.app[security.THROTTLE],
        ctx.verify_login,
        ctx.record_api,
        username,
        password,
        security.client_address(request),
        "actatek",
        request.app[ACCOUNTS],
    )
    if outcome.refusal is not None:
        return _refused(outcome.refusal)
    if outcome.account is None:
        raise ActatekError("login failed")
    if ctx.accounts.password_change_required(username):
        ctx.record_api("login_refused", username, "actatek: one-time password not changed")
        raise ActatekError(
            "password change required: change the one-time password with POST "
            f"/api/v1/password, or run `door-gateway passwd {username}`"
        )
    session = request.app[SESSIONS].issue(*outcome.account, outcome.credential_version)
    return success(sessionid=str(session.id))


def _refused(refusal: security.Refusal) -> web.Response:
    response = error_response(refusal.message)
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


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
