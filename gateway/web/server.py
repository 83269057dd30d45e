"""Builds the aiohttp application and runs it on `[web] listen`."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.web import api, doors, sim
from gateway.web.actatek.common import ManagementContext, common_errors
from gateway.web.actatek.routes import add_actatek
from gateway.web.auth import TokenStore

log = logging.getLogger(__name__)

INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>door-gateway</title></head>
<body><h1>door-gateway</h1>
<p>Status: <code>GET /api/v1/status</code> with a bearer token from
<code>POST /api/v1/login</code>. Events: <code>GET /api/v1/events?after=SEQ</code>.</p>
</body></html>
"""


async def index(_request: web.Request) -> web.Response:
    return web.Response(text=INDEX_HTML, content_type="text/html")


def build_app(
    gateway: api.GatewayView,
    tokens: TokenStore,
    simulation: sim.SimulationControl | None,
    door_control: doors.DoorControl,
    management: ManagementContext,
) -> web.Application:
    """The whole HTTP surface; the simulation API exists only when `simulation` is given."""
    middlewares = [common_errors, sim.loopback_only, api.require_token]
    app = web.Application(middlewares=middlewares, client_max_size=4 * 1024 * 1024)
    app[api.GATEWAY] = gateway
    app[api.TOKENS] = tokens
    app.router.add_get("/", index)
    api.add_routes(app)
    app[doors.CONTROL] = door_control
    doors.add_routes(app)
    add_actatek(app, management)
    if simulation is not None:
        app[sim.SIM] = simulation
        sim.add_routes(app)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_site(app: web.Application, listen: str) -> web.AppRunner:
    """Start serving; the caller keeps the runner to stop it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_listen(listen)
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
