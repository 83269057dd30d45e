"""What a cache miss costs on top of the upstream server's own time, and a miss while the
upstream is known to be down.

- `miss_overhead`: a card nobody holds, decided by `UpstreamFlow.decide_miss` (the
  pipeline's miss path: auth-mode check, breaker, the verify request over HTTP, the
  answer's parsing) against a loopback aiohttp server in its own process that answers the
  Akuvox third-party protocol (`{"isvalid": true}`), minus the time that server's handler
  took for that request, ms. Each sample is a different card (no grant cache).
- `breaker_open_decision`: the same miss once the circuit breaker is open (the server is
  gone; one failure opens it here): the door's offline policy decides at once, us.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

from aiohttp import web

from benchmarks.daemon_start import free_port
from benchmarks.figures import Sample
from benchmarks.population import unknown_card_value
from gateway.clock import Instant, SystemClock
from gateway.model import Credential
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings, UpstreamSettings
from gateway.upstream.flow import UpstreamFlow

MISSES_PER_REPETITION = 100
BREAKER_PER_REPETITION = 1_000
DOOR = DoorSettings(name="front")
READER = ReaderSettings(name="front-wiegand", kind="wiegand", door="front")
TZ = ZoneInfo("Europe/London")


# -- the upstream server, in its own process ---------------------------------------------


def serve(port: int) -> None:
    """Answer every verify request with a grant; `GET /handling` returns (and forgets)
    how long each verify request's handler took, in seconds, in order."""
    handling: list[float] = []

    async def verify(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = json.dumps({"isvalid": True, "message": request.query.get("card", "")})
        response = web.Response(text=body, content_type="application/json")
        handling.append(time.perf_counter() - started)
        return response

    async def handled(_request: web.Request) -> web.Response:
        times = list(handling)
        handling.clear()
        return web.json_response(times)

    app = web.Application()
    app.router.add_get("/verify", verify)
    app.router.add_get("/handling", handled)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *_: print("ready", flush=True))


def _start_server(port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.upstream_miss", "serve", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise RuntimeError("the loopback upstream did not start")
    return server


# -- the measurements ----------------------------------------------------------------------


def _flow(url: str, **options: float) -> UpstreamFlow:
    settings = UpstreamSettings(url=url, device_id="bench", timeout_s=3.0, **options)  # type: ignore[arg-type]
    return UpstreamFlow(settings, AccessSettings(), TZ, SystemClock())


async def _timed_misses(flow: UpstreamFlow, count: int, first: int) -> list[float]:
    """Seconds per decided miss, one at a time, each a different card."""
    clock = SystemClock()
    times = []
    for n in range(first, first + count):
        credential = Credential("card", unknown_card_value(n), READER.name, 0.0)
        started = time.perf_counter()
        await flow.decide_miss(credential, DOOR, READER, Instant.read(clock))
        times.append(time.perf_counter() - started)
    return times


async def _miss_overhead(port: int, count: int) -> list[float]:
    from aiohttp import ClientSession

    flow = _flow(f"http://127.0.0.1:{port}/verify?card={{Card}}&dev={{DeviceID}}")
    try:
        credential = Credential("card", unknown_card_value(0), READER.name, 0.0)
        decision = await flow.decide_miss(credential, DOOR, READER, Instant.read(SystemClock()))
        if not (decision.granted and decision.source == "upstream"):
            raise RuntimeError(f"the loopback upstream's grant decided {decision.reason}")
        async with ClientSession() as session:
            await (await session.get(f"http://127.0.0.1:{port}/handling")).read()  # forget
            totals = await _timed_misses(flow, count, 1)
            async with session.get(f"http://127.0.0.1:{port}/handling") as reply:
                handling: list[float] = await reply.json()
    finally:
        await flow.close()
    if len(handling) != len(totals):
        raise RuntimeError(f"{len(totals)} misses but {len(handling)} verify requests")
    return [(total - own) * 1000 for total, own in zip(totals, handling, strict=True)]


async def _breaker_open(count: int) -> list[float]:
    flow = _flow(f"http://127.0.0.1:{free_port()}/verify?card={{Card}}", breaker_failures=1)
    try:
        await _timed_misses(flow, 1, 0)  # refused: the breaker opens
        if flow.breaker.state != "open":
            raise RuntimeError(f"the breaker is {flow.breaker.state} after a refused request")
        times = await _timed_misses(flow, count, 1)
        credential = Credential("card", unknown_card_value(0), READER.name, 0.0)
        decision = await flow.decide_miss(credential, DOOR, READER, Instant.read(SystemClock()))
        if decision.granted or decision.source != "policy":
            raise RuntimeError(f"with the breaker open a miss decided {decision.reason}")
    finally:
        await flow.close()
    return [t * 1e6 for t in times]


def measure(users: int, repetitions: int) -> dict[str, Sample]:
    """miss_overhead (ms) and breaker_open_decision (us); `users` plays no part."""
    port = free_port()
    server = _start_server(port)
    try:
        overhead = asyncio.run(_miss_overhead(port, MISSES_PER_REPETITION * repetitions))
    finally:
        server.terminate()
        server.wait(timeout=10)
    breaker = asyncio.run(_breaker_open(BREAKER_PER_REPETITION * repetitions))
    return {"miss_overhead": Sample.of(overhead), "breaker_open_decision": Sample.of(breaker)}


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(int(sys.argv[2]))
