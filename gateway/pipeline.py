"""From reader input to an open door: the collector, the engine, the door, feedback and the
journal, in that order. The decision itself reads only memory; disk writes come after the
door has moved. Only a credential the cache has never seen goes to the upstream server,
as a task of its own, so no other reader waits for it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.access.collector import PinCollector
from gateway.access.engine import AccessEngine
from gateway.clock import Clock, Instant
from gateway.doors.controller import DoorController
from gateway.doors.grants import as_door_allows, move_door
from gateway.feedback import ReaderFeedback
from gateway.model import Credential, Decision, Event
from gateway.settings import ReaderSettings, Settings
from gateway.upstream.antipassback import AntiPassbackNotifier
from gateway.upstream.flow import UpstreamFlow
from gateway.upstream.http import client_ssl

log = logging.getLogger(__name__)

FEEDBACK_DENY_S = 1.0
# The PIN expiry timer fires this long after the deadline: a key exactly at the deadline
# still counts, and an event loop may run a timer a clock tick early.
PIN_EXPIRY_SLACK_S = 0.05


@dataclass(frozen=True)
class Upstream:
    """The optional network side of decisions: verify on a miss, anti-passback URLs."""

    flow: UpstreamFlow | None = None
    apb: AntiPassbackNotifier | None = None

    async def close(self) -> None:
        """Close the verify client, then let anti-passback requests in flight finish
        (briefly) and close their client."""
        if self.flow is not None:
            await self.flow.close()
        if self.apb is not None:
            await self.apb.close()


def build_upstream(
    settings: Settings,
    tz: ZoneInfo,
    clock: Clock,
    pin_hash: Callable[[str], str],
    emit: Callable[[Event], None],
) -> Upstream:
    """Verify-on-miss when `[upstream] url` is set; anti-passback URLs when any reader has
    some. A bad CA file stops start-up here, not at the first card."""
    up = settings.upstream
    flow = UpstreamFlow(up, settings.access, tz, clock, pin_hash) if up.url else None
    apb = None
    if any(r.apb_urls for r in settings.readers):
        apb = AntiPassbackNotifier(emit, clock, ssl_setting=client_ssl(up.verify_tls, up.ca_file))
    return Upstream(flow, apb)


# Called after a final grant, once the door moved (`gateway.grant_actions.AfterGrant`):
# the reader, the credential, the decision and the user's name. Must return at once.
AfterGrantHook = Callable[[ReaderSettings, Credential, Decision, str], None]


class StoreFirst(Protocol):
    """While the rules cache is `loading` (start-up), what reads a credential from the store
    before it is decided (`gateway.rules_reload.StoreLookups`)."""

    @property
    def loading(self) -> bool: ...

    async def read_first(self, credential: Credential) -> None: ...


class AccessPipeline:
    """The sink every reader delivers to (see `gateway.hw.readers.ReaderSink`)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        engine: AccessEngine,
        readers: Mapping[str, ReaderSettings],
        doors: Mapping[str, DoorController],
        feedback: Mapping[str, ReaderFeedback],
        emit: Callable[[Event], None],
        state_changed: Callable[[], None],
        engine_two_factor_timeout_s: float = 15.0,
        upstream: Upstream | None = None,
        store_first: StoreFirst | None = None,
        after_grant: AfterGrantHook | None = None,
    ) -> None:
        self._loop, self._clock, self._engine = loop, clock, engine
        self._after_grant = after_grant
        self._store_first = store_first
        self._readers, self._doors, self._feedback = readers, doors, feedback
        self._emit, self._state_changed = emit, state_changed
        self._two_factor_timeout_s = engine_two_factor_timeout_s
        self._upstream = upstream or Upstream()
        self._asking: set[asyncio.Task[None]] = set()
        # Per reader, the last credential decided after a store read: the next one from that
        # reader is decided after it, so the journal keeps the order they were presented in.
        self._store_reads: dict[str, asyncio.Task[None]] = {}
        self._collectors = {
            name: PinCollector(name, r.pin_timeout_s) for name, r in readers.items()
        }
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self.last_decision: dict[str, Any] | None = None

    def key(self, reader: str, key: str, timestamp: float) -> None:
        """A key press from a keypad: collect it, and decide when a PIN is complete.

        `timestamp` is the reader's wall time of the key (it stamps the PIN credential); the
        digit timeout is a duration, measured on the monotonic clock read here."""
        collector = self._collectors.get(reader)
        if collector is None:
            return
        credential = collector.press(key, Instant(timestamp, self._clock.monotonic()))
        self._schedule_expiry(reader, collector)
        if credential is not None:
            self.credential(credential)

    def _schedule_expiry(self, reader: str, collector: PinCollector) -> None:
        timer = self._expiry.pop(reader, None)
        if timer is not None:
            timer.cancel()
        deadline = collector.deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self._clock.monotonic()) + PIN_EXPIRY_SLACK_S
            self._expiry[reader] = self._loop.call_later(
                delay, lambda: collector.expire(self._clock.monotonic())
            )

    def credential(self, credential: Credential) -> None:
        """Decide, act, then record. Never raises: a failure denies and is logged."""
        started = time.perf_counter()
        reader = self._readers.get(credential.reader)
        if reader is None:
            log.error("credential from unknown reader %s", credential.reader)
            return
        door = self._doors[reader.door]
        now = Instant.read(self._clock)
        before = self._store_reads.get(reader.name)
        if self._store_first is not None and (self._store_first.loading or before is not None):
            work = self._decide_from_store(credential, reader, door, now, started, before)
            self._queue_store_read(reader.name, work)
            return
        self._decide(credential, reader, door, now, started)

    def _queue_store_read(self, reader: str, work: Coroutine[Any, Any, None]) -> None:
        task = self._start_task(work)
        self._store_reads[reader] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._store_reads.get(reader) is finished:
                del self._store_reads[reader]

        task.add_done_callback(done)

    def _decide(
        self,
        credential: Credential,
        reader: ReaderSettings,
        door: DoorController,
        now: Instant,
        started: float,
    ) -> None:
        try:
            decision = self._engine.decide(credential, door.name, now, door.grant_refusal)
        except Exception:
            log.exception("access engine failed; denying")
            decision = Decision(False, "internal_error", None, "policy", ("engine:error",))
        if self._goes_upstream(credential, door.name, decision, now):
            self._ask_upstream(credential, reader, door, now, started)
            return
        self._finish(credential, reader, door, decision, started)

    def _goes_upstream(
        self, credential: Credential, door: str, decision: Decision, now: Instant
    ) -> bool:
        """Only what the cache has never seen, or the second factor of an upstream first."""
        flow = self._upstream.flow
        if flow is None:
            return False
        if decision.reason == "awaiting_second_factor":
            flow.cancel_pending(door)  # a local first factor replaces an upstream one
            return False
        if not flow.wants(credential):
            return False
        if decision.reason == "unknown_credential":
            return True
        return decision.reason == "auth_mode" and flow.expects_second_factor(door, now)

    def _ask_upstream(
        self,
        credential: Credential,
        reader: ReaderSettings,
        door: DoorController,
        now: Instant,
        started: float,
    ) -> None:
        feedback = self._feedback.get(reader.name)
        if feedback is not None:
            feedback.show_waiting(self._two_factor_timeout_s)
        self._start_task(self._upstream_decision(credential, reader, door, now, started))

    def _start_task(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(work)
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)
        return task

    async def _decide_from_store(
        self,
        credential: Credential,
        reader: ReaderSettings,
        door: DoorController,
        now: Instant,
        started: float,
        before: asyncio.Task[None] | None,
    ) -> None:
        """The rules are still loading: read the credential from the store, then decide
        once the reader's previous credential is decided; a store that fails or is too slow
        refuses (the door stays shut)."""
        assert self._store_first is not None
        try:
            refusal = await self._read_first(credential)
            if before is not None:
                await asyncio.wait({before})
        except asyncio.CancelledError:
            decision = Decision(False, "shutdown", None, "policy", ("rules:loading,cancelled",))
            self._finish(credential, reader, door, decision, started)
            raise
        if refusal is not None:
            self._finish(credential, reader, door, refusal, started)
        else:
            self._decide(credential, reader, door, now, started)

    async def _read_first(self, credential: Credential) -> Decision | None:
        """Read `credential` from the store while the rules load; the refusal if it fails."""
        assert self._store_first is not None
        if not self._store_first.loading:
            return None
        try:
            await self._store_first.read_first(credential)
        except Exception:
            log.warning("rules loading and the store did not answer; denying", exc_info=True)
            return Decision(
                False, "rules_loading", None, "policy", ("rules:loading,store_unavailable",)
            )
        return None

    async def _upstream_decision(
        self,
        credential: Credential,
        reader: ReaderSettings,
        door: DoorController,
        now: Instant,
        started: float,
    ) -> None:
        flow = self._upstream.flow
        assert flow is not None
        try:
            decision = await flow.decide_miss(credential, door.settings, reader, now)
        except asyncio.CancelledError:
            # Stopping with the question open: the presentation is still journaled, denied.
            decision = Decision(False, "shutdown", None, "upstream", ("upstream:cancelled",))
            self._finish(credential, reader, door, decision, started)
            raise
        except Exception:  # decide_miss should not raise; if it does, the door stays shut
            log.exception("upstream flow failed; denying")
            decision = Decision(False, "upstream_error", None, "upstream", ("upstream:error",))
        self._finish(credential, reader, door, decision, started)

    def _finish(
        self,
        credential: Credential,
        reader: ReaderSettings,
        door: DoorController,
        decision: Decision,
        started: float,
    ) -> None:
        """Journal the decision, then move the door: the cause gets the lower seq."""
        acted = as_door_allows(door, decision)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._record(credential, reader, acted, latency_ms)
        move_door(door, decision)
        self._show(reader.name, acted, door.settings.relay_pulse_s)
        if acted.granted and acted.final and self._upstream.apb is not None:
            self._upstream.apb.notify(reader, credential, self._user_name(acted.user_id))
        if acted.granted and acted.final and self._after_grant is not None:
            try:
                self._after_grant(reader, credential, acted, self._user_name(acted.user_id))
            except Exception:  # floors and web relays never break the next decision
                log.exception("after-grant actions failed")
        self._state_changed()

    def _user_name(self, user_id: str | None) -> str:
        user = self._engine.snapshot.users.get(user_id) if user_id is not None else None
        return user.name if user is not None else ""

    def _show(self, reader: str, decision: Decision, pulse_s: float) -> None:
        feedback = self._feedback.get(reader)
        if feedback is None:
            return
        if not decision.final:
            feedback.show_waiting(self._two_factor_timeout_s)
            return
        feedback.show(decision.granted, pulse_s if decision.granted else FEEDBACK_DENY_S)

    def _record(
        self, credential: Credential, reader: ReaderSettings, decision: Decision, latency: float
    ) -> None:
        event = Event(
            type="access" if decision.final else "reader",
            time=self._clock.time(),  # when decided: the door events it causes come after
            door=reader.door,
            reader=reader.name,
            user_id=decision.user_id,
            credential_kind=credential.kind,
            credential=credential.display_value,
            granted=decision.granted if decision.final else None,
            reason=decision.reason,
            source=decision.source,
            trace=decision.journal_trace,
            latency_ms=round(latency, 3),
            direction=reader.direction,
            raw=credential.raw or None,
        )
        self.last_decision = {"reader": reader.name, "reason": decision.reason}
        self._emit(event)
        for extra in self._engine.drain_events():
            self._emit(extra)

    def status(self) -> dict[str, Any]:
        return {
            "upstream_requests_in_flight": len(self._asking),
            "pending_pin_digits": {
                name: c.pending_digits for name, c in self._collectors.items() if c.pending_digits
            },
            "last_decision": self.last_decision,
        }

    async def close(self) -> None:
        """Stop collecting; an upstream question still open is dropped (the door stays shut)."""
        for task in list(self._asking):
            task.cancel()
        if self._asking:
            await asyncio.gather(*self._asking, return_exceptions=True)
        for timer in self._expiry.values():
            timer.cancel()
        self._expiry.clear()
