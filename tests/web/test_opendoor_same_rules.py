"""One access rule, one place: the same user in the same situation gets the same reason and
the same trace whether they badge at a reader or an Akuvox device sends OpenDoor by Code.

Each situation runs on a fresh gateway (simulate.toml, with anti-passback switched on for
the readers and for HTTP unlocks alike): Ada's card is presented at the front door's
Wiegand reader (direction in), then the same card is sent as `OpenDoor&Code=...&
AntiPassbackMode=Entry` for the same door, and the two journal events are compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.model import Credential
from gateway.settings import AutoInOutSettings
from tests.fakes import ManualClock
from tests.web.conftest import ADA_CARD, Client, settings_for

ADA = "1001"
READER = "front-wiegand"  # the front door's entry reader
OPENDOOR = {"Code": ADA_CARD, "UnlockType": "RF Card", "AntiPassbackMode": "Entry"}
NOBODY_AT_ANY_TIME = 7  # an access right with no slot switched on


async def present_card(client: Client) -> dict[str, Any]:
    """Ada's card at the front reader, through the real pipeline; its journal event."""
    gateway = client.gateway
    gateway.pipeline.credential(Credential("card", ADA_CARD, READER, client.clock.time()))
    return (await client.events(type="access", reader=READER))[-1]


async def send_opendoor(client: Client) -> dict[str, Any]:
    """Ada's card as an OpenDoor Entry for door 1 (front); its journal event."""
    await client.open_door(**OPENDOOR)
    return (await client.events(type="access", reader="http_unlock"))[-1]


def steps(trace: str) -> list[str]:
    """The trace's steps, without the HTTP request's own first step (who sent it)."""
    return [step for step in trace.split(" > ") if not step.startswith("http_unlock:")]


def step_name(step: str) -> str:
    return step.split(":", 1)[0].split("=", 1)[0]


def assert_same_decision(at_reader: dict[str, Any], by_code: dict[str, Any]) -> None:
    """Same outcome, same user, same credential; the same rules in the same order with the
    same findings (only the auth mode differs: a reader's door mode, the sender's check)."""
    for key in ("granted", "reason", "user_id", "credential_kind", "credential", "direction"):
        assert at_reader[key] == by_code[key], (key, at_reader, by_code)
    reader_steps, code_steps = steps(at_reader["trace"]), steps(by_code["trace"])
    assert [step_name(s) for s in reader_steps] == [step_name(s) for s in code_steps], (
        at_reader["trace"],
        by_code["trace"],
    )
    for reader_step, code_step in zip(reader_steps, code_steps, strict=True):
        if step_name(reader_step) != "auth_mode":
            assert reader_step == code_step, (at_reader["trace"], by_code["trace"])


async def edit_ada(client: Client, **changes: Any) -> None:
    users = client.gateway.stores.users
    ada = users.get_user(ADA)
    assert ada is not None
    users.update_user(dataclasses.replace(ada, **changes))
    await client.gateway.rule_changes.settled()


async def inactive(client: Client) -> None:
    await edit_ada(client, active=False)


async def expired(client: Client) -> None:
    await edit_ada(client, expiry="2020-01-01T00:00:00Z")


async def door_not_permitted(client: Client) -> None:
    await edit_ada(client, doors=["back"])


async def outside_schedule(client: Client) -> None:
    organisation = client.gateway.stores.organisation
    organisation.put_access_right(NOBODY_AT_ANY_TIME, "Nobody", {})
    organisation.put_access_group(NOBODY_AT_ANY_TIME, "Nobody", 0, [NOBODY_AT_ANY_TIME])
    await edit_ada(client, groups=[NOBODY_AT_ANY_TIME])


async def lockdown(client: Client) -> None:
    client.gateway.door_commands.set_lockdown("front", True, "tester")


async def nothing(client: Client) -> None:
    return None


Situation = Callable[[Client], Awaitable[None]]
Start = Callable[[], Awaitable[Client]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """A gateway whose readers and HTTP unlocks both enforce hard anti-passback."""
    running: list[tuple[Gateway, aiohttp.ClientSession]] = []

    async def _start() -> Client:
        settings = settings_for(tmp_path / "state", antipassback="hard")
        access = dataclasses.replace(
            settings.access, auto_in_out=AutoInOutSettings(mode="anti_passback")
        )
        clock = ManualClock()
        gateway = Gateway(dataclasses.replace(settings, access=access), clock=clock)
        await gateway.start()
        assert await gateway.rules.loaded(10.0)  # as a technician sees "rules: ready"
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        running.append((gateway, http))
        return Client(http, gateway, clock)

    yield _start
    for gateway, http in running:
        await http.close()
        await gateway.stop()


@pytest.mark.parametrize(
    ("situation", "reason"),
    [
        (nothing, "granted"),
        (inactive, "user_inactive"),
        (expired, "user_expired"),
        (door_not_permitted, "door_not_permitted"),
        (outside_schedule, "outside_schedule"),
        (lockdown, "lockdown"),
    ],
)
async def test_a_card_at_a_reader_and_opendoor_by_code_decide_alike(
    start: Start, situation: Situation, reason: str
) -> None:
    client = await start()
    await situation(client)
    at_reader = await present_card(client)
    by_code = await send_opendoor(client)
    assert at_reader["reason"] == reason
    assert_same_decision(at_reader, by_code)


async def test_anti_passback_refuses_the_second_entry_alike(start: Start) -> None:
    client = await start()
    first_at_reader, first_by_code = await present_card(client), await send_opendoor(client)
    assert_same_decision(first_at_reader, first_by_code)
    client.clock.advance(10)  # the door has relocked
    again_at_reader, again_by_code = await present_card(client), await send_opendoor(client)
    assert again_at_reader["reason"] == "anti_passback"
    assert_same_decision(again_at_reader, again_by_code)


async def test_the_opendoor_decision_is_journaled_before_the_door_moves(start: Start) -> None:
    """As at a reader: the access event has the lower seq than the unlock it causes, so a
    log read in order shows the cause first."""
    client = await start()
    await client.open_door(**OPENDOOR)
    events = await client.events()
    access = next(e for e in events if e["type"] == "access")
    unlocked = next(e for e in events if e["type"] == "door" and e["reason"] == "unlocked")
    assert access["granted"] and access["seq"] < unlocked["seq"]


async def test_a_remote_unlock_is_journaled_before_the_door_moves(start: Start) -> None:
    client = await start()
    await client.open_door()
    events = await client.events()
    api = next(e for e in events if e["type"] == "api" and e["reason"] == "remote_unlock")
    unlocked = next(e for e in events if e["type"] == "door" and e["reason"] == "unlocked")
    assert api["seq"] < unlocked["seq"]


async def test_an_entry_refused_in_lockdown_is_no_passage_alike(start: Start) -> None:
    """Refused at a door in lockdown, the user is still outside: once the lockdown is
    lifted, the same entry opens, at a reader as by OpenDoor."""
    client = await start()
    await lockdown(client)
    assert (await present_card(client))["reason"] == "lockdown"
    assert (await send_opendoor(client))["reason"] == "lockdown"
    client.gateway.door_commands.set_lockdown("front", False, "tester")
    at_reader, by_code = await present_card(client), await send_opendoor(client)
    assert at_reader["reason"] == "granted"
    assert_same_decision(at_reader, by_code)
