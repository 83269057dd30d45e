"""Live events (`/events`) and one event's decision trace (`/events/{seq}`).

`/events` is a table of the last events, newest first, with filters (door, reader,
granted/denied, user) that are a plain GET form: without JavaScript the page is whole,
and reloading it shows what happened since. `static/events.js` then follows the live
stream (`GET /api/v1/events/stream`, `gateway.web.live`) from the newest row shown, with
the same filters, and adds rows as the journal gets them; a dropped Wi-Fi resumes from the
last id (EventSource's Last-Event-ID), so a row is never lost or shown twice.

`/events/{seq}` answers "why was this card denied?": the decisive rule, every rule
consulted, the latency, the frame the reader sent, and what the door did next.
Both need the `logs` capability, as the events API does, and show the rows as it does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.model import StoredEvent
from gateway.web import api, live
from gateway.web.common import BadRequest
from gateway.web.page.site import add_page, render
from gateway.web.services import EventLog
from gateway.web.trace import decision_trace

CAPABILITY = "logs"
SHOWN = 50  # rows the page shows (and the live table keeps)
SCAN_LIMIT = 5000  # journal rows read back at most to fill a filtered table
SCAN_PAGE = 500
FOLLOWING = 50  # journal rows after an event searched for what its door did next
FOLLOWING_SHOWN = 4


def _form_values(request: web.Request) -> dict[str, str]:
    """The filter form as the technician left it (empty: any)."""
    return {name: request.query.get(name, "") for name in ("door", "reader", "result", "user")}


async def recent(events: EventLog, wanted: live.EventFilter, count: int) -> list[StoredEvent]:
    """The newest `count` events the filter keeps, newest first (reading back at most
    SCAN_LIMIT rows: a rare filter shows fewer rather than read the whole journal)."""
    found: list[StoredEvent] = []
    upper = events.last_seq()
    scanned = 0
    while upper > 0 and len(found) < count and scanned < SCAN_LIMIT:
        lower = max(0, upper - SCAN_PAGE)
        rows = await events.read_events(lower, SCAN_PAGE)
        found += [row for row in reversed(rows) if row.seq <= upper and wanted.matches(row)]
        scanned += upper - lower
        upper = lower
    return found[:count]


async def events_page(request: web.Request) -> web.StreamResponse:
    """GET /events: the last events, filtered, and the live stream's address."""
    form = _form_values(request)
    status = request.app[api.STATUS].status()
    choices = {
        "doors": sorted(status.get("doors", {})),
        "readers": sorted(status.get("readers", {})),
    }
    try:
        wanted = live.event_filter(request)
    except BadRequest as exc:
        refused: dict[str, Any] = {"form": form, "choices": choices, "rows": [], "error": str(exc)}
        refused |= {"stream_url": "", "shown": SHOWN}
        return render(request, "events.html", refused, status=400)
    events = request.app[api.EVENTS]
    rows = await recent(events, wanted, SHOWN)
    start = rows[0].seq if rows else events.last_seq()
    query = {"after": str(start), **{k: v for k, v in form.items() if v}}
    context: dict[str, Any] = {
        "form": form,
        "choices": choices,
        "rows": rows,
        "error": "",
        "stream_url": f"{live.STREAM_PATH}?{urlencode(query)}",
        "shown": SHOWN,
    }
    return render(request, "events.html", context)


async def trace_page(request: web.Request) -> web.StreamResponse:
    """GET /events/{seq}: one event, what decided it, and what the door did next."""
    raw = request.match_info["seq"]
    seq = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else 0
    events = request.app[api.EVENTS]
    event = await live.find_event(events, seq)
    if event is None:
        missing: dict[str, Any] = {"event": None, "seq": raw[:20], "trace": None, "following": []}
        return render(request, "event_trace.html", missing, status=404)
    context: dict[str, Any] = {
        "event": event,
        "seq": seq,
        "trace": decision_trace(event),
        "following": await _door_next(events, event),
    }
    return render(request, "event_trace.html", context)


async def _door_next(events: EventLog, event: StoredEvent) -> list[StoredEvent]:
    """The door's own events after `event` and before the door's next decision (did the
    strike fire, was the door opened)."""
    if event.door is None or event.type != "access":
        return []
    found: list[StoredEvent] = []
    for row in await events.read_events(event.seq, FOLLOWING):
        if row.door != event.door:
            continue
        if row.type == "access" or len(found) == FOLLOWING_SHOWN:
            break  # what follows is the next decision's
        if row.type in ("door", "alarm"):
            found.append(row)
    return found


def add_event_pages(app: web.Application) -> None:
    """The events page and the trace page (one line in `gateway.web.server.build_app`)."""
    add_page(app, "GET", "/events", events_page, capability=CAPABILITY, nav="Events", nav_order=20)
    add_page(app, "GET", "/events/{seq}", trace_page, capability=CAPABILITY)
