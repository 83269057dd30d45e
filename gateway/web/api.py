"""The native JSON API under /api/v1: login, status, events."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from gateway.model import StoredEvent
from gateway.web.auth import Session, TokenStore
from gateway.web.common import BadRequest, error, field_str, json_object

MAX_EVENTS_PAGE = 1000


class GatewayView(Protocol):
    """What the web layer may ask of the running gateway."""

    def status(self) -> dict[str, Any]: ...

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]: ...

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None: ...

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...


TOKENS = web.AppKey("tokens", TokenStore)
GATEWAY = web.AppKey("gateway", GatewayView)
SESSION_KEY = web.RequestKey("session", Session)


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every /api/v1 endpoint but login needs `Authorization: Bearer TOKEN`."""
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/login":
        return await handler(request)  # type: ignore[no-any-return]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    session = (
        request.app[TOKENS].check(token.strip()) if scheme.lower() == "bearer" and token else None
    )
    if session is None:
        return error(401, "a valid bearer token is required; POST /api/v1/login")
    request[SESSION_KEY] = session
    return await handler(request)  # type: ignore[no-any-return]


async def login(request: web.Request) -> web.Response:
    try:
        body = await json_object(request, max_bytes=4096)
        username = field_str(body, "username", 64)
        password = field_str(body, "password", 256)
    except BadRequest as exc:
        return error(400, str(exc))
    gateway = request.app[GATEWAY]
    account = await gateway.verify_login(username, password)
    if account is None:
        gateway.record_api("login_failed", username, f"from {request.remote}")
        return error(401, "wrong username or password")
    token = request.app[TOKENS].issue(*account)
    gateway.record_api("login", username, f"from {request.remote}")
    return web.json_response({"token": token})


async def status(request: web.Request) -> web.Response:
    return web.json_response(request.app[GATEWAY].status())


async def events(request: web.Request) -> web.Response:
    try:
        after = _int_query(request, "after", 0, 0, 2**63 - 1)
        limit = _int_query(request, "limit", 100, 1, MAX_EVENTS_PAGE)
    except BadRequest as exc:
        return error(400, str(exc))
    rows = await request.app[GATEWAY].read_events(after, limit)
    last_seq = rows[-1].seq if rows else after
    return web.json_response({"events": [r.as_dict() for r in rows], "last_seq": last_seq})


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name}: expected a whole number from {low} to {high}")
    return int(raw)


def session_of(request: web.Request) -> Session:
    """The technician session the middleware attached to the request."""
    session: Session = request[SESSION_KEY]
    return session


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/login", login)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/events", events)
