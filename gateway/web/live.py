"""Live events: `GET /api/v1/events/stream` (Server-Sent Events) and the decision trace
`GET /api/v1/events/{seq}` (docs/api.md).

A stream is authorised as the events route is (capability `logs`, a bearer token or the
status page's cookie) and shows each event exactly as that route does. Each message's
`id:` is the journal seq. It starts after `Last-Event-ID` (the header a browser's
EventSource sends when it reconnects), else after `?after=SEQ`, else with the next event;
it subscribes before reading the journal from that seq, so a reconnect loses nothing and
repeats nothing (`gateway.event_feed`). Filters: `door`, `reader`, `user`, and `result`
(`granted` or `denied`).

The daemon's side is bounded: at most `max_streams` open at once (503 beyond), each with
a queue of `max_queued` events; a client that falls that far behind gets a final
`dropped` message and is closed (its EventSource comes back from its last id). A comment
every `heartbeat_s` keeps proxies and phones from timing the stream out, and a hung-up
client is noticed within `poll_s`. A stream lives only as long as its session: a logout,
a password or level change, or the session's expiry ends it (`session_ended`) within
`session_check_s`; an open stream does not count as use of its session (it is the
page's script, not a person), so an unattended page reaches idle expiry. On stop every
stream gets a `stopping` message and ends before the web server waits for handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from gateway.model import StoredEvent
from gateway.web import api, roles
from gateway.web.common import BadRequest, error
from gateway.web.services import EventLog, EventSubscription
from gateway.web.trace import decision_trace

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/events/stream"
EVENT_PATH = "/api/v1/events/{seq}"
CATCH_UP_PAGE = 500  # journal rows per read while a stream catches up
MAX_FILTER_CHARS = 64  # as long as a door, reader or user name may be
RESULTS = {"granted": True, "denied": False}


@dataclass(frozen=True)
class StreamLimits:
    """The daemon's side of the event streams (docs/api.md, "Live events")."""

    max_streams: int = 32
    max_queued: int = 1000  # events waiting for one client before it is dropped
    heartbeat_s: float = 15.0
    poll_s: float = 1.0  # how soon a client's hang-up frees its place
    session_check_s: float = 5.0  # how soon a logout or an expired session ends a stream
    write_timeout_s: float = 10.0  # a client that takes no bytes for this long is dropped
    retry_ms: int = 3000  # what the client waits before it reconnects
    busy_retry_after_s: int = 5  # the 503's Retry-After


@dataclass(frozen=True)
class EventFilter:
    """Which events a stream shows (None: any)."""

    door: str | None = None
    reader: str | None = None
    user: str | None = None
    granted: bool | None = None

    def matches(self, event: StoredEvent) -> bool:
        if self.granted is not None and event.granted is not self.granted:
            return False
        return (
            (self.door is None or event.door == self.door)
            and (self.reader is None or event.reader == self.reader)
            and (self.user is None or event.user_id == self.user)
        )


class OpenStreams:
    """The streams open on this server: the cap, and their end on stop."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._open: dict[EventSubscription, web.Request] = {}

    @property
    def full(self) -> bool:
        return len(self._open) >= self.limits.max_streams

    def add(self, subscription: EventSubscription, request: web.Request) -> None:
        self._open[subscription] = request

    def remove(self, subscription: EventSubscription) -> None:
        self._open.pop(subscription, None)

    def end_all(self) -> None:
        """Tell every stream to say goodbye and end; a client that reads nothing (its
        bytes still waiting) cannot hear it, so its connection is closed at once."""
        for subscription, request in list(self._open.items()):
            subscription.end()
            transport = request.transport
            if transport is not None and transport.get_write_buffer_size() > 0:
                transport.abort()


STREAMS = web.AppKey("event_streams", OpenStreams)


def event_filter(request: web.Request) -> EventFilter:
    """The stream's filters from its query; BadRequest when one is malformed."""
    names: dict[str, str | None] = {}
    for name in ("door", "reader", "user"):
        value = request.query.get(name) or None
        if value is not None and len(value) > MAX_FILTER_CHARS:
            raise BadRequest(f"{name}: at most {MAX_FILTER_CHARS} characters")
        names[name] = value
    result = request.query.get("result") or None
    if result is not None and result not in RESULTS:
        raise BadRequest("result: expected granted or denied")
    return EventFilter(
        names["door"], names["reader"], names["user"], None if result is None else RESULTS[result]
    )


def resume_point(request: web.Request) -> int | None:
    """The seq to start after: `Last-Event-ID` (a reconnect), else `?after`, else None."""
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        return _seq("Last-Event-ID", header.strip())
    after = request.query.get("after")
    return None if after is None else _seq("after", after)


def _seq(name: str, raw: str) -> int:
    # isascii: str.isdigit() also accepts digits like "²" that int() refuses
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise BadRequest(f"{name}: expected a journal seq (a whole number)")
    return int(raw)


def sse_message(event: StoredEvent) -> bytes:
    """One journal event as an SSE message (JSON has no raw newline: one `data:` line)."""
    return f"id: {event.seq}\ndata: {json.dumps(event.as_dict())}\n\n".encode()


def control_message(name: str, detail: dict[str, object]) -> bytes:
    """A message of its own type (`dropped`, `stopping`), without an id."""
    return f"event: {name}\ndata: {json.dumps(detail)}\n\n".encode()


