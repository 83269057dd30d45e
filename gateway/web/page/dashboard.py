"""The dashboard (`/`): every door, reader and service at a glance, with the door
buttons for a role that may move doors (`DOOR_CAPABILITY`, as the door API).

The status is the JSON API's (`StatusSource`, cut to what the role may read by
`roles.visible_status`); door commands go through the same `DoorControl` as the API, so
they are journaled the same way. `/dashboard/live` is the live part alone, which the
page's script fetches every few seconds; without the script the page is whole anyway.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.doors.errors import UnknownDoor
from gateway.model import StoredEvent
from gateway.web import api, doors, roles
from gateway.web.page.site import add_page, page_session, read_form, render
from gateway.web.services import EventLog

DOOR_CAPABILITY = doors.DOOR_CONTROL.capability or "terminal"
LIVE_PATH = "/dashboard/live"
# What a door action's redirect may announce (a fixed set: nothing from the request is
# echoed back as a message).
NOTICES = {
    "pulse": ("Pulse sent to {door}.", "good"),
    "lockdown_on": ("{door} is now in lockdown.", "good"),
    "lockdown_off": ("{door} is out of lockdown.", "good"),
    "acknowledged": ("Alarms of {door} acknowledged.", "good"),
    "refused_lockdown": ("{door} is in lockdown: no pulse.", "bad"),
    "password": ("Password changed.", "good"),
}


# The journal's tail searched for each reader's last credential: enough for a busy door's
# last minutes; a reader quiet for longer shows none (its frames are in the diagnostics).
CREDENTIAL_LOOKBACK = 200
CREDENTIALS_CAPABILITY = "logs"  # as the journal: card numbers are personal data


async def dashboard_context(request: web.Request) -> dict[str, Any]:
    """What the dashboard shows this session's role."""
    level = page_session(request).level
    everything = request.app[api.STATUS].status()
    shown = {}
    if roles.may(level, CREDENTIALS_CAPABILITY):
        shown = await last_credentials(request.app[api.EVENTS], everything)
    return {
        "status": roles.visible_status(everything, level),
        "may_move_doors": roles.may(level, DOOR_CAPABILITY),
        "last_credentials": shown,
    }


async def last_credentials(events: EventLog, status: dict[str, Any]) -> dict[str, StoredEvent]:
    """Each reader's latest access decision in the journal's tail: its credential is shown
    as the journal keeps it (a PIN as ****, a QR code as its fingerprint)."""
    last_seq = int(status.get("journal", {}).get("last_seq") or 0)
    after = max(0, last_seq - CREDENTIAL_LOOKBACK)
    latest: dict[str, StoredEvent] = {}
    for event in await events.read_events(after, CREDENTIAL_LOOKBACK):
        if event.type == "access" and event.reader:
            latest[event.reader] = event
    return latest


async def dashboard(request: web.Request) -> web.StreamResponse:
    """GET /: the whole dashboard, with the line saying what a command just did."""
    context = await dashboard_context(request)
    doors_shown = context["status"].get("doors", {})
    context["notice"], context["notice_kind"] = _notice(request, doors_shown)
    return render(request, "dashboard.html", context)


async def dashboard_live(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/live: the live part of the dashboard, as HTML (for the script)."""
    return render(request, "dashboard_live.html", await dashboard_context(request))


def _notice(request: web.Request, doors_shown: dict[str, Any]) -> tuple[str, str]:
    """(text, kind) of the `notice` the redirect named; nothing for an unknown one."""
    found = NOTICES.get(request.query.get("notice", ""))
    door = request.query.get("door", "")
    if found is None or ("{door}" in found[0] and door not in doors_shown):
        return "", ""
    return found[0].format(door=door), found[1]


def _done(notice: str, door: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/?notice={notice}&door={door}#door-{door}")


async def pulse(request: web.Request) -> web.StreamResponse:
    """POST /doors/{name}/pulse: one remote unlock pulse, after the confirmation."""
    name = request.match_info["name"]
    try:
        opened = request.app[doors.CONTROL].pulse_door(name, page_session(request).username)
    except UnknownDoor as exc:
        raise web.HTTPNotFound(reason=str(exc)) from exc
    raise _done("pulse" if opened else "refused_lockdown", name)


async def lockdown(request: web.Request) -> web.StreamResponse:
    """POST /doors/{name}/lockdown with on=1 or on=0."""
    name = request.match_info["name"]
    on = (await read_form(request)).get("on")
    if on not in ("0", "1"):
        raise web.HTTPBadRequest(reason="on: expected 1 or 0")
    try:
        request.app[doors.CONTROL].set_lockdown(name, on == "1", page_session(request).username)
    except UnknownDoor as exc:
        raise web.HTTPNotFound(reason=str(exc)) from exc
    raise _done("lockdown_on" if on == "1" else "lockdown_off", name)


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """POST /doors/{name}/acknowledge: acknowledge the door's latched alarms."""
    name = request.match_info["name"]
    try:
        request.app[doors.CONTROL].acknowledge_alarms(name, page_session(request).username)
    except UnknownDoor as exc:
        raise web.HTTPNotFound(reason=str(exc)) from exc
    raise _done("acknowledged", name)


def add_dashboard_routes(app: web.Application) -> None:
    add_page(app, "GET", "/", dashboard, nav="Dashboard", nav_order=0)
    add_page(app, "GET", LIVE_PATH, dashboard_live, data=True)
    add_page(app, "POST", "/doors/{name}/pulse", pulse, capability=DOOR_CAPABILITY)
    add_page(app, "POST", "/doors/{name}/lockdown", lockdown, capability=DOOR_CAPABILITY)
    add_page(app, "POST", "/doors/{name}/acknowledge", acknowledge, capability=DOOR_CAPABILITY)
