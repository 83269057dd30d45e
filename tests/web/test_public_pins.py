"""Public PINs from `[access] public_pins`: applied to the store at start-up (the file is
the authority), opening a door whose auth mode lets a PIN alone in, never logged."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.accounts import apply_public_pins
from gateway.app import Gateway
from gateway.clock import Instant
from gateway.model import Credential, Event, User
from gateway.store.errors import StoreError
from gateway.store.stores import Stores
from tests.fakes import ManualClock
from tests.web.conftest import settings_for

FIRST, SECOND = "7391", "46820137"


class Gateways:
    """Starts in-process gateways on one state dir (one after the other) and stops them."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.running: Gateway | None = None

    async def start(self, *pins: str) -> Gateway:
        await self.stop()
        settings = settings_for(self.state_dir)
        access = dataclasses.replace(settings.access, public_pins=pins)
        # The system clock: simulated Wiegand frames end on real gaps between bits.
        gateway = Gateway(dataclasses.replace(settings, access=access))
        await gateway.start()
        self.running = gateway
        return gateway

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()
            self.running = None


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[Gateways]:
    started = Gateways(tmp_path / "state")
    yield started
    await started.stop()


async def type_keys(gateway: Gateway, keys: str) -> dict[str, object]:
    """Keys on the front door's keypad (simulation API); the access decision they made."""
    await gateway.recorder.flush()
    after = gateway.journal.last_seq()
    url = f"http://{gateway.settings.web.listen}/sim/keys"
    payload = {"reader": "front-keypad", "keys": keys}
    async with aiohttp.ClientSession() as http, http.post(url, json=payload) as resp:
        assert resp.status == 200, await resp.text()
    deadline = asyncio.get_running_loop().time() + 5.0
    while asyncio.get_running_loop().time() < deadline:  # the reader's frames reach the loop
        for event in await gateway.recorder.read_events(after, 100):
            if event.type == "access":
                return event.as_dict()
        await asyncio.sleep(0.02)
    raise AssertionError(f"no access decision after seq {after}")


async def test_a_configured_public_pin_opens_the_door_until_the_file_drops_it(
    gateways: Gateways, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = await gateways.start(FIRST, SECOND)
    opened = await type_keys(gateway, FIRST + "#")
    assert (opened["granted"], opened["reason"], opened["user_id"]) == (True, "granted", None)
    assert "public_pin" in str(opened["trace"]) and opened["credential"] == "****"
    assert gateway.doors["front"].status()["lock"] == "unlocked"

    gateway = await gateways.start()  # the file now has no public PINs: none are kept
    refused = await type_keys(gateway, FIRST + "#")
    assert refused["granted"] is False
    journal = [row.as_dict() for row in await gateway.recorder.read_events(0, 1000)]
    changes = [e for e in journal if e["reason"] == "public_pins_changed"]
    assert [e["trace"] for e in changes] == [
        "2 public PINs from the configuration file",
        "0 public PINs from the configuration file",
    ]
    assert FIRST not in caplog.text and SECOND not in caplog.text
    assert FIRST not in str(journal) and SECOND not in str(journal)


async def test_an_unchanged_restart_writes_nothing(gateways: Gateways) -> None:
    gateway = await gateways.start(FIRST)
    version = gateway.stores.engine_state.rules_version()
    gateway = await gateways.start(FIRST)
    assert gateway.stores.engine_state.rules_version() == version  # no rules reload anywhere
    journal = [row.as_dict() for row in await gateway.recorder.read_events(0, 1000)]
    assert len([e for e in journal if e["reason"] == "public_pins_changed"]) == 1


@pytest.mark.parametrize(("mode", "opens"), [("any", True), ("pin", True), ("card", False)])
async def test_only_doors_a_pin_alone_opens_take_a_public_pin(
    gateways: Gateways, mode: str, opens: bool
) -> None:
    gateway = await gateways.start(SECOND)
    door = dataclasses.replace(gateway.settings.door("front"), auth_mode=mode)
    engine = AccessEngine(
        gateway.settings.access,
        {"front": door},
        {r.name: r for r in gateway.settings.readers},
        gateway.tz,
        gateway.hasher,
        gateway.stores.engine_state.load_snapshot(),  # what start-up put in the store
    )
    now = Instant.read(gateway.clock)
    decision = engine.decide(Credential("pin", SECOND, "front-keypad", now.wall), "front", now)
    assert decision.granted is opens


def test_a_public_pin_that_is_a_private_pin_stops_start_up_without_saying_it(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "state")
    settings = dataclasses.replace(
        settings, access=dataclasses.replace(settings.access, public_pins=(SECOND, FIRST))
    )
    stores = Stores.open(tmp_path / "gateway.db", PinHasher(b"k" * 32))
    events: list[Event] = []
    try:
        stores.users.add_user(User("u1", pin=FIRST))
        with pytest.raises(StoreError) as refused:
            apply_public_pins(settings, stores.users, events.append, ManualClock())
        assert stores.users.count_public_pins() == 0  # nothing half-applied
    finally:
        stores.close()
    message = str(refused.value)
    assert message.startswith(f"{settings.path}: access.public_pins: ")
    assert "private PIN" in message
    assert FIRST not in message and SECOND not in message and "[1]" not in message
    assert events == []
