"""What every ACTAtek endpoint shares: sessions, roles, the common error, strict input.

Errors always have the reference's common shape `{"status": "error", "message": ...}`:
400 for a bad request, an unknown or expired session, or a role that may not do it; 500
only for a real fault; never an HTML page or a traceback.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.clock import Clock
from gateway.web.auth import CredentialVersions
from gateway.web.rules_in_force import RulesInForce
from gateway.web.services import Accounts, EventLog
from gateway.web.strictjson import BodyRejected, read_strict_json

if TYPE_CHECKING:
    from gateway.actatek_settings import TerminalFunctions
    from gateway.doors.controller import DoorController
    from gateway.model import Event
    from gateway.settings import Settings
    from gateway.store.journal import EventJournal
    from gateway.store.stores import Stores
    from gateway.upstream.forward import Forwarder

log = logging.getLogger(__name__)

PREFIX = "/cgi-bin/restapi/"
SESSION_IDLE_S = 30 * 60.0
SESSION_ABSOLUTE_S = 12 * 3600.0
MAX_SESSIONS = 1000  # a client logging in in a loop cannot fill the memory
MAX_BODY_BYTES = 4 * 1024 * 1024  # a 2 MB face photo in base64 fits
SMALL_BODY_BYTES = 64 * 1024

# What each role may do. The reference names the roles; which endpoint needs which
# capability is listed per module (docs/actatek-compat.md).
CAPABILITIES: dict[str, frozenset[str]] = {
    "PERSONALUSER": frozenset({"myself"}),
    "USERADMIN": frozenset(
        {"myself", "users", "departments", "groups", "rights", "holidays", "logs"}
    ),
    "NETWORKADMIN": frozenset({"myself", "time", "ntp", "agents", "terminal"}),
    "SUPERADMIN": frozenset(
        {
            "myself",
            "users",
            "departments",
            "groups",
            "rights",
            "holidays",
            "logs",
            "time",
            "ntp",
            "agents",
            "terminal",
        }
    ),
}


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


# -- sessions -------------------------------------------------------------------------


@dataclass
class ActatekSession:
    id: int
    username: str
    level: str
    created: float
    last_used: float
    credential_version: int  # the account's at login: the session ends when it moves

    def may(self, capability: str) -> bool:
        return capability in CAPABILITIES.get(self.level, frozenset())


class ActatekSessions:
    """Session ids: cryptographically random positive 63-bit integers (the reference types
    them as a long), 30 minutes idle expiry, an absolute lifetime on top. Answers carry an
    id as a string of digits (JavaScript would round a JSON number); paths name it by its
    digits. A session also ends as soon as its account's credential version moves (a new
    password, level or state, from the native API or `door-gateway passwd`)."""

    def __init__(
        self, clock: Clock, accounts: CredentialVersions, idle_s: float = SESSION_IDLE_S
    ) -> None:
        self._clock = clock
        self._accounts = accounts
        self._idle_s = idle_s
        self._sessions: dict[int, ActatekSession] = {}

    def issue(self, username: str, level: str, credential_version: int) -> ActatekSession:
        """A new session, valid while the account stays at `credential_version`."""
        self._purge()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.last_used)
            del self._sessions[oldest.id]
        session_id = 0
        while session_id == 0 or session_id in self._sessions:
            session_id = secrets.randbits(63)
        now = self._clock.monotonic()
        session = ActatekSession(session_id, username, level, now, now, credential_version)
        self._sessions[session_id] = session
        return session

    def check(self, raw: str) -> ActatekSession:
        """The live session named by `raw` (refreshed), or ActatekError."""
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:  # "²".isdigit() is True
            raise ActatekError("invalid session id")
        session = self._sessions.get(int(raw))
        now = self._clock.monotonic()
        if session is None or self._expired(session, now) or not self._current(session):
            self._sessions.pop(int(raw), None)
            raise ActatekError("invalid or expired session")
        session.last_used = now
        return session

    def end(self, raw: str) -> None:
        session = self.check(raw)
        del self._sessions[session.id]

    def end_user(self, username: str) -> None:
        """Log a technician out everywhere (password changed, account removed)."""
        for session_id in [s.id for s in self._sessions.values() if s.username == username]:
            del self._sessions[session_id]

    def _current(self, session: ActatekSession) -> bool:
        version = self._accounts.technician_credential_version(session.username)
        return version == session.credential_version

    def _expired(self, session: ActatekSession, now: float) -> bool:
        return now - session.last_used > self._idle_s or now - session.created > SESSION_ABSOLUTE_S

    def _purge(self) -> None:
        now = self._clock.monotonic()
        for session_id in [s.id for s in self._sessions.values() if self._expired(s, now)]:
            del self._sessions[session_id]

    def count(self) -> int:
        return len(self._sessions)


# -- what handlers may use of the running gateway ---------------------------------------


@dataclass(frozen=True)
class ManagementContext:
    """What the management API works with, handed over by the composition root.

    The records and settings it manages (`stores`, `journal`, `terminal`, `forwarder`), the
    batch each request's rules changes run in (`rule_changes`, `gateway.web.rules_in_force`),
    and the daemon's services behind their protocols (`gateway.web.services`); the methods
    below are the services' calls that handlers make most."""

    settings: Settings
    clock: Clock
    stores: Stores  # handlers take the narrow store they need: users, organisation...
    journal: EventJournal
    doors: Mapping[str, DoorController]
    # Logs, time and terminal functions (sections 2, 10, 11) and agents (section 9).
    terminal: TerminalFunctions
    forwarder: Forwarder
    events: EventLog
    accounts: Accounts
    rule_changes: RulesInForce

    def emit(self, event: Event) -> None:
        self.events.emit(event)

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None:
        return await self.accounts.verify_login(username, password)

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        self.events.record_api(reason, username, detail)

    async def flush_journal(self) -> None:
        await self.events.flush()


