"""Real events for the terminal-section tests: cards at the simulated Wiegand reader, door
inputs, and waiting until the decisions are in the journal."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.hw.formats import encode_h10301
from tests.actatek.conftest import Api

ADA_BITS = encode_h10301(12, 34567)  # demo user 1001, Ada Lovelace
UNKNOWN_BITS = encode_h10301(99, 4242)  # nobody's card
SERIAL = "sim-gateway"  # [device] id of config/simulate.toml


async def sim(api: Api, path: str, body: dict[str, Any]) -> None:
    async with api.http.post(f"{api.base}/sim/{path}", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def access_events(api: Api) -> list[Any]:
    return [e for e in await api.gateway.recorder.read_events(0, 10_000) if e.type == "access"]


async def present(api: Api, bits: str, reader: str = "front-wiegand") -> Any:
    """Present a card and return its access event, once journaled."""
    before = len(await access_events(api))
    await sim(api, "wiegand", {"reader": reader, "bits": bits})
    for _ in range(200):
        events = await access_events(api)
        if len(events) > before:
            return events[-1]
        await asyncio.sleep(0.02)
    raise AssertionError("no access decision was journaled")


async def outputs(api: Api) -> dict[str, Any]:
    async with api.http.get(f"{api.base}/sim/outputs") as resp:
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result


async def logs(api: Api, query: str = "", role: str = "SUPERADMIN", limit: int = 0) -> Any:
    """getFullLogs (every field, `limit` 0 = all) with a query string; asserts 200."""
    status, body = await api.call("GET", f"getLogs/{api.sid(role)}/{limit}{query}")
    assert status == 200, body
    return body


async def journaled(api: Api, reason: str) -> Any:
    """The newest journal event with `reason`, waiting for it to be written."""
    for _ in range(200):
        found = [e for e in await api.gateway.recorder.read_events(0, 10_000) if e.reason == reason]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {reason} event was journaled")


async def journaled_access(api: Api, reader: str) -> Any:
    """The newest access event from `reader`, waiting for it to be written."""
    for _ in range(200):
        found = [e for e in await access_events(api) if e.reader == reader]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no access event from {reader} was journaled")
