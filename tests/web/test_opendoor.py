"""GET /fcgi/OpenDoor: Akuvox "Open Relay via HTTP" with anti-passback (reference 003)."""

from __future__ import annotations

import pytest

from tests.web.conftest import (
    ADA_CARD,
    ADA_PIN,
    GRACE_CARD,
    INACTIVE_CARD,
    OPENDOOR_USER,
    Client,
    Start,
    basic,
    stop,
)

CARD = {"UnlockType": "RF Card"}


def relay(client: Client, door: str = "front") -> str:
    return str(client.gateway.doors[door].status()["lock"])


async def test_missing_or_wrong_password_is_401_with_a_basic_challenge(client: Client) -> None:
    status, body, headers = await client.call(
        "GET", "/fcgi/OpenDoor", params={"action": "OpenDoor", "DoorNum": "1"}
    )
    assert status == 401 and body["result"] == "error"
    assert headers["WWW-Authenticate"].startswith("Basic ")
    for auth in (
        basic(OPENDOOR_USER, "simulatf"),
        basic("someone", "simulate"),
    ):
        status, _, headers = await client.open_door(auth=auth)
        assert status == 401 and "WWW-Authenticate" in headers
    assert relay(client) == "locked"
    failures = await client.events(type="api", reason="http_unlock_auth_failed")
    assert len(failures) == 3 and failures[1]["user_id"] == OPENDOOR_USER


async def test_entry_entry_is_refused_then_exit_opens(client: Client) -> None:
    status, body, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert (status, body) == (200, {"result": "granted"})
    assert relay(client) == "unlocked"
    status, body, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "anti_passback"})
    status, body, _ = await client.open_door(AntiPassbackMode="Exit", Code=ADA_CARD, **CARD)
    assert (status, body) == (200, {"result": "granted"})
    events = await client.events(type="access", reader="http_unlock")
    assert [(e["granted"], e["reason"]) for e in events] == [
        (True, "granted"),
        (False, "anti_passback"),
        (True, "granted"),
    ]
    assert all(e["user_id"] == "1001" and e["credential"] == ADA_CARD for e in events)
    assert "by=opendoor" in events[0]["trace"] and "unlock_type=RF Card" in events[0]["trace"]


async def test_soft_anti_passback_grants_the_repeat_and_notes_it(start: Start) -> None:
    client = await start(antipassback="soft")
    for _ in range(2):
        status, body, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
        assert (status, body) == (200, {"result": "granted"})
    events = await client.events(type="access", reader="http_unlock")
    assert [e["granted"] for e in events] == [True, True]
    assert "note:anti_passback_violation" in events[1]["trace"]
    assert "anti_passback_violation" not in events[0]["trace"]


async def test_antipassback_off_ignores_the_mode(start: Start) -> None:
    client = await start(antipassback="off")
    for _ in range(2):
        status, _, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
        assert status == 200


async def test_unknown_user_is_403_and_journaled(client: Client) -> None:
    status, body, _ = await client.open_door(AntiPassbackMode="Entry", Code="C81092", **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "unknown_user"})
    status, body, _ = await client.open_door(AntiPassbackMode="Entry", Name="Nobody Here")
    assert (status, body) == (403, {"result": "denied", "reason": "unknown_user"})
    assert relay(client) == "locked"
    events = await client.events(type="access", granted=False)
    assert [e["credential"] for e in events] == ["C81092", None]


async def test_a_known_card_does_not_fall_back_to_the_name(client: Client) -> None:
    # An unknown card named as a card must not open by its owner's name (a revoked card).
    status, body, _ = await client.open_door(Code="C81092", Name="Ada Lovelace", **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "unknown_user"})


async def test_user_found_by_name(client: Client) -> None:
    status, _, _ = await client.open_door(AntiPassbackMode="Entry", Name="grace  HOPPER")
    assert status == 200
    (event,) = await client.events(type="access", granted=True)
    assert event["user_id"] == "1002" and event["credential"] is None


async def test_card_codes_are_canonical_hex_in_any_case_and_separators(client: Client) -> None:
    status, _, _ = await client.open_door(Code="0d:10:e1", **CARD)
    assert status == 200
    (event,) = await client.events(type="access", granted=True)
    assert event["user_id"] == "1002" and event["credential"] == GRACE_CARD


async def test_pin_code_is_masked_in_the_journal(client: Client) -> None:
    status, _, _ = await client.open_door(AntiPassbackMode="Entry", UnlockType="PIN", Code=ADA_PIN)
    assert status == 200
    status, body, _ = await client.open_door(UnlockType="Private PIN", Code="9876")
    assert (status, body) == (403, {"result": "denied", "reason": "unknown_user"})
    status, body, _ = await client.open_door(UnlockType="Face", Code="5555")  # may be a PIN
    assert status == 403
    events = await client.events(type="access", reader="http_unlock")
    assert [e["credential"] for e in events] == ["****", "****", "****"]
    assert events[0]["user_id"] == "1001" and events[0]["credential_kind"] == "pin"
    for event in events:
        assert not any(pin in str(event) for pin in (ADA_PIN, "9876", "5555"))


