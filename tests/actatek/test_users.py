"""Section 3 (users) over HTTP against a running gateway: the reference's examples, the
filters and array forms, partial updates, the common error with nothing stored, roles,
and a client written only from the reference opening the front door with a card and a PIN
inside its schedule, and not outside it.

Also the helpers the other section tests share (`stored`, `fuzz`, `wait_access`)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.hw.formats import encode_h10301
from gateway.model import StoredEvent
from tests.actatek.conftest import Api

REFERENCE_USER: dict[str, Any] = {
    "userID": "A0001",
    "lastName": "John",
    "firstName": "Ben",
    "otherName": "Teddy",
    "adminLevel": "PERSONALUSER",
    "password": "123555",
    "groupID": 0,
    "departmentID": 1,
    "status": {
        "active": True,
        "autoMatch": True,
        "smartCard": True,
        "fingerprint": True,
        "password": True,
        "facial": True,
        "facialAutoMatch": False,
    },
    "fingerprints": "Base64 Enoded",
    "keyrecords": {
        "keytype": 1,
        "keystring": "According to keytype",
        "keyid": "unique id for this key",
        "keyenabled": True,
    },
    "facialrecords": {
        "FacialTemplateType": 1,
        "FacialTemplate": "xxx",
        "FacialPhoto": "base64 encode",
    },
    "cardsn": "00003",
    "ScoreThreshold": 0,
    "expirydate": 0,
    "message": "user message",
}
ALL_DAYS = ("SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "HOLIDAY")


# -- helpers shared by the section tests ---------------------------------------------------


def stored(gateway: Gateway) -> tuple[Any, ...]:
    """Everything the management API can change, to compare before and after a request."""
    stores = gateway.stores
    return (
        stores.engine_state.rules_version(),
        stores.users.find_user_records(),
        stores.organisation.list_departments(),
        stores.organisation.list_access_rights(),
        stores.organisation.list_access_groups(),
        stores.organisation.list_holidays(),
    )


async def fuzz(
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], Awaitable[None]],
    examples: int = 40,
) -> None:
    """Run a Hypothesis test of `check` against the running gateway.

    Hypothesis drives a plain function on a worker thread; each example runs `check` on
    the test's event loop (where the gateway lives), so shrinking works as usual.
    ACTATEK_FUZZ_EXAMPLES overrides the count for a longer hunt.
    """
    loop = asyncio.get_running_loop()
    examples = int(os.environ.get("ACTATEK_FUZZ_EXAMPLES", examples))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=30)

    await loop.run_in_executor(None, run)


async def refused_without_change(api: Api, method: str, path: str, body: Any) -> str:
    """Send a request that must be the common error and must store nothing."""
    before = stored(api.gateway)
    status, answer = await api.call(method, path, body)
    assert status == 400, (body, answer)
    assert answer["status"] == "error" and set(answer) == {"status", "message"}
    assert stored(api.gateway) == before, body
    message: str = answer["message"]
    return message


def answered_sanely(status: int, answer: Any) -> None:
    """No 5xx, and either a success or the common error (arrays: one per item)."""
    assert status in (200, 400), answer
    if status == 400:
        assert answer["status"] == "error" and "Traceback" not in answer["message"]


async def last_seq(gateway: Gateway) -> int:
    await gateway.writer.flush()
    return gateway.journal.last_seq()


async def wait_access(
    gateway: Gateway, after: int, user_id: str, timeout: float = 5.0
) -> StoredEvent:
    """The first access decision about `user_id` journaled after seq `after`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for event in await gateway.recorder.read_events(after, 200):
            if event.type == "access" and event.user_id == user_id:
                return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access decision for {user_id} after seq {after}")


def timespec(pattern: str) -> list[dict[str, str]]:
    return [{"weekday": day, "timePattern": pattern} for day in ALL_DAYS]


async def add_department_1(api: Api) -> None:
    body = {"id": 1, "name": "Engineering", "description": "R&D"}
    assert (await api.call("POST", f"department/{api.sid()}", body))[0] == 200


def user_path(api: Api, role: str = "SUPERADMIN") -> str:
    return f"user/{api.sid(role)}"