SESSIONS = web.AppKey("actatek_sessions", ActatekSessions)
CONTEXT = web.AppKey("actatek_context", ManagementContext)
SESSION_KEY = web.RequestKey("actatek_session", ActatekSession)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(capability: str | None) -> Callable[[Handler], Handler]:
    """Decorate a handler: the `{sessionid}` in its path must name a live session whose
    role has `capability` (None: any logged-in session)."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            session = request.app[SESSIONS].check(request.match_info.get("sessionid", ""))
            if capability is not None and not session.may(capability):
                raise ActatekError(f"{session.level} may not do this")
            request[SESSION_KEY] = session
            return await handler(request)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return wrap


def session_of(request: web.Request) -> ActatekSession:
    session: ActatekSession = request[SESSION_KEY]
    return session


def context_of(request: web.Request) -> ManagementContext:
    return request.app[CONTEXT]


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


# -- strict input -----------------------------------------------------------------------


async def read_json(request: web.Request, max_bytes: int = SMALL_BODY_BYTES) -> Any:
    """The body as strict JSON (gateway.web.strictjson), at most `max_bytes`."""
    try:
        return await read_strict_json(request, max_bytes)
    except BodyRejected as exc:
        raise ActatekError(exc.message, exc.status) from exc


def one_or_many(body: Any) -> tuple[list[Mapping[str, Any]], bool]:
    """The reference's "single object or array form": (objects, was_array)."""
    if isinstance(body, dict):
        return [body], False
    if isinstance(body, list) and body and all(isinstance(item, dict) for item in body):
        if len(body) > 10_000:
            raise ActatekError("at most 10000 objects in one request")
        return list(body), True
    raise ActatekError("expected a JSON object or a non-empty array of objects")


def text(
    obj: Mapping[str, Any], name: str, max_len: int = 64, required: bool = False
) -> str | None:
    """A string field of at most `max_len` characters (no control characters)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if not isinstance(value, str) or len(value) > max_len or not value.isprintable():
        raise ActatekError(f"{name}: expected text of at most {max_len} characters")
    return value


def integer(
    obj: Mapping[str, Any], name: str, low: int, high: int, required: bool = False
) -> int | None:
    """An integer field within [low, high] (booleans and floats are refused)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ActatekError(f"{name}: expected a whole number from {low} to {high}")
    return value


def boolean(obj: Mapping[str, Any], name: str, required: bool = False) -> bool | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if not isinstance(value, bool):
        raise ActatekError(f"{name}: expected true or false")
    return value


def integers(
    obj: Mapping[str, Any], name: str, low: int, high: int, max_items: int = 64
) -> list[int] | None:
    """An integer or an array of integers (the reference allows both)."""
    value = obj.get(name)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if len(items) > max_items:
        raise ActatekError(f"{name}: at most {max_items} values")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            raise ActatekError(f"{name}: expected whole numbers from {low} to {high}")
    return list(items)


def path_int(request: web.Request, name: str, low: int, high: int) -> int:
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not low <= int(raw) <= high:
        raise ActatekError(f"{name}: expected a whole number from {low} to {high}")
    return int(raw)


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
