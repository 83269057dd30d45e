"""What each role may call and read on the native API (docs/security.md).

One role table for both APIs: the ACTAtek one (`gateway.web.actatek.session.CAPABILITIES`).
Each native route names what it needs in its module's `ROUTES` table (a `Guard`);
`add_native_routes` registers the route and its guard together, and the session
middleware (`gateway.web.api.require_token`) enforces the guard before any handler runs.
A route under /api/v1 without a guard answers 403 to everyone: forgetting to name a
capability closes the endpoint instead of opening it.

The status is one endpoint with parts of different sensitivity: `visible_status` keeps
what the caller's role may read (`STATUS_SECTIONS`); a part not in the table is shown
only to a role that holds every capability.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.web.actatek.session import CAPABILITIES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Guard:
    """What a route needs: nothing (`public`), any live session (`capability` None), or a
    session whose role has `capability`."""

    capability: str | None = None
    public: bool = False


PUBLIC = Guard(public=True)
ANY_SESSION = Guard()


def needs(capability: str) -> Guard:
    """A guard for `capability`, which must be in the role table (a typo would otherwise
    make an endpoint that nobody may call, or that the tests believe is guarded)."""
    if not roles_with(capability):
        raise ValueError(f"no role has the capability {capability!r}")
    return Guard(capability)


def may(level: str, capability: str) -> bool:
    """Whether a session of `level` has `capability` (an unknown level has none)."""
    return capability in CAPABILITIES.get(level, frozenset())


def roles_with(capability: str | None) -> list[str]:
    """The roles holding `capability` (every role for None), in the table's order."""
    return [role for role, caps in CAPABILITIES.items() if capability is None or capability in caps]


def refusal(level: str, capability: str) -> str:
    """The 403 message for a role without the capability a route needs."""
    return f"{level} may not do this: it needs the {capability} capability"


# -- routes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeRoute:
    """One line of a module's route table."""

    method: str
    path: str
    handler: Handler
    guard: Guard


class RouteGuards(dict[tuple[str, str], Guard]):
    """(METHOD, route path as registered) -> its guard."""


GUARDS = web.AppKey("route_guards", RouteGuards)


def add_native_routes(app: web.Application, routes: Iterable[NativeRoute]) -> None:
    """Register each route with its guard."""
    guards = app.setdefault(GUARDS, RouteGuards())
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        guards[(route.method, route.path)] = route.guard


def guard_of(request: web.Request) -> Guard | None:
    """The guard of the route this request matched; None when no route matched or the
    route has none. A HEAD is guarded as its GET."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app.get(GUARDS, RouteGuards()).get((method, resource.canonical))


# -- the status, by role ----------------------------------------------------------------

# The capability each part of GET /api/v1/status needs (None: any session).
STATUS_SECTIONS: dict[str, str | None] = {
    "device": None,  # id, name, version, time zone, uptime
    "doors": None,  # lock, contact, alarms, lockdown, offline policy
    "readers": None,  # online, counters; frame values only with RAW_FRAMES_CAPABILITY
    "access": "logs",  # the last decision, who is in, keypad lockouts
    "store": "users",  # how many users, cards, PINs
    "upstream": "terminal",  # the verify server, its breaker, the offline policies
    "journal": "terminal",  # the journal's health
    "http_unlock": "terminal",  # OpenDoor's settings and anti-passback counts
    "forwarding": "agents",  # agent URLs and cursors
    "system": None,  # clock synchronised, CPU temperature, throttling, disk, memory
    "notifications": "terminal",  # the mail server, recipients, backlog, last error
    "mqtt": "terminal",  # the broker (no credentials), connected, backlog, commands
    "floors": None,  # elevator floor outputs: which are enabled now
    "web_relay": "terminal",  # users' web relay URLs: sent, failed, queued (never a URL)
}
# Reader frames hold card numbers, raw Wiegand bits (facility and number: enough to clone
# an H10301 card), NFC UIDs and serial frames: the same as the access log shows.
RAW_FRAMES_CAPABILITY = "logs"
# What a frame keeps without that capability: its shape, for wiring a reader.
FRAME_SHAPE = frozenset(
    {"time", "bit_count", "duration_us", "median_interval_us", "kind", "format", "result"}
    | {"id", "min_interval_us", "max_interval_us"}
    | {"detail", "repeats", "target", "block_length"}
)
MASK = "****"  # as a PIN is shown everywhere
FRAME_LISTS = ("recent",)  # a reader's frames: each entry keeps FRAME_SHAPE only
VALUE_LISTS = ("present",)  # a reader's cards on it now: each one masked


def visible_status(status: Mapping[str, Any], level: str) -> dict[str, Any]:
    """The parts of `status` a session of `level` may read (docs/security.md)."""
    every = all(may(level, capability) for caps in CAPABILITIES.values() for capability in caps)
    shown: dict[str, Any] = {}
    for section, value in status.items():
        if section not in STATUS_SECTIONS:
            if every:
                shown[section] = value
            continue
        capability = STATUS_SECTIONS[section]
        if capability is None or may(level, capability):
            shown[section] = value
    if "readers" in shown and not may(level, RAW_FRAMES_CAPABILITY):
        shown["readers"] = {name: _without_values(r) for name, r in shown["readers"].items()}
    return shown


def _without_values(reader: Mapping[str, Any]) -> dict[str, Any]:
    """A reader's status with its frames reduced to their shape."""
    masked = dict(reader)
    for key in FRAME_LISTS:
        if isinstance(masked.get(key), list):
            masked[key] = [_frame_shape(frame) for frame in masked[key]]
    for key in VALUE_LISTS:
        if isinstance(masked.get(key), list):
            masked[key] = [MASK for _ in masked[key]]
    return masked


def _frame_shape(frame: Any) -> dict[str, Any]:
    if not isinstance(frame, Mapping):
        return {}
    return {key: value for key, value in frame.items() if key in FRAME_SHAPE}