# -- the reference's examples ---------------------------------------------------------------


async def test_the_reference_adduser_example_is_stored_and_read_back(api: Api) -> None:
    await add_department_1(api)
    status, body = await api.call("POST", user_path(api), REFERENCE_USER)
    assert (status, body) == (200, {"status": "success", "message": "User A0001 Added"})
    status, users = await api.call("GET", f"{user_path(api)}?userID=A0001")
    assert status == 200 and len(users) == 1
    user = users[0]
    assert user["cardsn"] == "000003"  # a hex number whose leading zero was dropped
    assert user["groupID"] == [0] and user["departmentID"] == [1]
    assert user["status"] == REFERENCE_USER["status"]
    assert user["keyrecords"] == [REFERENCE_USER["keyrecords"]]
    assert user["facialrecords"] == [REFERENCE_USER["facialrecords"]]
    assert user["fingerprints"] == "Base64 Enoded"
    assert (user["expirydate"], user["message"], user["ScoreThreshold"]) == (0, "user message", 0)
    assert "password" not in user and "123555" not in json.dumps(users)
    stored_user = api.gateway.stores.users.get_user("A0001")
    assert stored_user is not None and stored_user.has_pin
    assert stored_user.qr_codes == ["According to keytype"] and stored_user.cards == ["000003"]


async def test_adding_users_as_an_array_answers_one_result_per_item(api: Api) -> None:
    items = [
        {"userID": "B1", "firstName": "Bea"},
        {"userID": "B2", "groupID": 99},
        {"userID": "B3", "cardsn": "0C8707"},  # demo user 1001's card
        {"userID": "B4", "lastName": "Four"},
    ]
    status, results = await api.call("POST", user_path(api), items)
    assert status == 200 and [r["status"] for r in results] == [
        "success",
        "error",
        "error",
        "success",
    ]
    assert results[0]["message"] == "User B1 Added"
    assert results[1]["message"] == "groupID: access group 99 does not exist"
    assert results[2]["message"] == "cardsn: card 0C8707 is already assigned to user 1001"
    users = api.gateway.stores.users
    assert [users.get_user(u) is not None for u in ("B1", "B2", "B3", "B4")] == [
        True,
        False,
        False,
        True,
    ]
    assert "B4" in api.gateway.engine.snapshot.users  # reloaded at once


async def test_get_users_filters(api: Api) -> None:
    people = [
        {"userID": "X-100", "firstName": "Ann", "lastName": "Lee", "otherName": "A"},
        {"userID": "X-200", "firstName": "Bob", "lastName": "Lee"},
        {"userID": "Y-100", "firstName": "Ann", "lastName": "Ng"},
    ]
    assert (await api.call("POST", user_path(api), people))[0] == 200

    async def ids(query: str) -> list[str]:
        status, users = await api.call("GET", f"{user_path(api)}{query}")
        assert status == 200, users
        return [user["userID"] for user in users]

    assert await ids("?userID=X-100") == ["X-100"]
    assert await ids("?partialUserID=-100") == ["X-100", "Y-100"]
    assert await ids("?lastName=Lee") == ["X-100", "X-200"]
    assert await ids("?firstName=Ann&lastName=Ng") == ["Y-100"]
    assert await ids("?otherName=A") == ["X-100"]
    assert await ids("?userID=nobody") == []
    assert await ids("") == ["1001", "1002", "1003", "X-100", "X-200", "Y-100"]
    status, body = await api.call("GET", f"{user_path(api)}?userId=X-100")
    assert status == 400 and "unknown query parameter" in body["message"]


