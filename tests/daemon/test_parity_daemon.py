"""The Akuvox door-opening settings of docs/reference-parity.md, in the whole daemon: the
simulation configuration with those settings added, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.daemon.test_simulated_daemon import login, wait_for

BACK_DOOR = "# The second door has a maglock"
# The front door's doorbell also opens the back door if still pressed after 0.3 s; the
# back door's exit button is a normally-closed one (it triggers at the high level).
INPUT_ACTIONS = """
[[doors.input_actions]]
input = "doorbell"
relay = "lock"
relay_door = "back"
delay_s = 0.3
only_if_still_active = true

"""


def parity_config(tmp_path: Path) -> Path:
    text = SIMULATE.read_text()
    assert BACK_DOOR in text and "\nrex_pin = 21\n" in text
    text = text.replace(BACK_DOOR, INPUT_ACTIONS + BACK_DOOR, 1)
    text = text.replace("\nrex_pin = 21\n", '\nrex_pin = 21\nrex_trigger_level = "high"\n', 1)
    path = tmp_path / "parity.toml"
    path.write_text(text)
    return path


@pytest.fixture
def parity(tmp_path: Path) -> Iterator[Daemon]:
    running = start_daemon(tmp_path / "state", parity_config(tmp_path))
    yield running
    running.stop()


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base
        self.headers: dict[str, str] = {}

    async def post(self, path: str, body: dict[str, Any]) -> int:
        async with self.session.post(f"{self.base}{path}", json=body, headers=self.headers) as resp:
            return resp.status

    async def door(self, name: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/sim/outputs") as resp:
            return dict((await resp.json())["doors"][name])

    async def events(self) -> list[dict[str, Any]]:
        async with self.session.get(
            f"{self.base}/api/v1/events?after=0&limit=1000", headers=self.headers
        ) as resp:
            assert resp.status == 200
            return list((await resp.json())["events"])


async def client(session: aiohttp.ClientSession, daemon: Daemon) -> Client:
    made = Client(session, daemon.base_url)
    made.headers = await login(session, daemon.base_url)
    return made


def timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=10)


# -- item 2: inputs, trigger levels, "Execute Relay" ------------------------------------


async def test_a_doorbell_held_through_the_delay_opens_the_other_door(parity: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=timeout()) as session:
        gateway = await client(session, parity)
        bell = {"door": "front", "input": "doorbell"}
        assert await gateway.post("/sim/input", {**bell, "active": True}) == 200

        async def back_unlocked() -> bool:
            return (await gateway.door("back"))["relay"] == "unlocked"

        await wait_for(back_unlocked)
        assert (await gateway.door("front"))["relay"] == "locked"
        assert await gateway.post("/sim/input", {**bell, "active": False}) == 200
        traces = [e["trace"] for e in await gateway.events() if e["reason"] == "input_relay"]
        assert traces == ["doorbell > back:lock pulsed"]


async def test_an_exit_button_that_triggers_high_opens_its_door(parity: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=timeout()) as session:
        gateway = await client(session, parity)
        body = {"door": "back", "input": "rex", "active": True}
        assert await gateway.post("/sim/input", body) == 200

        async def back_unlocked() -> bool:
            return (await gateway.door("back"))["relay"] == "unlocked"

        await wait_for(back_unlocked)
        reasons = [(e["reason"], e["trace"]) for e in await gateway.events() if e["door"] == "back"]
        assert ("exit_button", "unlock") in reasons
