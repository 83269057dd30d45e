"""Every reader of simulate.toml, fed through the simulation API, reports on the daemon's
clock: a reader's `last_seen` is the time of the daemon (here a manual clock stepped an
hour back), not the host's, so the status page agrees with the journal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.hw.formats import encode_h10301
from tests.web.conftest import Client

# (reader, /sim path, body): one input of each reader kind in config/simulate.toml.
INPUTS: list[tuple[str, str, dict[str, Any]]] = [
    ("front-wiegand", "/sim/wiegand", {"bits": encode_h10301(12, 34567)}),
    ("front-keypad", "/sim/keys", {"keys": "1"}),
    ("back-qr", "/sim/qr", {"text": "ticket-7"}),
    ("back-nfc", "/sim/card", {"uid": "04A1B2C3"}),
    ("back-exit", "/sim/card", {"uid": "04A1B2C3"}),
    ("front-exit-keypad", "/sim/keys", {"keys": "1"}),
]


async def last_seen(client: Client, reader: str) -> float | None:
    """The reader's `last_seen` once it has one (its driver may deliver from a thread)."""
    for _ in range(100):
        seen = client.gateway.status_board.status()["readers"][reader]["last_seen"]
        if seen is not None:
            return float(seen)
        await asyncio.sleep(0.05)
    return None


@pytest.mark.parametrize(("reader", "path", "body"), INPUTS, ids=[i[0] for i in INPUTS])
async def test_a_simulated_reader_stamps_with_the_daemons_clock(
    client: Client, reader: str, path: str, body: dict[str, Any]
) -> None:
    client.clock.step_wall(-3600)  # the daemon's wall clock alone goes back an hour
    status, answer, _ = await client.call("POST", path, json={"reader": reader, **body})
    assert status == 200, answer
    assert await last_seen(client, reader) == client.clock.time()
