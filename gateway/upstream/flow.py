"""What happens to a credential the local cache has never heard of: the upstream flow.

The pipeline calls `UpstreamFlow.decide_miss` only when the engine said
`unknown_credential` and `wants(credential)` holds, so local decisions never wait for
the network. In order:

1. the door's auth mode: a PIN at a card-only door (or the reverse) is refused at once;
   a `card+pin` / `pin+card` door runs the two-step exchange below;
2. the grant cache (optional): a repeat visitor is granted without asking;
3. the circuit breaker: while the server is known to be down the door's
   `offline_policy` decides at once (source "policy");
4. the verify request (`VerifyClient`), whose answer decides (source "upstream").

Two-factor (customize mode only), following the reference's field table: step 1 sends the
first factor with `{Token}` = that credential and `{Type}` = 1 (card+pin) or 2 (pin+card);
a denial ends it, a grant leaves the door waiting (`final=False`,
`awaiting_second_factor`) for `[access] two_factor_timeout_s` on the monotonic clock; step 2
sends the second factor with the same `{Type}` and the same random `{Session}`; only its
grant opens.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.cardnumbers import to_display
from gateway.clock import Clock, Instant
from gateway.model import Credential, Decision, DecisionSource
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings, UpstreamSettings
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.cache import GrantCache
from gateway.upstream.template import (
    TWO_FACTOR_TYPES,
    VerifyRequest,
    format_time,
    server_origin,
)
from gateway.upstream.verify import VerifyClient, VerifyResult

log = logging.getLogger(__name__)


class Verifier(Protocol):
    """What the flow needs from a verify client (`VerifyClient`, or a test double)."""

    async def verify(self, request: VerifyRequest) -> VerifyResult: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PendingUpstream:
    """A first factor the server accepted at a two-factor door, waiting for the second."""

    session: str
    kind: str
    reader: str
    time: float  # monotonic seconds of the first factor (a duration runs from it)


@dataclass(frozen=True)
class VerifyStep:
    """Which request of an exchange this is: 0 = single factor, 1/2 = two-factor steps."""

    number: int = 0
    type: str = ""
    session: str = ""


@dataclass
class _Outcome:
    """One step's verdict before it becomes a Decision."""

    granted: bool
    reason: str
    source: DecisionSource
    trace: list[str] = field(default_factory=list)
    message: str = ""


def _new_session() -> str:
    return secrets.token_hex(8)


