"""The breaker in the flow, against a real server: once the server is known to be down,
misses stop waiting and the door's offline policy decides; one probe restores service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from gateway.clock import Instant
from gateway.settings import AccessSettings, UpstreamSettings
from gateway.upstream.flow import UpstreamFlow
from tests.fakes import ManualClock
from tests.upstream.test_flow import TZ
from tests.upstream.verify_fakes import DroppingUpstream, FakeUpstream, cred, door, reader

TIMEOUT_S = 0.3
FAST_S = 0.1  # "at once": far below the timeout


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def flow(server: FakeUpstream, clock: ManualClock) -> AsyncIterator[UpstreamFlow]:
    settings = UpstreamSettings(url=f"{server.base}/v?c={{Card}}", timeout_s=TIMEOUT_S)
    upstream = UpstreamFlow(settings, AccessSettings(), TZ, clock)
    yield upstream
    await upstream.close()


async def miss(flow: UpstreamFlow, clock: ManualClock, policy: str = "deny") -> tuple[str, float]:
    """One miss at a door with `policy`: its reason and how long it took."""
    started = time.monotonic()
    decision = await flow.decide_miss(
        cred("card", "0C8707"), door(offline_policy=policy), reader(), Instant.read(clock)
    )
    return decision.reason, time.monotonic() - started


async def test_after_three_timeouts_misses_stop_waiting(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    server.stall()
    for _ in range(3):
        reason, elapsed = await miss(flow, clock)
        assert reason == "upstream_timeout" and elapsed >= TIMEOUT_S - 0.05
    assert flow.status()["breaker"]["state"] == "open"
    reason, elapsed = await miss(flow, clock)
    assert reason == "upstream_offline" and elapsed < FAST_S
    decision = await flow.decide_miss(
        cred("card", "0C8707"), door(offline_policy="grant"), reader(), Instant.read(clock)
    )
    assert (decision.granted, decision.reason, decision.source) == (True, "offline_grant", "policy")
    assert decision.trace == ("breaker:open", "policy:grant", "offline_grant")
    assert len(server.seen) == 3


async def test_a_dead_server_then_one_probe_restores_it(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    port = server.port
    await server.stop()
    for _ in range(3):
        assert (await miss(flow, clock))[0] == "upstream_unreachable"
    reason, elapsed = await miss(flow, clock)
    assert reason == "upstream_offline" and elapsed < FAST_S
    await server.start(port=port)  # the server comes back
    clock.advance(29)
    assert (await miss(flow, clock))[0] == "upstream_offline"
    assert server.seen == []
    clock.advance(1)
    decision = await flow.decide_miss(cred("card", "0C8707"), door(), reader(), Instant.read(clock))
    assert decision.granted and decision.trace[0] == "breaker:probe"
    assert flow.status()["breaker"]["state"] == "closed"
    assert (await miss(flow, clock))[0] == "granted"
    assert len(server.seen) == 2


async def test_while_the_probe_is_out_other_misses_do_not_wait(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    server.answer_status(503)
    for _ in range(3):
        assert (await miss(flow, clock))[0] == "upstream_http_503"
    clock.advance(30)
    server.stall()
    probe = asyncio.create_task(miss(flow, clock))
    await asyncio.sleep(0.05)  # the probe is now waiting on the stalled server
    reason, elapsed = await miss(flow, clock)
    assert reason == "upstream_offline" and elapsed < FAST_S
    assert (await probe)[0] == "upstream_timeout"
    status = flow.status()["breaker"]
    assert status["state"] == "open" and status["open_remaining_s"] == 60  # doubled


async def test_clean_denials_and_bad_answers_never_open_it(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    server.answer_json({"isvalid": False})
    for _ in range(3):
        assert (await miss(flow, clock))[0] == "upstream_denied"
    server.answer_text("not json")
    for _ in range(3):
        assert (await miss(flow, clock))[0] == "upstream_bad_answer"
    server.answer_status(404)
    for _ in range(3):
        assert (await miss(flow, clock))[0] == "upstream_http_404"
    assert flow.status()["breaker"]["state"] == "closed"
    assert len(server.seen) == 9


async def test_a_dropped_connection_is_one_request_and_one_failure(clock: ManualClock) -> None:
    # The server answers the first card, then reads the second card's request and drops
    # the connection: that card is denied and counted, never asked twice.
    dropping = DroppingUpstream(drop=(1,))
    await dropping.start()
    settings = UpstreamSettings(url=f"{dropping.base}/v?c={{Card}}", timeout_s=TIMEOUT_S)
    flow = UpstreamFlow(settings, AccessSettings(), TZ, clock)
    try:
        now = Instant.read(clock)
        first = await flow.decide_miss(cred("card", "0C8707"), door(), reader(), now)
        second = await flow.decide_miss(cred("card", "0D10E1"), door(), reader(), now)
    finally:
        await flow.close()
        await dropping.stop()
    assert first.reason == "upstream_denied"
    assert (second.granted, second.reason) == (False, "upstream_unreachable")
    assert dropping.requests == ["GET /v?c=0C8707 HTTP/1.1", "GET /v?c=0D10E1 HTTP/1.1"]
    breaker = flow.status()["breaker"]
    assert (breaker["requests"], breaker["failures"], breaker["consecutive_failures"]) == (2, 1, 1)
    assert breaker["last_error"] == "upstream_unreachable"
