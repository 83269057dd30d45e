"""The Akuvox door-opening settings of docs/reference-parity.md, in the whole daemon: the
simulation configuration with those settings added, driven over HTTP."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.daemon.test_simulated_daemon import login, wait_for
from tests.doors.ftp_server import serve_ftp

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


# Private PINs of 6 to 8 digits (the demo users' PINs made that long), and no RF cards at
# the back door.
PIN_SETTINGS = "two_factor_timeout_s = 15\npin_min_digits = 6\n"
# A licence-plate camera at the back door that prints each plate it reads as a line.
PLATE_READER = """[[readers]]
name = "back-lpr"
kind = "serial"
door = "back"
port = "sim"
protocol = "line"
credential_kind = "plate"
debounce_s = 0  # each test presentation counts

"""
# The front door stays unlocked all day (access right 0, "Always") once a user with the
# schedule activation permission has opened it.
FIRST_PERSON_IN = (
    "second_relay_pulse_s = 1\nunlock_schedule = 0\nunlock_schedule_first_person = true\n"
)
DEMO_PINS = {'pin = "1234"': 'pin = "123456"', 'pin = "2468"': 'pin = "246802"'}


def parity_config(tmp_path: Path) -> Path:
    text = SIMULATE.read_text()
    replacements = {
        BACK_DOOR: INPUT_ACTIONS + BACK_DOOR,
        "\nrex_pin = 21\n": '\nrex_pin = 21\nrex_trigger_level = "high"\ncards_enabled = false\n',
        "two_factor_timeout_s = 15\n": PIN_SETTINGS,
        "# A PN532 NFC reader": PLATE_READER + "# A PN532 NFC reader",
        "second_relay_pulse_s = 1\n": FIRST_PERSON_IN,
        'state_dir = "var"': f'state_dir = "{tmp_path / "state"}"',
        **DEMO_PINS,
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "parity.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return parity_config(tmp_path)


@pytest.fixture
def parity(tmp_path: Path, config: Path) -> Iterator[Daemon]:
    running = start_daemon(tmp_path / "state", config)
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


# -- item 1: PIN lengths, per-door credential switches ----------------------------------


async def actatek_session(session: aiohttp.ClientSession, base: str) -> str:
    body = {"username": "admin", "password": "simulate"}
    async with session.post(f"{base}/cgi-bin/restapi/login", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["sessionid"])


async def test_the_actatek_api_refuses_a_pin_shorter_than_the_settings(parity: Daemon) -> None:
    async with aiohttp.ClientSession(timeout=timeout()) as session:
        sid = await actatek_session(session, parity.base_url)
        url = f"{parity.base_url}/cgi-bin/restapi/user/{sid}"
        async with session.post(url, json={"userID": "U1", "password": "1357"}) as resp:
            refused = await resp.json()
        assert refused["status"] != "success"
        assert "6 to 8 digits" in refused["message"] and "1357" not in refused["message"]
        async with session.get(url) as resp:
            listed = json.dumps(await resp.json())
        assert '"U1"' not in listed  # nothing stored
        async with session.post(url, json={"userID": "U1", "password": "135791"}) as resp:
            assert (await resp.json())["status"] == "success"


def test_the_cli_import_refuses_a_pin_shorter_than_the_settings(
    parity: Daemon, config: Path, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id,pin\nU7,13579\n")
    command = [
        sys.executable,
        "-m",
        "gateway",
        "users",
        "import",
        str(users),
        "--config",
        str(config),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "line 2" in done.stderr and "6 to 8 digits" in done.stderr
    assert "13579" not in done.stderr + done.stdout
    with closing(sqlite3.connect(parity.state_dir / "gateway.db")) as db:
        assert db.execute("SELECT 1 FROM users WHERE user_id = 'U7'").fetchone() is None


async def test_a_card_at_a_door_without_cards_is_denied_with_its_own_reason(
    parity: Daemon,
) -> None:
    async with aiohttp.ClientSession(timeout=timeout()) as session:
        gateway = await client(session, parity)
        assert await gateway.post("/sim/card", {"reader": "back-nfc", "uid": "0C8707"}) == 200

        async def denial() -> list[dict[str, Any]]:
            return [e for e in await gateway.events() if e["reason"] == "method_off"]

        event = (await wait_for(denial))[0]
        assert event["door"] == "back" and event["granted"] is False
        assert event["trace"].startswith("door:cards_enabled=false")
        assert (await gateway.door("back"))["relay"] == "locked"
        # The same card still opens the front door, whose cards are on.
        body = {"reader": "front-wiegand", "bits": encode_h10301(12, 34567)}
        assert await gateway.post("/sim/wiegand", body) == 200

        async def front_unlocked() -> bool:
            return (await gateway.door("front"))["relay"] == "unlocked"

        await wait_for(front_unlocked)


# -- item 8: plate duration ----------------------------------------------------------------


def utc(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def plate_decision(gateway: Client, after: int) -> dict[str, Any]:
    """Present plate AB12CDE at the back gate; the access event it made."""
    assert await gateway.post("/sim/qr", {"reader": "back-lpr", "text": "AB12CDE"}) == 200

    async def decided() -> list[dict[str, Any]]:
        events = await gateway.events()
        return [e for e in events if e["type"] == "access" and e["seq"] > after]

    return (await wait_for(decided))[0]


async def last_seq(gateway: Client) -> int:
    return max((e["seq"] for e in await gateway.events()), default=0)


async def step_clock(gateway: Client, seconds: float) -> None:
    assert await gateway.post("/sim/clock", {"step_s": seconds}) == 200


async def test_a_plate_opens_only_within_its_window_also_after_a_restart(
    tmp_path: Path, config: Path
) -> None:
    state = tmp_path / "state"
    daemon = start_daemon(state, config)
    try:
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            sid = await actatek_session(session, daemon.base_url)
            now = time.time()
            plate = {"keytype": 2, "keystring": "AB12CDE"}
            plate |= {"validfrom": utc(now - 3600), "validuntil": utc(now + 3600)}
            url = f"{daemon.base_url}/cgi-bin/restapi/user/{sid}"
            body = {"userID": "V1", "firstName": "Visitor", "keyrecords": [plate]}
            async with session.post(url, json=body) as resp:
                assert (await resp.json())["status"] == "success"
            async with session.get(url) as resp:
                shown = json.dumps(await resp.json())
            assert f'"validuntil": "{utc(now + 3600)}"' in shown
            gateway = await client(session, daemon)
            granted = await plate_decision(gateway, await last_seq(gateway))
            assert (granted["granted"], granted["user_id"]) == (True, "V1")
            await step_clock(gateway, 2 * 3600)  # the wall clock moves past the window
            denied = await plate_decision(gateway, await last_seq(gateway))
            assert (denied["granted"], denied["reason"]) == (False, "plate_outside_window")
            assert "=out" in denied["trace"]
    finally:
        daemon.stop()
    daemon = start_daemon(state, config)  # a restart: the window comes back from the store
    try:
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            gateway = await client(session, daemon)
            assert (await plate_decision(gateway, await last_seq(gateway)))["granted"] is True
            await step_clock(gateway, -2 * 3600)  # before the window
            denied = await plate_decision(gateway, await last_seq(gateway))
            assert denied["reason"] == "plate_outside_window"
    finally:
        daemon.stop()


# -- the Akuvox "Relay Schedule Activation Permission" ------------------------------------


async def test_only_a_user_with_the_permission_starts_the_unlock_schedule(
    parity: Daemon,
) -> None:
    async with aiohttp.ClientSession(timeout=timeout()) as session:
        sid = await actatek_session(session, parity.base_url)
        url = f"{parity.base_url}/cgi-bin/restapi/user/{sid}"
        visitor = {"userID": "V2", "cardsn": "0C3039", "scheduleActivation": False}
        async with session.post(url, json=visitor) as resp:
            assert (await resp.json())["status"] == "success"
        gateway = await client(session, parity)

        async def schedule() -> str:
            async with session.get(
                f"{parity.base_url}/api/v1/status", headers=gateway.headers
            ) as resp:
                return str((await resp.json())["doors"]["front"]["schedule"])

        async def granted_to(user_id: str) -> bool:
            events = await gateway.events()
            return any(e["granted"] and e["user_id"] == user_id for e in events)

        visitor_card = {"reader": "front-wiegand", "bits": encode_h10301(12, 12345)}
        assert await gateway.post("/sim/wiegand", visitor_card) == 200
        await wait_for(lambda: granted_to("V2"))
        assert await schedule() == "waiting_first_person"  # opened, schedule not started
        staff_card = {"reader": "front-wiegand", "bits": encode_h10301(12, 34567)}
        assert await gateway.post("/sim/wiegand", staff_card) == 200
        await wait_for(lambda: granted_to("1001"))

        async def active() -> bool:
            return await schedule() == "active"

        await wait_for(active)


async def test_an_opened_door_stores_a_notification_on_an_ftp_server(
    tmp_path: Path, config: Path
) -> None:
    with serve_ftp(tmp_path / "ftp") as ftp:
        action = f'[[doors.input_actions]]\ninput = "contact"\nftp_url = "{ftp.url()}"\n\n'
        config.write_text(config.read_text().replace(BACK_DOOR, action + BACK_DOOR, 1))
        daemon = start_daemon(tmp_path / "state", config)
        try:
            async with aiohttp.ClientSession(timeout=timeout()) as session:
                gateway = await client(session, daemon)
                body = {"door": "front", "input": "contact", "active": True}
                assert await gateway.post("/sim/input", body) == 200

                async def stored() -> list[Path]:
                    return ftp.stored()

                (notification,) = await wait_for(stored)
                assert notification.name.startswith("front-contact-")
                assert "door=front\ninput=contact\n" in notification.read_text()
        finally:
            daemon.stop()
