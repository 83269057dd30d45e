"""A journal whose sync hangs (a worn SD card, a stalled USB disk) never delays the door:
the card opens it at once, and the decision is journaled once the sync returns."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import load_settings
from gateway.model import Event
from tests.actatek.terminal_sim import ADA_BITS

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = load_settings(REPO / "config" / "simulate.toml")
    device = dataclasses.replace(settings.device, state_dir=str(tmp_path / "state"))
    web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}")
    running = Gateway(dataclasses.replace(settings, device=device, web=web))
    await running.start()
    yield running
    await running.stop()


async def front_relay(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}/sim/outputs") as resp:
        body: dict[str, Any] = await resp.json()
    return str(body["doors"]["front"]["relay"])


async def test_a_hanging_sync_never_delays_the_door(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    await gateway.recorder.flush()
    write = gateway.journal.append_batch
    sync_returns = threading.Event()

    def hanging_sync(events: list[Event]) -> list[int]:
        assert sync_returns.wait(20), "the test never let the sync return"
        return write(events)

    monkeypatch.setattr(gateway.journal, "append_batch", hanging_sync)
    base = f"http://{gateway.settings.web.listen}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            body = {"reader": "front-wiegand", "bits": ADA_BITS}
            async with http.post(f"{base}/sim/wiegand", json=body) as resp:
                assert resp.status == 200
            for _ in range(100):
                if await front_relay(http, base) == "unlocked":
                    break
                await asyncio.sleep(0.02)
            assert await front_relay(http, base) == "unlocked"
            assert gateway.writer.status()["queued"] >= 1  # the decision waits for the disk
    finally:
        sync_returns.set()
    await gateway.recorder.flush()
    decisions = [
        e for e in await gateway.recorder.read_events(0, 1000) if e.type == "access" and e.granted
    ]
    assert len(decisions) == 1