class _Stream:
    """One open stream: what was sent, and writing to the client."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, limits: StreamLimits
    ) -> None:
        self.request, self.response, self.limits = request, response, limits
        self.cursor = 0  # the highest seq handled (sent, or left out by the filter)
        self._last_write = self._last_session_check = asyncio.get_running_loop().time()

    async def write(self, data: bytes) -> None:
        await asyncio.wait_for(self.response.write(data), self.limits.write_timeout_s)
        self._last_write = asyncio.get_running_loop().time()

    async def send(self, events: list[StoredEvent], wanted: EventFilter) -> None:
        """The events not handled yet, those the filter keeps, in one write."""
        chunk = bytearray()
        for event in events:
            if event.seq <= self.cursor:
                continue  # came through the journal read and the feed both
            self.cursor = event.seq
            if wanted.matches(event):
                chunk += sse_message(event)
        if chunk:
            await self.write(bytes(chunk))

    async def heartbeat_if_quiet(self) -> None:
        if asyncio.get_running_loop().time() - self._last_write >= self.limits.heartbeat_s:
            await self.write(b": heartbeat\n\n")

    def session_ended(self) -> bool:
        """Whether the session that opened the stream has ended (looked at every
        `session_check_s`: a check reads the account's credential version)."""
        now = asyncio.get_running_loop().time()
        if now - self._last_session_check < self.limits.session_check_s:
            return False
        self._last_session_check = now
        # touch=False: the stream is the page's script, not a person; an unattended page
        # must still reach idle expiry (as the dashboard's refresh does).
        tokens = self.request.app[api.TOKENS]
        return tokens.check(self.request[api.TOKEN_KEY], touch=False) is None

    @property
    def client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


async def stream(request: web.Request) -> web.StreamResponse:
    """`GET /api/v1/events/stream`: see the module docstring."""
    try:
        wanted = event_filter(request)
        after = resume_point(request)
    except BadRequest as exc:
        return error(400, str(exc))
    streams = request.app[STREAMS]
    if streams.full:
        refused = error(503, f"{streams.limits.max_streams} event streams are open; try later")
        refused.headers["Retry-After"] = str(streams.limits.busy_retry_after_s)
        return refused
    events = request.app[api.EVENTS]
    subscription = events.subscribe(streams.limits.max_queued)  # before the journal read
    streams.add(subscription, request)
    try:
        return await _serve(request, events, subscription, wanted, after, streams.limits)
    finally:
        streams.remove(subscription)
        subscription.close()


async def _serve(
    request: web.Request,
    events: EventLog,
    subscription: EventSubscription,
    wanted: EventFilter,
    after: int | None,
    limits: StreamLimits,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a reverse proxy must not hold messages back
        }
    )
    await response.prepare(request)
    sent = _Stream(request, response, limits)
    # An id above every durable seq came from another journal (a reinstall): from now.
    sent.cursor = events.last_seq() if after is None else min(after, events.last_seq())
    try:
        await sent.write(f"retry: {limits.retry_ms}\n\n".encode())
        await _catch_up(events, sent, wanted)
        await _follow(subscription, sent, wanted)
    except (ConnectionError, TimeoutError):
        pass  # the client went, or takes nothing: its place is given back
    return response


async def _catch_up(events: EventLog, sent: _Stream, wanted: EventFilter) -> None:
    """What the journal holds after the stream's start, page by page."""
    while True:
        rows = await events.read_events(sent.cursor, CATCH_UP_PAGE)
        await sent.send(rows, wanted)
        if len(rows) < CATCH_UP_PAGE:
            return


async def _follow(subscription: EventSubscription, sent: _Stream, wanted: EventFilter) -> None:
    """New events as the feed hands them over, until the client goes or must go."""
    limits = sent.limits
    while not sent.client_gone:
        batch = await subscription.take(min(limits.poll_s, limits.heartbeat_s))
        await sent.send(batch, wanted)
        if subscription.overflowed:
            detail = {"reason": "too_slow", "last_seq": sent.cursor, "queued": limits.max_queued}
            await sent.write(control_message("dropped", detail))
            return
        if subscription.ended:
            await sent.write(control_message("stopping", {"last_seq": sent.cursor}))
            return
        if sent.session_ended():
            await sent.write(control_message("session_ended", {"last_seq": sent.cursor}))
            return
        await sent.heartbeat_if_quiet()


async def event_with_trace(request: web.Request) -> web.Response:
    """`GET /api/v1/events/{seq}`: one event and its decision trace."""
    raw = request.match_info["seq"]
    seq = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else 0
    event = await find_event(request.app[api.EVENTS], seq)
    if event is None:
        return error(404, "no such event in the journal (never made, or dropped by retention)")
    return web.json_response({"event": event.as_dict(), "trace": decision_trace(event).as_dict()})


async def find_event(events: EventLog, seq: int) -> StoredEvent | None:
    """The journal row `seq`, or None."""
    if seq < 1:
        return None
    rows = await events.read_events(seq - 1, 1)
    return rows[0] if rows and rows[0].seq == seq else None


async def _end_streams(app: web.Application) -> None:
    app[STREAMS].end_all()


ROUTES = (
    roles.NativeRoute("GET", STREAM_PATH, stream, roles.needs("logs")),
    roles.NativeRoute("GET", EVENT_PATH, event_with_trace, roles.needs("logs")),
)


def add_routes(app: web.Application, limits: StreamLimits | None = None) -> None:
    """The live event routes, their limits, and their end when the server stops."""
    app[STREAMS] = OpenStreams(limits or StreamLimits())
    roles.add_native_routes(app, ROUTES)
    app.on_shutdown.append(_end_streams)
