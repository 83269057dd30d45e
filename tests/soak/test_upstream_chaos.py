"""Soak, upstream chaos: the whole daemon asks a verify server that misbehaves at random
(stalls, resets, refuses, garbage, 500, grants just before and just after the deadline,
duplicate JSON keys) about unknown cards, while cached cards are presented in between.

What must hold whatever the server does: no grant but the server's correct "open" sent
within the deadline; every miss decided within the deadline + 100 ms; every presentation
journaled once; cached cards decided exactly as before, fast, and never asked about.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import start_daemon
from tests.soak.chaos_support import (
    ChaosUpstream,
    Journal,
    login,
    part_seconds,
    part_timeout,
    sim_post,
    write_config,
)
from tests.soak.conftest import seeded_random

CHAOS_S = 20.0  # the short form's length
DEADLINE_S = 1.0  # [upstream] timeout_s
LATE_MARGIN_MS = 100.0
CACHED_FAST_MS = 50.0  # from the decoded frame to the decision (the pipeline's figure)
CACHED_SEEN_S = 0.5  # from the presentation's start to the journaled decision time
READER = "front-wiegand"
# Demo users of the simulation file: two active cardholders and an inactive one.
CACHED = {"0C8707": (12, 34567), "0D10E1": (13, 4321), "0C2B67": (12, 11111)}
UNKNOWN_FACILITIES = (100, 250)  # no demo card has these facility codes


def upstream_settings(url: str) -> str:
    """[upstream] lines: the chaos server, a short deadline, a breaker that trips and
    closes again within the run (so both its paths see the chaos)."""
    return "\n".join(
        (
            f'url = "{url}"',
            f"timeout_s = {DEADLINE_S}",
            "breaker_failures = 4",
            "breaker_open_s = 1",
            "breaker_max_open_s = 2",
        )
    )


async def present(session: aiohttp.ClientSession, base: str, facility: int, number: int) -> None:
    bits = encode_h10301(facility, number)
    body = {"reader": READER, "bits": bits, "bit_interval_us": 500, "pulse_us": 50}
    await sim_post(session, base, "wiegand", body)


async def decisions(journal: Journal, count: int, timeout_s: float) -> list[dict[str, Any]]:
    """The first `count` access decisions of the reader (waits for them, bounded)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        found += [e for e in await journal.read_new() if e["type"] == "access"]
        await asyncio.sleep(0.05)
    assert len(found) == count, f"{count} presentations, {len(found)} decisions journaled"
    return found


@part_timeout("chaos", CHAOS_S)
async def test_upstream_chaos_grants_only_correct_answers_in_time(tmp_path: Path) -> None:
    rng, seed = seeded_random("upstream chaos")
    # Half the runs with aiohttp's pure-Python HTTP parser, which some installs get.
    pure_python = rng.random() < 0.5
    upstream = ChaosUpstream(rng, DEADLINE_S)
    await upstream.start()
    config = write_config(tmp_path, upstream=upstream_settings(upstream.url))
    environ = {"AIOHTTP_NO_EXTENSIONS": "1"} if pure_python else {}
    daemon = start_daemon(tmp_path / "state", config, environ=environ)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            base = daemon.base_url
            journal = Journal(session, base, await login(session, base))
            # Before any chaos: how the daemon decides each cached card.
            for facility, number in CACHED.values():
                await present(session, base, facility, number)
            baseline = {e["credential"]: e for e in await decisions(journal, len(CACHED), 10)}

            presented: list[str] = []
            started: list[float] = []  # wall time each presentation began
            numbers = iter(rng.sample(range(1, 65536), 65535))
            stop_at = time.monotonic() + part_seconds("chaos", CHAOS_S)
            while time.monotonic() < stop_at:
                if rng.random() < 0.3:
                    card = rng.choice(list(CACHED))
                    facility, number = CACHED[card]
                else:
                    facility, number = rng.randint(*UNKNOWN_FACILITIES), next(numbers)
                    card = f"{facility:02X}{number:04X}"
                started.append(time.time())
                await present(session, base, facility, number)
                presented.append(card)
                await asyncio.sleep(rng.uniform(0.0, 0.2))
            events = await decisions(journal, len(presented), DEADLINE_S + 10)
        assert daemon.process.poll() is None, "the daemon died under upstream chaos"
    finally:
        daemon.stop()
        await upstream.stop()

    assert Counter(e["credential"] for e in events) == Counter(presented), f"seed {seed}"
    misses = [e for e in events if e["credential"] not in CACHED]
    cached = [e for e in events if e["credential"] in CACHED]
    # A cached card is decided at once, so its decisions come in presentation order.
    cached_started = [t for t, card in zip(started, presented, strict=True) if card in CACHED]
    seen_after = [_epoch(e["time"]) - t for e, t in zip(cached, cached_started, strict=True)]
    _report(upstream, misses, cached, seed)
    print(f"  HTTP parser: {'pure Python' if pure_python else 'compiled'}")
    print(f"  cached presentation to decision s: max {max(seen_after, default=0):.3f}")

    for event in misses:
        card, why = event["credential"], f"seed {seed}: {event}"
        asked = upstream.requests.get(card)
        assert event["latency_ms"] <= DEADLINE_S * 1000 + LATE_MARGIN_MS, f"late miss, {why}"
        if event["granted"]:
            assert upstream.entitled_grant(card), f"grant without a correct answer, {why}"
            assert event["source"] == "upstream", why
        if asked is not None and asked.behaviour == "grant":
            assert event["granted"], f"a prompt correct grant was not honoured, {why}"
    assert not set(CACHED) & set(upstream.requests), "a cached card was asked about"
    for event in cached:
        before = baseline[event["credential"]]
        for field in ("granted", "reason", "user_id", "source"):
            assert event[field] == before[field], f"cached card decided differently: {event}"
        assert event["latency_ms"] < CACHED_FAST_MS, f"slow cached decision: {event}"
    assert max(seen_after, default=0.0) < CACHED_SEEN_S, f"seed {seed}: a cached card waited"


def _epoch(stamp: str) -> float:
    """An event's ISO 8601 UTC time as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _report(
    upstream: ChaosUpstream,
    misses: list[dict[str, Any]],
    cached: list[dict[str, Any]],
    seed: int,
) -> None:
    """What happened, by behaviour (shown with `pytest -s`, and with a failure)."""
    outcome: Counter[tuple[str, str]] = Counter()
    for event in misses:
        asked = upstream.requests.get(event["credential"])
        outcome[(asked.behaviour if asked else "not_asked", event["reason"])] += 1
    print(f"upstream chaos (seed {seed}): {len(misses)} misses, {len(cached)} cached cards")
    for (behaviour, reason), count in sorted(outcome.items()):
        print(f"  {behaviour:15} -> {reason:28} x{count}")
    for name, events in (("miss", misses), ("cached", cached)):
        latencies = sorted(e["latency_ms"] for e in events)
        if latencies:
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            median = statistics.median(latencies)
            print(f"  {name} latency ms: p50 {median:.1f}, p99 {p99:.1f}, max {latencies[-1]:.1f}")