class UpstreamFlow:
    """Decides misses through the upstream server; see the module docstring."""

    def __init__(
        self,
        settings: UpstreamSettings,
        access: AccessSettings,
        tz: ZoneInfo,
        clock: Clock,
        pin_hash: Callable[[str], str] | None = None,
        client: Verifier | None = None,
        new_session: Callable[[], str] = _new_session,
    ) -> None:
        self._settings = settings
        self._two_factor_timeout_s = access.two_factor_timeout_s
        self._tz = tz
        self._clock = clock
        self._client: Verifier = client if client is not None else VerifyClient(settings)
        self._new_session = new_session
        self.breaker = CircuitBreaker(
            settings.breaker_failures,
            settings.breaker_open_s,
            settings.breaker_max_open_s,
            clock.monotonic,
        )
        self.cache = GrantCache(
            settings.cache_grants_s, settings.cache_max_entries, clock.monotonic, pin_hash
        )
        self._pending: dict[str, PendingUpstream] = {}
        self._last: dict[str, Any] | None = None

    # -- what the pipeline asks -------------------------------------------------------------

    def wants(self, credential: Credential) -> bool:
        """True when a miss of this credential goes upstream (url set, kind in methods;
        general mode: QR codes only, as the reference's General integration)."""
        settings = self._settings
        if not settings.url or credential.kind not in settings.methods:
            return False
        return settings.mode == "customize" or credential.kind == "qr"

    def expects_second_factor(self, door: str, now: Instant) -> bool:
        """True while an upstream first factor waits at `door` (the pipeline then sends the
        second factor here even if the engine knows it: its first factor was upstream)."""
        pending = self._pending.get(door)
        return pending is not None and now.mono - pending.time <= self._two_factor_timeout_s

    def cancel_pending(self, door: str) -> None:
        """Forget an upstream first factor (e.g. a local first factor replaced it)."""
        self._pending.pop(door, None)

    async def decide_miss(
        self, credential: Credential, door: DoorSettings, reader: ReaderSettings, now: Instant
    ) -> Decision:
        """Decide a credential unknown to the local cache. Never raises (bar cancellation)."""
        if not self.wants(credential):
            return _decision(_Outcome(False, "unknown_credential", "policy", ["upstream:not_used"]))
        try:
            if door.auth_mode in TWO_FACTOR_TYPES:
                decision = await self._two_factor(credential, door, reader, now)
            else:
                decision = await self._single(credential, door, reader, now)
        except Exception:  # a bug here must deny, not crash the pipeline
            log.exception("upstream flow failed; denying")
            decision = _decision(_Outcome(False, "upstream_error", "policy", ["upstream:error"]))
        # When, too: the status page tells a technician how long ago the server answered.
        self._last = {
            "door": door.name,
            "reason": decision.reason,
            "source": decision.source,
            "time": now.wall,
        }
        return decision

    # -- single factor ----------------------------------------------------------------------

    async def _single(
        self, credential: Credential, door: DoorSettings, reader: ReaderSettings, now: Instant
    ) -> Decision:
        mode, kind = door.auth_mode, credential.kind
        if (mode == "card" and kind == "pin") or (mode == "pin" and kind != "pin"):
            # Asking would be pointless: even a grant could not open this door.
            return _decision(_Outcome(False, "auth_mode", "policy", [f"auth_mode:{mode},{kind}"]))
        cached = self.cache.get(credential, door.name)
        if cached is not None:
            return _decision(_Outcome(True, "granted", "upstream", ["cache:hit"], cached.message))
        outcome = await self._ask(credential, door, reader, now, VerifyStep())
        if outcome.granted and outcome.source == "upstream":
            self.cache.put(credential, door.name, outcome.message)
        return _decision(outcome)

    # -- two factors ------------------------------------------------------------------------

    async def _two_factor(
        self, credential: Credential, door: DoorSettings, reader: ReaderSettings, now: Instant
    ) -> Decision:
        mode = door.auth_mode
        trace = [f"upstream:two_factor,{mode}"]
        if self._settings.mode == "general":
            # General integration has no two-factor exchange: a QR grant alone must not
            # open a door that wants two factors.
            return _decision(_Outcome(False, "auth_mode", "policy", [*trace, "general_mode"]))
        is_first = (credential.kind == "pin") == (mode == "pin+card")
        pending = self._pending.pop(door.name, None)
        expired = pending is not None and now.mono - pending.time > self._two_factor_timeout_s
        if expired:
            trace.append("first_factor_expired")
            pending = None
        if is_first:
            return await self._first_step(credential, door, reader, now, trace)
        if pending is None:
            reason = "second_factor_timeout" if expired else "auth_mode"
            return _decision(_Outcome(False, reason, "policy", [*trace, "no_first_factor"]))
        step = VerifyStep(2, TWO_FACTOR_TYPES[mode], pending.session)
        outcome = await self._ask(credential, door, reader, now, step)
        outcome.trace[:0] = [*trace, f"step:2,first={pending.kind}@{pending.reader}"]
        return _decision(outcome)

    async def _first_step(
        self,
        credential: Credential,
        door: DoorSettings,
        reader: ReaderSettings,
        now: Instant,
        trace: list[str],
    ) -> Decision:
        # A first factor always (re)starts the exchange, as in the engine: the latest
        # person at the door is the one about to give the second factor.
        step = VerifyStep(1, TWO_FACTOR_TYPES[door.auth_mode], self._new_session())
        outcome = await self._ask(credential, door, reader, now, step)
        outcome.trace[:0] = [*trace, "step:1"]
        if not outcome.granted:
            return _decision(outcome)
        self._pending[door.name] = PendingUpstream(
            step.session, credential.kind, credential.reader, now.mono
        )
        outcome.trace.append("awaiting_second_factor")
        return _decision(outcome, reason="awaiting_second_factor", final=False)

    # -- one request ------------------------------------------------------------------------

    async def _ask(
        self,
        credential: Credential,
        door: DoorSettings,
        reader: ReaderSettings,
        now: Instant,
        step: VerifyStep,
    ) -> _Outcome:
        """One step: breaker, then the request; or the offline policy when it is open."""
        value = _sent_value(credential, reader)
        if value is None:
            fmt = reader.card_display_format
            trace = [f"upstream:card_format,{fmt}_cannot_show_{credential.value}"]
            return _Outcome(False, "upstream_card_format", "policy", trace)
        admission = self.breaker.admit()
        if admission == "reject":
            return _offline(door)
        request = VerifyRequest(
            kind=credential.kind,
            value=value,
            device_id=self._settings.device_id,
            time=format_time(now.wall, self._tz, self._settings.time_format),
            step=step.number,
            two_factor_type=step.type,
            session=step.session,
        )
        try:
            result = await self._client.verify(request)
        except BaseException:
            self.breaker.abandon(admission)
            raise
        self.breaker.record(admission, not result.failure, result.latency_s, result.reason)
        trace = ["breaker:probe"] if admission == "probe" else []
        trace += [f"upstream:GET {result.target}", f"upstream:{result.detail}"]
        return _Outcome(result.granted, result.reason, "upstream", trace, result.message)

    # -- status and shutdown ----------------------------------------------------------------

    def status(self, now: Instant | None = None) -> dict[str, Any]:
        """Plain-dict status: configuration, breaker, cache, doors waiting for a factor."""
        mono = (Instant.read(self._clock) if now is None else now).mono
        timeout = self._two_factor_timeout_s
        waiting = {
            door: round(p.time + timeout - mono, 1)
            for door, p in sorted(self._pending.items())
            if mono - p.time <= timeout
        }
        return {
            "configured": bool(self._settings.url),
            "server": server_origin(self._settings.url),
            "mode": self._settings.mode,
            "methods": list(self._settings.methods),
            "breaker": self.breaker.status(),
            "cache": self.cache.status(),
            "awaiting_second_factor": waiting,
            "last_decision": self._last,
        }

    async def close(self) -> None:
        """Close the HTTP client (its connection pool)."""
        await self._client.close()


