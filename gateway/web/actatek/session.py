"""ACTAtek sessions and roles: who is logged in, and what each role may do.

Every endpoint but login and apiversion names its session in the path; `endpoint` checks it
and the role's capability before the handler runs (`session_of` then gives the session).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.clock import Clock
from gateway.web.actatek.answers import ActatekError, Handler
from gateway.web.auth import CredentialVersions

SESSION_IDLE_S = 30 * 60.0
SESSION_ABSOLUTE_S = 12 * 3600.0
MAX_SESSIONS = 1000  # a client logging in in a loop cannot fill the memory

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


SESSIONS = web.AppKey("actatek_sessions", ActatekSessions)
SESSION_KEY = web.RequestKey("actatek_session", ActatekSession)


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
