"""Remote door control for technicians: pulse, lockdown, acknowledge alarms.

The ACTAtek relay/opendoor endpoints call the same door commands, so a door moves the
same way whichever API asked; both need the same capability, `terminal` (NETWORKADMIN and
SUPERADMIN), named once in `ROUTES`."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from gateway.web import roles
from gateway.web.api import session_of
from gateway.web.common import BadRequest, error, json_object


class DoorControl(Protocol):
    """What the remote-control endpoints may ask of the doors (`gateway.doors.commands`);
    `by` names the technician, and a name that is no door raises `UnknownDoor`."""

    def pulse_door(self, door: str, by: str) -> bool: ...

    def set_lockdown(self, door: str | None, on: bool, by: str) -> None: ...

    def acknowledge_alarms(self, door: str, by: str) -> None: ...


CONTROL = web.AppKey("door_control", DoorControl)


async def pulse(request: web.Request) -> web.Response:
    """POST /api/v1/doors/{name}/pulse: one remote unlock pulse (refused in lockdown)."""
    name = request.match_info["name"]
    opened = request.app[CONTROL].pulse_door(name, session_of(request).username)
    if not opened:
        return error(409, f"door {name!r} is in lockdown")
    return web.json_response({"status": "success", "door": name})


async def _lockdown_body(request: web.Request) -> bool:
    body = await json_object(request, max_bytes=1024)
    on = body.get("on")
    if not isinstance(on, bool) or set(body) != {"on"}:
        raise BadRequest('expected {"on": true} or {"on": false}')
    return on


async def lockdown(request: web.Request) -> web.Response:
    """POST /api/v1/doors/{name}/lockdown or /api/v1/lockdown (every door): {"on": bool}."""
    name = request.match_info.get("name")
    on = await _lockdown_body(request)
    request.app[CONTROL].set_lockdown(name, on, session_of(request).username)
    return web.json_response({"status": "success", "door": name, "lockdown": on})


async def acknowledge(request: web.Request) -> web.Response:
    """POST /api/v1/doors/{name}/acknowledge: acknowledge the door's latched alarms."""
    name = request.match_info["name"]
    request.app[CONTROL].acknowledge_alarms(name, session_of(request).username)
    return web.json_response({"status": "success", "door": name})


# Moving doors is a terminal function, as the ACTAtek opendoor and relay endpoints.
DOOR_CONTROL = roles.needs("terminal")
ROUTES = (
    roles.NativeRoute("POST", "/api/v1/doors/{name}/pulse", pulse, DOOR_CONTROL),
    roles.NativeRoute("POST", "/api/v1/doors/{name}/lockdown", lockdown, DOOR_CONTROL),
    roles.NativeRoute("POST", "/api/v1/doors/{name}/acknowledge", acknowledge, DOOR_CONTROL),
    roles.NativeRoute("POST", "/api/v1/lockdown", lockdown, DOOR_CONTROL),
)


def add_routes(app: web.Application) -> None:
    roles.add_native_routes(app, ROUTES)
