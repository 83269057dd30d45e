"""The native JSON API under /api/v1: login, logout, password, status, events.

Every endpoint but login and the OpenAPI document needs a session: `Authorization: Bearer
TOKEN`, or the status page's cookie (then state-changing requests also carry the CSRF
token, see `gateway.web.security`), and the capability its route names (`ROUTES`,
`gateway.web.roles`). A session opened with a one-time password can only change that
password (or log out) until it has.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from gateway.web import roles, security
from gateway.web.actatek.session import SESSIONS as ACTATEK_SESSIONS
from gateway.web.auth import ACCOUNTS, Session, TokenStore
from gateway.web.common import BadRequest, error
from gateway.web.services import Accounts, EventLog, StatusSource

log = logging.getLogger(__name__)

MAX_EVENTS_PAGE = 1000
LOGIN_BODY_BYTES = 4096
CHANGE_FIRST_PATHS = frozenset({"/api/v1/password", "/api/v1/logout"})
MUST_CHANGE_MESSAGE = (
    'password change required: POST /api/v1/password {"old": ..., "new": ...} first'
)


TOKENS = web.AppKey("tokens", TokenStore)
STATUS = web.AppKey("status", StatusSource)
EVENTS = web.AppKey("events", EventLog)
LOGINS = web.AppKey("logins", Accounts)
SESSION_KEY = web.RequestKey("session", Session)
TOKEN_KEY = web.RequestKey("token", str)


def _token_of(request: web.Request) -> tuple[str, bool] | None:
    """(token, came from the cookie) from the Authorization header or the session cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        return (token.strip(), False) if scheme.lower() == "bearer" and token.strip() else None
    cookie = request.cookies.get(security.SESSION_COOKIE, "")
    return (cookie, True) if cookie else None


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every /api/v1 endpoint but the public ones needs a live session, and the
    capability its route names; a route that names nothing is closed to everyone."""
    guard = roles.guard_of(request)
    if not request.path.startswith("/api/v1/") or (guard is not None and guard.public):
        return await handler(request)  # type: ignore[no-any-return]
    found = _token_of(request)
    session = request.app[TOKENS].check(found[0]) if found is not None else None
    if found is None or session is None:
        return error(401, "a valid bearer token is required; POST /api/v1/login")
    refused = _refused_for(request, session, guard)
    if refused is not None:
        return refused
    request[SESSION_KEY] = session
    request[TOKEN_KEY] = found[0]
    if found[1]:
        request[security.CSRF_EXPECTED] = session.csrf
    return await handler(request)  # type: ignore[no-any-return]


def _refused_for(
    request: web.Request, session: Session, guard: roles.Guard | None
) -> web.Response | None:
    """403 when this session may not call this route, else None."""
    if session.must_change and request.path not in CHANGE_FIRST_PATHS:
        return error(403, MUST_CHANGE_MESSAGE)
    if guard is None:
        if request.match_info.http_exception is not None:
            return None  # no such route: the 404 or 405 follows
        log.error("%s %s has no guard in a ROUTES table: refused", request.method, request.path)
        return error(403, "this endpoint names no capability: refused")
    if guard.capability is not None and not roles.may(session.level, guard.capability):
        return error(403, roles.refusal(session.level, guard.capability))
    return None


async def login(request: web.Request) -> web.StreamResponse:
    """{"username", "password", "cookie"?} -> {"token", "must_change"} (or, with
    "cookie": true, the HttpOnly cookie and {"csrf_token", "must_change"}: the token is then
    never readable by the page's scripts)."""
    body = await security.read_json_object(
        request, LOGIN_BODY_BYTES, frozenset({"username", "password", "cookie"})
    )
    username = security.text_field(body, "username", 64)
    password = security.text_field(body, "password", 256, printable=False)
    cookie = body.get("cookie", False)
    if not isinstance(cookie, bool):
        raise BadRequest("cookie: expected true or false")
    logins = request.app[LOGINS]
    outcome = await security.checked_login(
        request.app[security.THROTTLE],
        logins.verify_login,
        request.app[EVENTS].record_api,
        username,
        password,
        security.client_address(request),
        "native",
        request.app[ACCOUNTS],
    )
    if outcome.refusal is not None:
        return _refused(outcome.refusal)
    if outcome.account is None:
        return error(401, "wrong username or password")
    must_change = logins.password_change_required(username)
    token = request.app[TOKENS].issue(
        *outcome.account, outcome.credential_version, must_change=must_change
    )
    return _login_answer(request, token, must_change, cookie)


def _refused(refusal: security.Refusal) -> web.Response:
    """429 with Retry-After while the throttle makes the client wait (there is no lock)."""
    response = error(429, refusal.message)
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


def _login_answer(
    request: web.Request, token: str, must_change: bool, cookie: bool
) -> web.Response:
    if not cookie:
        return web.json_response({"token": token, "must_change": must_change})
    session = request.app[TOKENS].check(token)
    assert session is not None  # issued a moment ago
    response = web.json_response({"csrf_token": session.csrf, "must_change": must_change})
    security.set_session_cookie(response, token, secure=request.secure)
    return response


async def logout(request: web.Request) -> web.Response:
    """End this session (and drop the cookie if the page used one)."""
    request.app[TOKENS].end(request[TOKEN_KEY])
    session = session_of(request)
    request.app[EVENTS].record_api("logout", session.username, "native")
    response = web.json_response({"status": "success"})
    security.clear_session_cookie(response)
    return response


async def password(request: web.Request) -> web.Response:
    """{"old", "new"}: change one's own password. The old one is checked under the login
    throttle (a stolen token must not become a password oracle); every other session of
    the account, native or ACTAtek, is logged out."""
    session = session_of(request)
    body = await security.read_json_object(request, LOGIN_BODY_BYTES, frozenset({"old", "new"}))
    old = security.text_field(body, "old", 256, printable=False)
    new = security.text_field(body, "new", 256, printable=False)
    outcome = await security.checked_login(
        request.app[security.THROTTLE],
        request.app[LOGINS].verify_login,
        password_journal(request.app[EVENTS]),
        session.username,
        old,
        security.client_address(request),
        "native",
        request.app[ACCOUNTS],
    )
    if outcome.refusal is not None:
        return _refused(outcome.refusal)
    if outcome.account is None:
        return error(403, "old: not the current password")
    return await _set_password(request, session, old, new, outcome.credential_version)


def password_journal(events: EventLog) -> security.Record:
    """How a password change's check of the old password is journaled: a wrong one as
    `password_change_failed`; success is journaled once the new password is stored."""

    def record(reason: str, username: str, detail: str) -> None:
        if reason == "login":
            return
        if reason == "login_failed":
            reason = "password_change_failed"
        events.record_api(reason, username, detail)

    return record


async def _set_password(
    request: web.Request, session: Session, old: str, new: str, checked_version: int
) -> web.Response:
    problem = await store_new_password(request, session, old, new, checked_version, "native")
    if problem is not None:
        return error(400, problem)
    return web.json_response({"status": "success"})


async def store_new_password(
    request: web.Request, session: Session, old: str, new: str, checked_version: int, via: str
) -> str | None:
    """Store the new password (the old one was checked); None, or what is wrong with the
    new one. This session carries on under the account's new credential version only if
    nothing else changed the account meanwhile (else it ends too); every other session of
    the account, native or ACTAtek, ends. `via` names the way in for the journal."""
    if new == old:
        return "new: must differ from the old password"
    try:
        await request.app[LOGINS].change_password(session.username, new)
    except ValueError as exc:
        return f"new: {exc}"
    session.must_change = False
    now = request.app[ACCOUNTS].technician_credential_version(session.username)
    if now is not None and checked_version == session.credential_version == now - 1:
        session.credential_version = now
    request.app[TOKENS].end_user(session.username, keep=session)
    actatek = request.app.get(ACTATEK_SESSIONS)
    if actatek is not None:
        actatek.end_user(session.username)
    request.app[EVENTS].record_api("password_changed", session.username, via)
    return None


async def status(request: web.Request) -> web.Response:
    """The parts of every component's status that the session's role may read."""
    level = session_of(request).level
    return web.json_response(roles.visible_status(request.app[STATUS].status(), level))


async def events(request: web.Request) -> web.Response:
    """Journal events after `after`, oldest first (capability `logs`)."""
    after = _int_query(request, "after", 0, 0, 2**63 - 1)
    limit = _int_query(request, "limit", 100, 1, MAX_EVENTS_PAGE)
    rows = await request.app[EVENTS].read_events(after, limit)
    last_seq = rows[-1].seq if rows else after
    return web.json_response({"events": [r.as_dict() for r in rows], "last_seq": last_seq})


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    # isascii: str.isdigit() also accepts digits like "²" that int() refuses
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not low <= int(raw) <= high:
        raise BadRequest(f"{name}: expected a whole number from {low} to {high}")
    return int(raw)


def session_of(request: web.Request) -> Session:
    """The technician session the middleware attached to the request."""
    session: Session = request[SESSION_KEY]
    return session


# What each endpoint needs (docs/security.md); the OpenAPI document states the same.
ROUTES = (
    roles.NativeRoute("POST", "/api/v1/login", login, roles.PUBLIC),
    roles.NativeRoute("POST", "/api/v1/logout", logout, roles.ANY_SESSION),
    roles.NativeRoute("POST", "/api/v1/password", password, roles.ANY_SESSION),
    # Any session, but each role reads only its parts (roles.STATUS_SECTIONS).
    roles.NativeRoute("GET", "/api/v1/status", status, roles.ANY_SESSION),
    roles.NativeRoute("GET", "/api/v1/events", events, roles.needs("logs")),
)


def add_routes(app: web.Application) -> None:
    roles.add_native_routes(app, ROUTES)
    limits = app[security.BODY_LIMITS]
    limits[("POST", "/api/v1/login")] = LOGIN_BODY_BYTES
    limits[("POST", "/api/v1/password")] = LOGIN_BODY_BYTES
    limits[("POST", "/api/v1/logout")] = security.NO_DATA_BYTES
