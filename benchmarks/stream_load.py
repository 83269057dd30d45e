"""Card decisions with live event streams open (docs/api.md, "Live events").

    python -m benchmarks.stream_load [STREAMS ...]

Starts an in-process gateway (simulated hardware, real SQLite, real HTTP on loopback, the
real clock), opens STREAMS event streams (0 and 20 unless told) that read every event as a
status page would, and presents cards through /sim/wiegand one after the other. For each
card it takes two figures from the journal:

- `decide_ms`: the pipeline's own latency (credential delivered -> decision journaled);
- `card_to_decision_ms`: from the /sim/wiegand request to the decision's time, i.e. the
  frame played on the lines, its end detected, decided (the journal keeps milliseconds).

Prints JSON, figures only; the test in tests/web/test_event_stream.py asserts a generous
bound on the same measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from gateway.app import Gateway
from gateway.config import load_settings
from gateway.hw.formats import encode_h10301

REPO = Path(__file__).resolve().parents[1]
CARDS = 40
PAUSE_S = 0.05  # between cards, as a queue of people would leave
READER = "front-wiegand"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max": round(ordered[-1], 3),
    }


async def _drain(response: aiohttp.ClientResponse, received: list[int]) -> None:
    """Read a stream to its end, counting its events (a live page does this)."""
    with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
        async for line in response.content:
            if line.startswith(b"id: "):
                received.append(int(line[4:]))


async def _present(http: aiohttp.ClientSession, base: str, cards: int) -> list[float]:
    """Present `cards` unknown cards (each a new number: no repeat rule applies); the wall
    time each request started."""
    started = []
    for n in range(cards):
        body = {"reader": READER, "bits": encode_h10301(201, n), "bit_interval_us": 500}
        started.append(time.time())
        async with http.post(f"{base}/sim/wiegand", json=body) as resp:
            assert resp.status == 200, await resp.text()
        await asyncio.sleep(PAUSE_S)
    return started


async def measure(streams: int, cards: int = CARDS) -> dict[str, Any]:
    """Decision figures with `streams` streams open (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(REPO / "config" / "simulate.toml")
        device = dataclasses.replace(settings.device, state_dir=tmp)
        web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{_free_port()}")
        gateway = Gateway(dataclasses.replace(settings, device=device, web=web))
        await gateway.start()
        base = f"http://{web.listen}"
        try:
            async with aiohttp.ClientSession() as http:
                login = {"username": "admin", "password": "simulate"}
                async with http.post(f"{base}/api/v1/login", json=login) as resp:
                    token = (await resp.json())["token"]
                headers = {"Authorization": f"Bearer {token}"}
                opened = [
                    await http.get(f"{base}/api/v1/events/stream", headers=headers)
                    for _ in range(streams)
                ]
                assert all(resp.status == 200 for resp in opened)
                received: list[list[int]] = [[] for _ in opened]
                readers = [
                    asyncio.create_task(_drain(resp, got))
                    for resp, got in zip(opened, received, strict=True)
                ]
                first = gateway.recorder.last_seq()
                started = await _present(http, base, cards)
                await gateway.writer.flush()
                await asyncio.sleep(0.2)  # the streams deliver the last events
                for resp in opened:
                    resp.close()
                for task in readers:
                    task.cancel()
                await asyncio.gather(*readers, return_exceptions=True)
            rows = await gateway.recorder.read_events(first, 10_000)
        finally:
            await gateway.stop()
    decisions = [r for r in rows if r.type == "access" and r.reader == READER]
    assert len(decisions) == cards, f"{len(decisions)} decisions for {cards} cards"
    to_decision = [
        (datetime.fromisoformat(r.time).timestamp() - t0) * 1000.0
        for r, t0 in zip(decisions, started, strict=True)
    ]
    return {
        "streams": streams,
        "cards": cards,
        "decide_ms": _summary([r.latency_ms or 0.0 for r in decisions]),
        "card_to_decision_ms": _summary(to_decision),
        "events_per_stream": min((len(got) for got in received), default=0),
    }


def main() -> int:
    counts = [int(arg) for arg in sys.argv[1:]] or [0, 20]
    results = [asyncio.run(measure(count)) for count in counts]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