def _sent_value(credential: Credential, reader: ReaderSettings) -> str | None:
    """The value as the server knows it: a card in the reader's display format.

    None when the card cannot be shown in that format (e.g. 8HN needs 4 bytes): sending
    the canonical hex instead could match a different card's number on the server.
    """
    fmt = reader.card_display_format
    if credential.kind != "card" or not fmt:
        return credential.value
    try:
        return to_display(credential.value, fmt)
    except ValueError:
        return None


def _offline(door: DoorSettings) -> _Outcome:
    """The door's offline policy, used while the breaker is open."""
    if door.offline_policy == "grant":
        return _Outcome(True, "offline_grant", "policy", ["breaker:open", "policy:grant"])
    return _Outcome(False, "upstream_offline", "policy", ["breaker:open", "policy:deny"])


def _decision(outcome: _Outcome, reason: str | None = None, final: bool = True) -> Decision:
    """The Decision for an outcome; the server's prompt text becomes a note."""
    reason = reason or outcome.reason
    notes = (f"upstream_message={outcome.message}",) if outcome.message else ()
    trace = (*outcome.trace, reason) if outcome.trace[-1:] != [reason] else tuple(outcome.trace)
    return Decision(
        granted=outcome.granted and final,
        reason=reason,
        user_id=None,  # the reference's answer names no user
        source=outcome.source,
        trace=trace,
        final=final,
        notes=notes,
    )