# -- updates ------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_given(api: Api) -> None:
    await add_department_1(api)
    await api.call("POST", user_path(api), REFERENCE_USER)
    status, body = await api.call(
        "PUT", user_path(api), {"userID": "A0001", "firstName": "Benjamin"}
    )
    assert (status, body) == (200, {"status": "success", "message": "User A0001 Updated"})
    status, users = await api.call("GET", f"{user_path(api)}?userID=A0001")
    expected = copy.deepcopy(users[0])
    assert users[0]["firstName"] == "Benjamin" and users[0]["lastName"] == "John"
    assert users[0]["keyrecords"] and users[0]["cardsn"] == "000003"
    stored_user = api.gateway.stores.users.get_user("A0001")
    assert stored_user is not None and stored_user.has_pin  # the PIN was kept
    # Array form; a missing user is a per-item error.
    status, results = await api.call(
        "PUT", user_path(api), [{"userID": "A0001", "message": "hi"}, {"userID": "nobody"}]
    )
    assert [r["status"] for r in results] == ["success", "error"]
    assert results[1]["message"] == "user nobody does not exist"
    _, users = await api.call("GET", f"{user_path(api)}?userID=A0001")
    expected["message"] = "hi"
    assert users[0] == expected


async def test_keyrecords_map_to_qr_codes_plates_and_further_cards(api: Api) -> None:
    keys = [
        {"keytype": 1, "keystring": "visitor-42", "keyid": "q1", "keyenabled": True},
        {"keytype": 2, "keystring": "AB 123", "keyid": "p1", "keyenabled": False},
        {"keytype": 3, "keystring": "04:a1:b2:c3", "keyid": "c2", "keyenabled": True},
    ]
    body = {"userID": "K1", "cardsn": "013-00001", "keyrecords": keys}
    assert (await api.call("POST", user_path(api), body))[0] == 200
    user = api.gateway.stores.users.get_user("K1")
    assert user is not None
    assert (user.cards, user.qr_codes, user.plates) == (
        ["0D0001", "04A1B2C3"],
        ["visitor-42"],
        ["AB 123"],
    )
    snapshot = api.gateway.engine.snapshot
    assert snapshot.plates["AB 123"].enabled is False and snapshot.qr_codes["visitor-42"].enabled
    _, users = await api.call("GET", f"{user_path(api)}?userID=K1")
    assert users[0]["cardsn"] == "0D0001"
    assert [(k["keytype"], k["keystring"], k["keyid"]) for k in users[0]["keyrecords"]] == [
        (3, "04A1B2C3", "c2"),
        (1, "visitor-42", "q1"),
        (2, "AB 123", "p1"),
    ]
    # A new cardsn replaces the first card only; an empty password removes the PIN.
    await api.call("PUT", user_path(api), {"userID": "K1", "cardsn": "0A0B0C", "password": "8642"})
    await api.call("PUT", user_path(api), {"userID": "K1", "password": "4321"})
    user = api.gateway.stores.users.get_user("K1")
    assert user is not None and user.cards == ["0A0B0C", "04A1B2C3"] and user.has_pin
    await api.call("PUT", user_path(api), {"userID": "K1", "password": "", "keyrecords": []})
    user = api.gateway.stores.users.get_user("K1")
    assert user is not None and not user.has_pin and user.cards == ["0A0B0C"] and not user.qr_codes


async def test_expirydate_with_and_without_an_offset_and_admin_level_words(api: Api) -> None:
    body = {"userID": "E1", "expirydate": "2030-06-01T12:00:00"}  # London summer time
    assert (await api.call("POST", user_path(api), body))[0] == 200
    _, users = await api.call("GET", f"{user_path(api)}?userID=E1")
    assert users[0]["expirydate"] == "2030-06-01T11:00:00Z"
    await api.call(
        "PUT", user_path(api), {"userID": "E1", "expirydate": "2031-01-01T00:00:00+02:00"}
    )
    _, users = await api.call("GET", f"{user_path(api)}?userID=E1")
    assert users[0]["expirydate"] == "2030-12-31T22:00:00Z"
    await api.call("PUT", user_path(api), {"userID": "E1", "expirydate": 0})
    _, users = await api.call("GET", f"{user_path(api)}?userID=E1")
    assert users[0]["expirydate"] == 0
    # A word that is not an admin level means PERSONALUSER (the reference's rule).
    status, _ = await api.call("POST", user_path(api), {"userID": "L1", "adminLevel": "BOSS"})
    assert status == 200
    user = api.gateway.stores.users.get_user("L1")
    assert user is not None and user.admin_level == "PERSONALUSER"


