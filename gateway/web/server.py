"""Builds the aiohttp application and runs it on `[web] listen`."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web, web_response

from gateway.model import Event
from gateway.web import akuvox, api, doors, live, openapi, page, readers, security, sim
from gateway.web.actatek.answers import common_errors
from gateway.web.actatek.context import ManagementContext
from gateway.web.actatek.routes import add_actatek
from gateway.web.auth import ACCOUNTS, TokenStore
from gateway.web.limits import HTTP_LIMITS, ConnectionGuard, GuardedTCPSite, HttpLimits
from gateway.web.operations import OperationsControl
from gateway.web.page import readers as page_readers
from gateway.web.page.events import add_event_pages
from gateway.web.page.operations import add_operations
from gateway.web.rules_in_force import RULES, rules_in_force
from gateway.web.services import Accounts, EventLog, StatusSource

log = logging.getLogger(__name__)

# The `Server` header of every answer: the product, never its version nor the versions of
# Python and aiohttp (they tell an attacker which published flaws to try).
SERVER_NAME = "door-gateway"


def build_app(
    *,
    status: StatusSource,
    events: EventLog,
    accounts: Accounts,
    tokens: TokenStore,
    door_control: doors.DoorControl,
    management: ManagementContext,
    open_door: akuvox.OpenDoorContext | None = None,
    simulation: sim.SimulationControl | None = None,
    ops: OperationsControl | None = None,
    reader_diagnosis: readers.ReaderDiagnosis | None = None,
) -> web.Application:
    """The whole HTTP surface, on the services it is given (`gateway.web.services`); the
    OpenDoor endpoint and the simulation API exist only when theirs are given.

    Middlewares, outermost first: JSON errors (never a traceback), body size limits, the
    ACTAtek common error, loopback-only /sim/, sessions of the native API, CSRF for
    cookie-authenticated writes (docs/security.md), and innermost the wait for the access
    rules a handler changed (`gateway.web.rules_in_force`)."""
    middlewares = [
        security.json_errors,
        security.body_limits,
        common_errors,
        sim.loopback_only,
        api.require_token,
        security.csrf_protect,
        rules_in_force,
    ]
    hide_server_versions()
    app = web.Application(middlewares=middlewares, client_max_size=security.MAX_BODY_BYTES)
    app[security.BODY_LIMITS] = security.BodyLimits()
    app[security.THROTTLE] = login_throttle(management)
    app[ACCOUNTS] = management.stores.technicians
    app[RULES] = management.rule_changes
    app[api.STATUS] = status
    app[api.EVENTS] = events
    app[api.LOGINS] = accounts
    app[api.TOKENS] = tokens
    page.add_page_routes(app)
    add_event_pages(app)
    api.add_routes(app)
    live.add_routes(app)
    openapi.add_routes(app)
    app[doors.CONTROL] = door_control
    doors.add_routes(app)
    _door_body_limits(app[security.BODY_LIMITS])
    add_actatek(app, management)
    add_operations(app, ops)
    if reader_diagnosis is not None:
        page_readers.add_routes(app, reader_diagnosis)
    if open_door is not None:
        akuvox.add_routes(app, open_door)
    if simulation is not None:
        app[sim.SIM] = simulation
        sim.add_routes(app)
    return app


def hide_server_versions() -> None:
    """Make `SERVER_NAME` the `Server` header of every answer of this process's servers.

    aiohttp puts its default (`Python/3.11 aiohttp/3.x`) into any answer that has no
    `Server` header, including those it makes itself for a request it cannot parse, before
    any route, middleware or signal of ours runs. That default is a module constant of
    aiohttp with no setting, so it is replaced here; the HTTP client's `User-Agent` reads
    its own copy and is not affected.
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


def login_throttle(management: ManagementContext) -> security.LoginThrottle:
    """One throttle for every login; an episode of waits is journaled as an alarm."""

    def alarm(raised: security.LoginAlarm) -> None:
        log.warning("login throttled for %r: %s", raised.name, raised.trace)
        event = Event(
            "alarm",
            management.clock.time(),
            user_id=raised.name,
            reason="login_throttled",
            trace=raised.trace,
        )
        management.emit(event)

    return security.LoginThrottle(
        management.clock, management.stores.technicians.technician_exists, alarm
    )


def _door_body_limits(limits: security.BodyLimits) -> None:
    """The door endpoints take at most {"on": true}; pulse and acknowledge take nothing."""
    limits[("POST", "/api/v1/doors/{name}/pulse")] = security.NO_DATA_BYTES
    limits[("POST", "/api/v1/doors/{name}/acknowledge")] = security.NO_DATA_BYTES
    limits[("POST", "/api/v1/doors/{name}/lockdown")] = 1024
    limits[("POST", "/api/v1/lockdown")] = 1024


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_site(
    app: web.Application,
    listen: str,
    limits: HttpLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> web.AppRunner:
    """Start serving under `limits` (timeouts, head sizes, connection caps: see
    `gateway.web.limits`), over TLS when given `ssl_context`; the caller keeps the runner
    to stop it. When the site cannot start (the port is taken) the runner is cleaned up
    before the error is raised."""
    limits = limits or HttpLimits()
    app[HTTP_LIMITS] = limits  # the body reader's timeout
    runner = web.AppRunner(app, access_log=None, **limits.runner_options())
    await runner.setup()
    host, port = parse_listen(listen)
    guard = ConnectionGuard(limits.connection_cap(), limits.max_per_address)
    try:
        await GuardedTCPSite(runner, host, port, guard, ssl_context).start()
    except BaseException:  # e.g. the port is taken: nothing is left half set up
        await runner.cleanup()
        raise
    return runner
