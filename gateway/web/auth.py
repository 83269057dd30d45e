"""Bearer tokens for the native API: random, with idle and absolute expiry."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from gateway.clock import Clock

ABSOLUTE_LIFETIME_S = 12 * 3600.0
MAX_SESSIONS = 1000  # a runaway script logging in in a loop cannot fill the memory


class CredentialVersions(Protocol):
    """Where sessions learn whether their account changed since they were opened (the
    store: `door-gateway passwd` in another process changes it too)."""

    def technician_credential_version(self, username: str) -> int | None:
        """The account's credential version; None when it is gone or disabled."""
        ...


ACCOUNTS = web.AppKey("technician_accounts", CredentialVersions)


@dataclass
class Session:
    username: str
    level: str
    created: float
    last_used: float
    # The account's credential version at login: the session ends when it moves (a new
    # password, level or state, set here or by `door-gateway passwd`).
    credential_version: int
    # A one-time password: every endpoint but the password change refuses this session.
    must_change: bool = False
    # What the status page sends back in X-CSRF-Token when the cookie authenticates it.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def _same(known: str, given: str) -> bool:
    """Constant-time equality; `given` comes from a header, so it may hold any character."""
    return hmac.compare_digest(known.encode(), given.encode("utf-8", "surrogateescape"))


class TokenStore:
    """In-memory sessions; a restart logs every technician out, which is the safe default.
    A session also ends as soon as its account's credential version moves (checked on
    each use, so a change by another process counts at the next request)."""

    def __init__(self, clock: Clock, idle_s: float, accounts: CredentialVersions) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._accounts = accounts
        self._sessions: dict[str, Session] = {}

    def issue(
        self, username: str, level: str, credential_version: int, must_change: bool = False
    ) -> str:
        """A new unguessable token (256 random bits) for `username`, valid while the
        account stays at `credential_version` (read before its password was checked)."""
        self._purge()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=lambda t: self._sessions[t].last_used)
            del self._sessions[oldest]
        token = secrets.token_urlsafe(32)
        now = self._clock.monotonic()
        self._sessions[token] = Session(username, level, now, now, credential_version, must_change)
        return token

    def check(self, token: str, touch: bool = True) -> Session | None:
        """The live session for `token`; None when unknown, expired, or its account
        changed or is gone. `touch`: this use restarts the idle time (a script's poll
        does not: an unattended page must still time out)."""
        now = self._clock.monotonic()
        for known, session in self._sessions.items():
            if _same(known, token):
                if self._expired(session, now) or not self._current(session):
                    del self._sessions[known]
                    return None
                if touch:
                    session.last_used = now
                return session
        return None

    def end(self, token: str) -> bool:
        """Log one session out; False if there was none."""
        for known in list(self._sessions):
            if _same(known, token):
                del self._sessions[known]
                return True
        return False

    def end_user(self, username: str, keep: Session | None = None) -> None:
        """Log a technician out everywhere but `keep` (their password just changed)."""
        for token, session in list(self._sessions.items()):
            if session.username == username and session is not keep:
                del self._sessions[token]

    def _current(self, session: Session) -> bool:
        version = self._accounts.technician_credential_version(session.username)
        return version == session.credential_version

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_used > self._idle_s or now - session.created > ABSOLUTE_LIFETIME_S

    def _purge(self) -> None:
        now = self._clock.monotonic()
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]

    def count(self) -> int:
        return len(self._sessions)
