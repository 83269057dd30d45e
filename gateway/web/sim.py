"""The simulation API (/sim/...): present only with the simulated backend, and answering
only clients on loopback. Each call returns once its input reached the hardware seam.

It has no session (docs/security.md), so a browser on the simulation host must not be
usable against it by another site: a POST must declare `Content-Type: application/json`
(a cross-site form can only send text/plain, form or multipart bodies without a CORS
preflight), an `Origin`, when sent, must be the API's own, and the `Host` must be a
loopback name or address (a DNS-rebinding page is same-origin but names its own host)."""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from gateway.web.common import BadRequest, error, field_number, field_str, json_object

INPUTS = ("contact", "rex", "tamper", "doorbell")


class SimulationControl(Protocol):
    async def wiegand(
        self, reader: str, bits: str, interval_us: float, pulse_us: float
    ) -> None: ...

    async def keys(self, reader: str, keys: str) -> None: ...

    async def card(self, reader: str, uid: str) -> None: ...

    async def qr(self, reader: str, text: str) -> None: ...

    def set_input(self, door: str, name: str, active: bool) -> None: ...

    def outputs(self) -> dict[str, Any]: ...

    def step_clock(self, seconds: float) -> float: ...

    def block_loop(self, seconds: float) -> None: ...


class UnknownName(BadRequest):
    """No reader or door of that name (404)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class NotBuilt(BadRequest):
    """That reader kind cannot take this input yet (501)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 501)


SIM = web.AppKey("simulation", SimulationControl)


BODYLESS = frozenset({"GET", "HEAD"})
LOOPBACK_NAMES = frozenset({"localhost"})
# Addresses and Host headers whose loopback check is remembered (a bounded cache: a flood
# of other names only pushes out answers that are computed again).
LOOKS_REMEMBERED = 256
# The answer of every input call, encoded once.
OK_TEXT = json.dumps({"status": "ok"})


@web.middleware
async def loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """The simulation API drives doors: never from another machine, nor from another
    site's page in a browser on this one."""
    if request.path.startswith("/sim/"):
        refused = _refusal(request)
        if refused is not None:
            return refused
    return await handler(request)  # type: ignore[no-any-return]


def _refusal(request: web.Request) -> web.Response | None:
    """403 or 415 for a request the simulation API must not act on, else None."""
    if not _is_loopback(request.remote):
        return error(403, "the simulation API answers loopback clients only")
    host = request.headers.get("Host", "")
    if not _is_loopback_host(host):
        return error(403, "the simulation API answers requests to a loopback Host only")
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin, host):
        return error(403, "the simulation API refuses requests from another origin")
    if request.method not in BODYLESS and request.content_type != "application/json":
        return error(415, "the simulation API takes Content-Type: application/json only")
    return None


@functools.lru_cache(maxsize=LOOKS_REMEMBERED)
def _is_loopback_host(authority: str) -> bool:
    """Whether a `Host` header names a loopback host (remembered: a client sends the same
    one with every request)."""
    return _is_loopback(_hostname(authority))


def _hostname(authority: str) -> str | None:
    """The host of `host[:port]` (an IPv6 address without its brackets); None if garbled."""
    try:
        return urlsplit(f"//{authority}").hostname
    except ValueError:
        return None


def _same_origin(origin: str, host: str) -> bool:
    """An `Origin` header naming this API's own scheme-less authority (`null`, sent by
    sandboxed and file: pages, is never the same)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


@functools.lru_cache(maxsize=LOOKS_REMEMBERED)
def _is_loopback(address: str | None) -> bool:
    """A loopback address, or `localhost` (which browsers never send to the network)."""
    if address is None:
        return False
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def _run(request: web.Request, action: Any) -> web.Response:
    body = await json_object(request)
    try:
        await action(request.app[SIM], body)
    except ValueError as exc:
        return error(400, str(exc))
    return web.Response(text=OK_TEXT, content_type="application/json")


async def _wiegand(sim: SimulationControl, body: dict[str, Any]) -> None:
    bits = field_str(body, "bits", 128)
    if set(bits) - {"0", "1"}:
        raise BadRequest("bits: expected a string of 0 and 1")
    interval = field_number(body, "bit_interval_us", 2000, 200, 20000)
    pulse = field_number(body, "pulse_us", 50, 20, 100)
    if pulse >= interval:
        raise BadRequest("pulse_us must be shorter than bit_interval_us")
    await sim.wiegand(field_str(body, "reader", 64), bits, interval, pulse)


async def _keys(sim: SimulationControl, body: dict[str, Any]) -> None:
    keys = field_str(body, "keys", 64)
    if set(keys) - set("0123456789*#"):
        raise BadRequest("keys: expected digits, * and #")
    await sim.keys(field_str(body, "reader", 64), keys)


async def _card(sim: SimulationControl, body: dict[str, Any]) -> None:
    await sim.card(field_str(body, "reader", 64), field_str(body, "uid", 40))


async def _qr(sim: SimulationControl, body: dict[str, Any]) -> None:
    await sim.qr(field_str(body, "reader", 64), field_str(body, "text", 256))


async def _input(sim: SimulationControl, body: dict[str, Any]) -> None:
    name = field_str(body, "input", 16)
    if name not in INPUTS:
        raise BadRequest(f"input: expected one of {', '.join(INPUTS)}")
    active = body.get("active")
    if not isinstance(active, bool):
        raise BadRequest("active: expected true or false")
    sim.set_input(field_str(body, "door", 64), name, active)


MAX_CLOCK_STEP_S = 10 * 365 * 86400.0


async def step_clock(request: web.Request) -> web.Response:
    """Step the daemon's wall clock (not its monotonic one) by `step_s` seconds."""
    body = await json_object(request)
    seconds = field_number(body, "step_s", 0, -MAX_CLOCK_STEP_S, MAX_CLOCK_STEP_S)
    now = request.app[SIM].step_clock(seconds)
    return web.json_response({"time": now})


MAX_BLOCK_S = 60.0


async def block_loop(request: web.Request) -> web.Response:
    """Block the daemon's event loop for `seconds` (a test of the systemd watchdog: a
    blocked loop must stop its pings). Answers once the loop runs again."""
    body = await json_object(request)
    seconds = field_number(body, "seconds", 1, 0, MAX_BLOCK_S)
    request.app[SIM].block_loop(seconds)
    return web.Response(text=OK_TEXT, content_type="application/json")


def _handler(action: Any) -> Any:
    async def handle(request: web.Request) -> web.Response:
        return await _run(request, action)

    return handle


async def outputs(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM].outputs())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sim/wiegand", _handler(_wiegand))
    app.router.add_post("/sim/keys", _handler(_keys))
    app.router.add_post("/sim/card", _handler(_card))
    app.router.add_post("/sim/qr", _handler(_qr))
    app.router.add_post("/sim/input", _handler(_input))
    app.router.add_get("/sim/outputs", outputs)
    app.router.add_post("/sim/clock", step_clock)
    app.router.add_post("/sim/block-loop", block_loop)