# -- delete, activate, message, count, batch ------------------------------------------------


async def test_delete_activate_and_deactivate(api: Api) -> None:
    sid = api.sid()
    await api.call("POST", user_path(api), {"userID": "D1", "cardsn": "0A0A0A"})
    assert await api.call("DELETE", f"activateUser/{sid}/D1") == (200, {"status": "success"})
    assert api.gateway.engine.snapshot.users["D1"].active is False
    assert await api.call("POST", f"activateUser/{sid}/D1") == (200, {"status": "success"})
    assert api.gateway.engine.snapshot.users["D1"].active is True
    status, body = await api.call("DELETE", f"user/{sid}/D1")
    assert (status, body) == (200, {"status": "success", "message": "User D1 Deleted"})
    assert "D1" not in api.gateway.engine.snapshot.users
    assert "0A0A0A" not in api.gateway.engine.snapshot.cards
    for method, path in (("DELETE", f"user/{sid}/D1"), ("POST", f"activateUser/{sid}/D1")):
        status, body = await api.call(method, path)
        assert status == 400 and body["message"] == "user D1 does not exist"


async def test_user_message_get_set_delete(api: Api) -> None:
    sid = api.sid("USERADMIN")
    await api.call("POST", f"user/{sid}", {"userID": "M1", "message": "hello"})
    assert await api.call("GET", f"UserMessage/{sid}/M1") == (200, {"usermessage": "hello"})
    assert await api.call("POST", f"UserMessage/{sid}/M1", {"usermessage": "ABC"}) == (
        200,
        {"status": "success"},
    )
    assert await api.call("GET", f"UserMessage/{sid}/M1") == (200, {"usermessage": "ABC"})
    assert await api.call("DELETE", f"UserMessage/{sid}/M1") == (200, {"status": "success"})
    assert await api.call("GET", f"UserMessage/{sid}/M1") == (200, {"usermessage": ""})
    message = await refused_without_change(
        api, "POST", f"UserMessage/{sid}/M1", {"usermessage": "x" * 257}
    )
    assert message.startswith("usermessage:")
    status, _ = await api.call("GET", f"UserMessage/{sid}/nobody")
    assert status == 400


async def test_user_count_and_batches_in_user_id_order(api: Api) -> None:
    sid = api.sid()
    await api.call("POST", f"user/{sid}", [{"userID": f"Z{n}"} for n in range(5)])
    assert await api.call("GET", f"UserCount/{sid}") == (200, {"usercount": 8})
    status, first = await api.call("GET", f"UserBatch/{sid}/0/2")
    assert status == 200 and [u["userID"] for u in first] == ["1001", "1002"]
    _, rest = await api.call("GET", f"UserBatch/{sid}/6/10")
    assert [u["userID"] for u in rest] == ["Z3", "Z4"]
    assert await api.call("GET", f"UserBatch/{sid}/100/10") == (200, [])
    for bad in ("0/1001", "x/1", "-1/2"):
        status, body = await api.call("GET", f"UserBatch/{sid}/{bad}")
        assert status == 400 and body["status"] == "error"


# -- refusals -------------------------------------------------------------------------------


BAD_USERS: list[tuple[dict[str, Any], str]] = [
    ({"userID": "A" * 33}, "userID"),
    ({"userID": "has space"}, "userID"),
    ({"firstName": "no id"}, "userID"),
    ({"userID": "U1", "groupID": 99}, "groupID"),
    ({"userID": "U1", "groupID": []}, "groupID"),
    ({"userID": "U1", "departmentID": [0, 0]}, "departmentID"),
    ({"userID": "U1", "password": "12ab"}, "password"),
    ({"userID": "U1", "password": "1234"}, "password"),  # demo user 1001's PIN
    ({"userID": "U1", "cardsn": "zz"}, "cardsn"),
    ({"userID": "U1", "cardsn": "0C8707"}, "cardsn"),
    ({"userID": "U1", "keyrecords": {"keytype": 9, "keystring": "x"}}, "keytype"),
    ({"userID": "U1", "keyrecords": [{"keytype": 1, "keystring": "a;b"}]}, "keyrecords"),
    ({"userID": "U1", "expirydate": "tomorrow"}, "expirydate"),
    ({"userID": "U1", "groupId": 0}, "user"),
    ({"userID": "U1", "status": {"active": "yes"}}, "active"),
    ({"userID": "U1", "ScoreThreshold": -1}, "ScoreThreshold"),
    ({"userID": "U1", "message": "x" * 257}, "message"),
    ({"userID": "U1", "firstName": "line\nbreak"}, "firstName"),
    ({"userID": "U1", "facialrecords": [{"FacialTemplate": "x"}]}, "FacialTemplateType"),
    ({"userID": "1001"}, "userID"),  # exists already
]


