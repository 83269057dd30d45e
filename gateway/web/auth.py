"""Bearer tokens for the native API: random, with idle and absolute expiry."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from gateway.clock import Clock

ABSOLUTE_LIFETIME_S = 12 * 3600.0


@dataclass
class Session:
    username: str
    level: str
    created: float
    last_used: float


class TokenStore:
    """In-memory sessions; a restart logs every technician out, which is the safe default."""

    def __init__(self, clock: Clock, idle_s: float) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._sessions: dict[str, Session] = {}

    def issue(self, username: str, level: str) -> str:
        """A new unguessable token for `username`."""
        self._purge()
        token = secrets.token_urlsafe(32)
        now = self._clock.monotonic()
        self._sessions[token] = Session(username, level, now, now)
        return token

    def check(self, token: str) -> Session | None:
        """The live session for `token`, refreshed; None when unknown or expired."""
        now = self._clock.monotonic()
        for known, session in self._sessions.items():
            if hmac.compare_digest(known, token):
                expired = (
                    now - session.last_used > self._idle_s
                    or now - session.created > ABSOLUTE_LIFETIME_S
                )
                if expired:
                    del self._sessions[known]
                    return None
                session.last_used = now
                return session
        return None

    def _purge(self) -> None:
        now = self._clock.monotonic()
        stale = [t for t, s in self._sessions.items() if now - s.last_used > self._idle_s]
        for token in stale:
            del self._sessions[token]

    def count(self) -> int:
        return len(self._sessions)