async def test_an_inactive_user_is_refused(client: Client) -> None:
    status, body, _ = await client.open_door(Code=INACTIVE_CARD, **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "user_inactive"})


async def test_door_numbers_count_the_doors_in_config_order(client: Client) -> None:
    status, _, _ = await client.open_door(DoorNum="2", Code=ADA_CARD, **CARD)
    assert status == 200
    assert relay(client, "back") == "unlocked" and relay(client, "front") == "locked"
    for door_num in ("0", "3", "999"):
        status, body, _ = await client.open_door(DoorNum=door_num)
        assert status == 404 and body["result"] == "error"


@pytest.mark.parametrize(
    "query",
    [
        {"action": "OpenDoor", "DoorNum": "abc"},
        {"action": "OpenDoor", "DoorNum": "²"},
        {"action": "OpenDoor"},
        {"action": "Close", "DoorNum": "1"},
        {"action": "OpenDoor", "DoorNum": "1", "AntiPassbackMode": "Sideways"},
        {"action": "OpenDoor", "DoorNum": "1", "Extra": "x"},
        {"action": "OpenDoor", "DoorNum": "1", "Name": "x" * 129},
        {"action": "OpenDoor", "DoorNum": "1", "Code": "\x00"},
    ],
)
async def test_malformed_queries_are_400(client: Client, query: dict[str, str]) -> None:
    status, body, _ = await client.call("GET", "/fcgi/OpenDoor", params=query, headers=basic())
    assert status == 400 and body["result"] == "error"
    assert relay(client) == "locked"


async def test_a_parameter_given_twice_is_400(client: Client) -> None:
    url = "/fcgi/OpenDoor?action=OpenDoor&DoorNum=1&DoorNum=2"
    status, _, _ = await client.call("GET", url, headers=basic())
    assert status == 400


async def test_without_user_fields_it_is_a_remote_unlock_by_the_sender(client: Client) -> None:
    status, body, _ = await client.open_door()
    assert (status, body) == (200, {"result": "granted"})
    assert relay(client) == "unlocked"
    (event,) = await client.events(type="api", reason="remote_unlock")
    assert event["user_id"] == OPENDOOR_USER and "door=front" in event["trace"]


async def test_lockdown_refuses_non_admins_and_keeps_the_in_out_state(client: Client) -> None:
    client.gateway.door_commands.set_lockdown("front", True, "tester")
    status, body, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "lockdown"})
    status, body, _ = await client.open_door()
    assert (status, body) == (403, {"result": "denied", "reason": "lockdown"})
    assert relay(client) == "locked"
    client.gateway.door_commands.set_lockdown("front", False, "tester")
    status, _, _ = await client.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert status == 200  # the refused Entry did not count as a passage


async def test_a_user_with_the_lockdown_override_opens_in_lockdown(client: Client) -> None:
    user = client.gateway.stores.users.get_user("1002")
    assert user is not None
    user.lockdown_override = True
    client.gateway.stores.users.update_user(user)
    await client.gateway.rule_changes.settled()
    client.gateway.door_commands.set_lockdown("front", True, "tester")
    status, _, _ = await client.open_door(Code=GRACE_CARD, **CARD)
    assert status == 200 and relay(client) == "unlocked"


async def test_the_in_out_state_survives_a_restart(start: Start) -> None:
    first = await start()
    status, _, _ = await first.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert status == 200
    await stop(first)
    second = await start()
    status, body, _ = await second.open_door(AntiPassbackMode="Entry", Code=ADA_CARD, **CARD)
    assert (status, body) == (403, {"result": "denied", "reason": "anti_passback"})
    assert second.gateway.status_board.status()["http_unlock"]["users_in"] == 1


async def test_disabled_answers_404_even_with_the_right_password(start: Start) -> None:
    client = await start(enabled=False)
    status, body, _ = await client.open_door(Code=ADA_CARD, **CARD)
    assert status == 404 and body["result"] == "error"
    assert relay(client) == "locked"


async def test_head_never_opens_a_door(client: Client) -> None:
    status, _, _ = await client.call(
        "HEAD",
        "/fcgi/OpenDoor?action=OpenDoor&DoorNum=1",
        headers=basic(),
    )
    assert status == 405 and relay(client) == "locked"


async def test_wrong_passwords_are_throttled_by_address(client: Client) -> None:
    wrong = basic(OPENDOOR_USER, "guess-guess")
    for _ in range(5):
        status, _, _ = await client.open_door(auth=wrong)
        assert status == 401
    status, body, headers = await client.open_door()  # even the right password must wait
    assert status == 429 and headers["Retry-After"] == "1" and "try again" in body["reason"]
    client.clock.advance(1)
    status, _, _ = await client.open_door()
    assert status == 200