async def test_bad_input_is_the_common_error_naming_the_field_and_stores_nothing(
    api: Api,
) -> None:
    for body, field in BAD_USERS:
        message = await refused_without_change(api, "POST", user_path(api), body)
        assert message.startswith(f"{field}:"), (body, message)
        assert "1234" not in message and "12ab" not in message
        if body.get("userID") == "U1":  # the same refusal when updating demo user 1002
            update = {**body, "userID": "1002"}
            message = await refused_without_change(api, "PUT", user_path(api), update)
            assert message.startswith(f"{field}:"), (update, message)


async def test_roles_that_may_not_manage_users(api: Api) -> None:
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        message = await refused_without_change(api, "POST", user_path(api, role), {"userID": "R1"})
        assert message == f"{role} may not do this"
        status, _ = await api.call("GET", f"UserCount/{api.sid(role)}")
        assert status == 400
    admin = user_path(api, "USERADMIN")
    assert (await api.call("POST", admin, {"userID": "R2"}))[0] == 200
    message = await refused_without_change(
        api, "POST", admin, {"userID": "R3", "adminLevel": "SUPERADMIN"}
    )
    assert message.startswith("adminLevel:")
    await api.call("POST", user_path(api), {"userID": "R4", "adminLevel": "SUPERADMIN"})
    for method, path, body in (
        ("PUT", admin, {"userID": "R4", "firstName": "x"}),
        ("DELETE", f"user/{api.sid('USERADMIN')}/R4", None),
        ("DELETE", f"activateUser/{api.sid('USERADMIN')}/R4", None),
    ):
        assert (await refused_without_change(api, method, path, body)).startswith("adminLevel:")


# -- a client written from the reference opens the door --------------------------------------


async def _present(api: Api, card_bits: str | None = None, keys: str | None = None) -> None:
    url = f"{api.base}/sim/wiegand" if card_bits else f"{api.base}/sim/keys"
    payload = (
        {"reader": "front-wiegand", "bits": card_bits}
        if card_bits
        else {"reader": "front-keypad", "keys": keys}
    )
    async with api.http.post(url, json=payload) as resp:
        assert resp.status == 200, await resp.text()


