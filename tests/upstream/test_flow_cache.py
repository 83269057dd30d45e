"""The optional grant cache: repeat visitors decided locally until the TTL, on a manual
clock; bounded; PINs only by their keyed hash."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.clock import Instant
from gateway.settings import AccessSettings, UpstreamSettings
from gateway.upstream.cache import GrantCache
from gateway.upstream.flow import UpstreamFlow
from tests.fakes import ManualClock
from tests.upstream.test_flow import TZ
from tests.upstream.verify_fakes import FakeUpstream, cred, door, reader


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def flow(server: FakeUpstream, clock: ManualClock) -> AsyncIterator[UpstreamFlow]:
    settings = UpstreamSettings(
        url=f"{server.base}/v?c={{Card}}&p={{Pin}}", timeout_s=0.5, cache_grants_s=60
    )
    upstream = UpstreamFlow(
        settings, AccessSettings(), TZ, clock, pin_hash=lambda pin: f"hash:{pin[::-1]}"
    )
    yield upstream
    await upstream.close()


async def test_a_repeat_grant_is_decided_from_the_cache_until_it_expires(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    card = cred("card", "0C8707")
    assert (await flow.decide_miss(card, door(), reader(), Instant.read(clock))).granted
    clock.advance(59)
    hit = await flow.decide_miss(card, door(), reader(), Instant.read(clock))
    assert (hit.granted, hit.reason, hit.source, hit.trace) == (
        True,
        "granted",
        "upstream",
        ("cache:hit", "granted"),
    )
    assert len(server.seen) == 1
    server.answer_json({"isvalid": False})  # revoked on the server
    clock.advance(1)
    expired = await flow.decide_miss(card, door(), reader(), Instant.read(clock))
    assert (expired.granted, expired.reason) == (False, "upstream_denied")
    assert len(server.seen) == 2


async def test_the_cache_is_per_door_and_keeps_no_denials(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    card = cred("card", "0C8707")
    await flow.decide_miss(card, door("front"), reader(), Instant.read(clock))
    await flow.decide_miss(card, door("back"), reader(door_name="back"), Instant.read(clock))
    assert len(server.seen) == 2
    server.answer_json({"isvalid": False})
    other = cred("card", "0C8708")
    await flow.decide_miss(other, door(), reader(), Instant.read(clock))
    await flow.decide_miss(other, door(), reader(), Instant.read(clock))
    assert len(server.seen) == 4


async def test_pins_are_cached_by_hash_only(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    pin = cred("pin", "4711")
    await flow.decide_miss(pin, door(), reader(), Instant.read(clock))
    assert (await flow.decide_miss(pin, door(), reader(), Instant.read(clock))).trace[
        0
    ] == "cache:hit"
    assert len(server.seen) == 1
    assert list(flow.cache._entries) == [("pin", "hash:1174", "front")]


def test_without_a_hash_function_pins_are_not_cached() -> None:
    clock = ManualClock()
    cache = GrantCache(60, 10, clock.monotonic)
    cache.put(cred("pin", "4711"), "front")
    assert cache.get(cred("pin", "4711"), "front") is None
    assert len(cache) == 0


def test_the_cache_is_bounded_oldest_out() -> None:
    clock = ManualClock()
    cache = GrantCache(60, 2, clock.monotonic)
    for value in ("01", "02", "03"):
        cache.put(cred("card", value), "front")
    assert cache.get(cred("card", "01"), "front") is None
    assert cache.get(cred("card", "02"), "front") is not None
    assert cache.get(cred("card", "03"), "front") is not None
    assert cache.status()["entries"] == 2


def test_a_zero_ttl_switches_it_off() -> None:
    clock = ManualClock()
    cache = GrantCache(0, 10, clock.monotonic)
    cache.put(cred("card", "01"), "front")
    assert cache.get(cred("card", "01"), "front") is None
    assert not cache.status()["enabled"]


async def test_offline_grants_are_not_cached(
    server: FakeUpstream, flow: UpstreamFlow, clock: ManualClock
) -> None:
    port = server.port
    await server.stop()
    grant_door = door(offline_policy="grant")
    for _ in range(4):
        await flow.decide_miss(cred("card", "0C8707"), grant_door, reader(), Instant.read(clock))
    assert len(flow.cache) == 0
    await server.start(port=port)
    server.answer_json({"isvalid": False})
    clock.advance(30)
    decision = await flow.decide_miss(
        cred("card", "0C8707"), grant_door, reader(), Instant.read(clock)
    )
    assert (decision.granted, decision.reason) == (False, "upstream_denied")
