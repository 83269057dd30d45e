"""Logging in and out of the status page, and the forced change of a one-time password.

The page's session is the native API's (`gateway.web.auth.TokenStore`: idle and absolute
expiry, ended when the account changes) carried in the HttpOnly, SameSite=Strict cookie;
the login goes through the same throttle and journal as the API's (`checked_login`).
The login form has no session yet, so its CSRF token is a double-submit cookie of its own
(`LOGIN_COOKIE`), scoped to /login.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from gateway.web import api, security
from gateway.web.auth import ACCOUNTS
from gateway.web.page.site import (
    CSRF_FIELD,
    LOGIN_PATH,
    LOGOUT_PATH,
    PASSWORD_PATH,
    add_page,
    page_session,
    read_form,
    render,
)

LOGIN_COOKIE = "dg_login"
API_NAME = "page"  # how the journal names this way in ("native", "actatek", ...)


async def login_form(request: web.Request) -> web.StreamResponse:
    """GET /login: the form (or the dashboard, when already logged in)."""
    token = request.cookies.get(security.SESSION_COOKIE, "")
    if token and request.app[api.TOKENS].check(token) is not None:
        raise web.HTTPSeeOther("/")
    farewell = "You are logged out." if request.query.get("out") == "1" else ""
    return _form(request, "", 200, notice=farewell)


def _form(
    request: web.Request, error: str, status: int, username: str = "", notice: str = ""
) -> web.Response:
    """The login form with a fresh double-submit token."""
    token = secrets.token_urlsafe(32)
    context = {"error": error, "notice": notice, "username": username, "login_csrf": token}
    response = render(request, "login.html", context, status=status)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure,
        path=LOGIN_PATH,
    )  # fmt: skip
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """POST /login: username and password, under the API's throttle; then the dashboard,
    or the password form when the password is a one-time one."""
    form = await read_form(request)
    given, expected = form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE, "")
    if not (given is not None and expected and security.same_secret(given, expected)):
        return _form(request, "The form was stale: please log in again.", 403)
    username, password = form.get("username"), form.get("password")
    if username is None or password is None:
        return _form(request, "Enter a username and a password.", 400)
    if not (0 < len(username) <= 64 and username.isprintable() and 0 < len(password) <= 256):
        return _form(request, "Enter a username and a password.", 400, username[:64])
    outcome = await security.checked_login(
        request.app[security.THROTTLE],
        request.app[api.LOGINS].verify_login,
        request.app[api.EVENTS].record_api,
        username,
        password,
        security.client_address(request),
        API_NAME,
        request.app[ACCOUNTS],
    )
    if outcome.refusal is not None:
        response = _form(request, f"Too many failed logins: {outcome.refusal.message}.", 429)
        response.headers["Retry-After"] = str(outcome.refusal.retry_after_s)
        return response
    if outcome.account is None:
        return _form(request, "Wrong username or password.", 401, username)
    return _logged_in(request, username, outcome.account, outcome.credential_version)


def _logged_in(
    request: web.Request, username: str, account: tuple[str, str], version: int
) -> web.StreamResponse:
    """A new session (never the one the browser came with) in the cookie."""
    tokens = request.app[api.TOKENS]
    old = request.cookies.get(security.SESSION_COOKIE, "")
    if old:
        tokens.end(old)
    must_change = request.app[api.LOGINS].password_change_required(username)
    token = tokens.issue(*account, version, must_change=must_change)
    response = web.HTTPSeeOther(PASSWORD_PATH if must_change else "/")
    security.set_session_cookie(response, token, secure=request.secure)
    response.del_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout: end the session, drop the cookie, back to the login form."""
    session = page_session(request)
    request.app[api.TOKENS].end(request.cookies.get(security.SESSION_COOKIE, ""))
    request.app[api.EVENTS].record_api("logout", session.username, API_NAME)
    response = web.HTTPSeeOther(LOGIN_PATH + "?out=1")
    security.clear_session_cookie(response)
    raise response


async def password_form(request: web.Request) -> web.StreamResponse:
    """GET /password: change one's own password (forced after a one-time password)."""
    return render(request, "password.html", {"error": ""})


async def change_password(request: web.Request) -> web.StreamResponse:
    """POST /password: old, new, new again. The old one is checked under the login
    throttle; every other session of the account ends, this one carries on."""
    session = page_session(request)
    form = await read_form(request)
    old, new, again = form.get("old"), form.get("new"), form.get("again")
    if old is None or new is None or again is None:
        return _password_error(request, "Fill in all three fields.", 400)
    if not (0 < len(old) <= 256 and 0 < len(new) <= 256) or new != again:
        return _password_error(request, "The new password and its repetition differ.", 400)
    outcome = await security.checked_login(
        request.app[security.THROTTLE],
        request.app[api.LOGINS].verify_login,
        api.password_journal(request.app[api.EVENTS]),
        session.username,
        old,
        security.client_address(request),
        API_NAME,
        request.app[ACCOUNTS],
    )
    if outcome.refusal is not None:
        message = f"Too many failed attempts: {outcome.refusal.message}."
        return _password_error(request, message, 429)
    if outcome.account is None:
        return _password_error(request, "The current password is wrong.", 403)
    problem = await api.store_new_password(
        request, session, old, new, outcome.credential_version, API_NAME
    )
    if problem is not None:
        return _password_error(request, problem, 400)
    raise web.HTTPSeeOther("/?notice=password")


def _password_error(request: web.Request, message: str, status: int) -> web.Response:
    return render(request, "password.html", {"error": message}, status=status)


def add_login_routes(app: web.Application) -> None:
    """/login (public), /logout and /password (any session)."""
    add_page(app, "GET", LOGIN_PATH, login_form, public=True)
    add_page(app, "POST", LOGIN_PATH, login, public=True)
    app[security.BODY_LIMITS][("POST", LOGIN_PATH)] = api.LOGIN_BODY_BYTES
    add_page(app, "POST", LOGOUT_PATH, logout)
    add_page(app, "GET", PASSWORD_PATH, password_form)
    add_page(app, "POST", PASSWORD_PATH, change_password)