async def _outputs(api: Api) -> dict[str, Any]:
    async with api.http.get(f"{api.base}/sim/outputs") as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def test_a_reference_client_opens_the_front_door_within_the_schedule_only(api: Api) -> None:
    sid = api.sid("USERADMIN")
    right = {"id": 5, "name": "All week", "description": "open", "timespec": timespec("1" * 48)}
    assert (await api.call("POST", f"accessright/{sid}", right))[1]["status"] == "success"
    group = {"id": 7, "name": "Staff", "departmentid": 0, "accessrightid": 5}
    assert (await api.call("POST", f"accessgroup/{sid}", group))[1]["status"] == "success"
    # 1357, not the brief's 1234: PINs are unique and demo user 1001 has 1234.
    user = {
        "userID": "E100",
        "firstName": "Eve",
        "cardsn": "042-04242",
        "password": "1357",
        "groupID": 7,
        "status": {"active": True},
    }
    assert (await api.call("POST", f"user/{sid}", user))[1]["status"] == "success"

    seq = await last_seq(api.gateway)
    await _present(api, card_bits=encode_h10301(42, 4242))
    event = await wait_access(api.gateway, seq, "E100")
    assert event.granted and event.reader == "front-wiegand" and event.credential == "2A1092"
    assert (await _outputs(api))["doors"]["front"]["relay"] == "unlocked"
    seq = await last_seq(api.gateway)
    await _present(api, keys="1357#")
    event = await wait_access(api.gateway, seq, "E100")
    assert event.granted and event.credential_kind == "pin" and event.credential == "****"

    # The same right, switched off for every day: outside the schedule now.
    closed = {"id": 5, "timespec": timespec("0" * 48)}
    assert (await api.call("PUT", f"accessright/{sid}", closed))[1]["status"] == "success"
    for card_bits, keys in ((encode_h10301(42, 4242), None), (None, "1357#")):
        seq = await last_seq(api.gateway)
        await _present(api, card_bits=card_bits, keys=keys)
        event = await wait_access(api.gateway, seq, "E100")
        assert not event.granted and event.reason == "outside_schedule"

    # ... and reads back the access log of those openings (getFullLogs, by employee).
    status, logs = await api.call("GET", f"getLogs/{sid}/0?employeeID=E100")
    assert status == 200
    decisions = [log for log in logs if log["accessMethod"]]  # door events are listed too
    assert "DOOR UNLOCKED" in {log["trigger"] for log in logs}
    assert [(log["userID"], log["trigger"], log["accessMethod"]) for log in decisions] == [
        ("E100", "IN", "CARD"),
        ("E100", "IN", "PIN"),
        ("E100", "ACCESS DENIED", "CARD"),
        ("E100", "ACCESS DENIED", "PIN"),
    ]
    assert all(log["userName"] == "Eve" and log["terminalSN"] for log in decisions)


# -- generated bodies ----------------------------------------------------------------------

_ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "userID": st.sampled_from(["G1", "G2", "1001", "", "a b", "x" * 33]) | st.text(max_size=34),
    "firstName": st.text(max_size=70),
    "adminLevel": st.sampled_from(["PERSONALUSER", "SUPERADMIN", "USERADMIN", "nope"]),
    "password": st.sampled_from(["1234", "97", "123456789", "12a4", "", "5555"]),
    "groupID": st.integers(-1, 2) | st.lists(st.integers(-1, 2), max_size=3),
    "departmentID": st.integers(-1, 2) | st.lists(st.integers(0, 1), max_size=2),
    "status": st.fixed_dictionaries(
        {}, optional={"active": st.booleans() | st.integers(0, 1), "facial": st.booleans()}
    ),
    "cardsn": st.sampled_from(["0C8707", "00003", "012-34567", "04:a1:b2:c3", "", "G", "1" * 21]),
    "keyrecords": st.lists(
        st.fixed_dictionaries(
            {
                "keytype": st.integers(0, 4),
                "keystring": st.sampled_from(["q1", "AB 1", "0A0B", "x;y", ""]),
            },
            optional={"keyid": st.sampled_from(["k", "k", "j"]), "keyenabled": st.booleans()},
        ),
        max_size=3,
    ),
    "facialrecords": st.lists(
        st.fixed_dictionaries(
            {"FacialTemplateType": st.integers(-1, 3), "FacialTemplate": st.text(max_size=5)}
        ),
        max_size=2,
    ),
    "expirydate": st.sampled_from(
        [
            0,
            "0",
            "2030-01-01T00:00:00Z",
            "2030-01-01",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-05:00",
            "x",
            1.5,
        ]
    ),
    "ScoreThreshold": st.integers(-5, 10_005),
    "message": st.text(max_size=260),
}
USER_BODIES = (
    st.fixed_dictionaries(
        {}, optional={key: value | _ANY_JSON for key, value in _PLAUSIBLE.items()}
    )
    | _ANY_JSON
)


async def test_generated_user_bodies_never_break_the_api(api: Api) -> None:
    async def check(body: Any) -> None:
        for method in ("POST", "PUT"):
            before = stored(api.gateway)
            status, answer = await api.call(method, user_path(api), body)
            answered_sanely(status, answer)
            if status == 400:
                assert stored(api.gateway) == before, body

    await fuzz(USER_BODIES, check, examples=80)
