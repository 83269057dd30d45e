"""Section 8 (getMyself / updateMyself) over HTTP: the technician's own user record, what
they may change of it, and what a PERSONALUSER may do at all."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.actatek.conftest import ROLES, Api
from tests.actatek.test_users import answered_sanely, fuzz, refused_without_change, stored


async def test_every_role_sees_itself_a_technician_without_record_a_minimal_one(
    api: Api,
) -> None:
    for role in ROLES:
        for suffix in ("", "/"):  # the reference's path ends with a slash
            status, me = await api.call("GET", f"myself/{api.sid(role)}{suffix}")
            assert status == 200, me
            assert me["userID"] == role.lower() and me["adminLevel"] == role
            assert me["groupID"] == [0] and me["status"]["active"] is False
            assert "password" not in me and "cardsn" not in me
    assert api.gateway.stores.users.get_user("personaluser") is None  # a GET stores nothing


async def test_update_myself_changes_names_only_for_a_login_without_users(api: Api) -> None:
    sid = api.sid("PERSONALUSER")
    admin = api.sid("USERADMIN")
    # An administrator made the record; the technician edits their part of it.
    await api.call(
        "POST",
        f"user/{admin}",
        {"userID": "personaluser", "firstName": "Pat", "message": "hi", "cardsn": "0F0F0F"},
    )
    change = {"userID": "personaluser", "lastName": "Doe", "cardsn": "0F0F0F"}  # its own card
    assert await api.call("PUT", f"myself/{sid}", change) == (
        200,
        {"status": "success", "message": "User personaluser Updated"},
    )
    _, me = await api.call("GET", f"myself/{sid}/")
    assert (me["firstName"], me["lastName"], me["cardsn"], me["message"]) == (
        "Pat",
        "Doe",
        "0F0F0F",
        "hi",
    )
    assert me["status"]["active"] is True and me["status"]["password"] is False
    refusals = [
        ({"userID": "personaluser", "adminLevel": "SUPERADMIN"}, "updateMyself may change only"),
        ({"userID": "personaluser", "groupID": [0]}, "updateMyself may change only"),
        ({"userID": "personaluser", "message": "x"}, "updateMyself may change only"),
        ({"userID": "1001", "firstName": "x"}, "userID:"),
        ({"firstName": "x"}, "userID:"),
        ({"userID": "personaluser", "password": "8642"}, "password: only a user administrator"),
        ({"userID": "personaluser", "cardsn": "0C8707"}, "cardsn: only a user administrator"),
        ({"userID": "personaluser", "firstName": "x" * 65}, "firstName:"),
    ]
    for body, start in refusals:
        message = await refused_without_change(api, "PUT", f"myself/{sid}", body)
        assert message.startswith(start), (body, message)
    # A PERSONALUSER may use myself and nothing else of this API.
    for path in (f"user/{sid}", f"department/{sid}", f"accessgroup/{sid}", f"holiday/{sid}"):
        message = await refused_without_change(api, "GET", path, None)
        assert message == "PERSONALUSER may not do this"


async def test_a_user_administrator_changes_its_own_pin_and_card(api: Api) -> None:
    sid = api.sid("USERADMIN")
    change = {"userID": "useradmin", "password": "8642", "cardsn": "0F0F0F"}
    assert (await api.call("PUT", f"myself/{sid}", change))[0] == 200
    _, me = await api.call("GET", f"myself/{sid}")
    assert me["cardsn"] == "0F0F0F" and me["status"]["password"] is True
    assert api.gateway.engine.snapshot.cards["0F0F0F"].user_id == "useradmin"
    refusals = [
        ({"userID": "useradmin", "password": "1234"}, "password: this PIN cannot be used"),
        ({"userID": "useradmin", "cardsn": "0C8707"}, "cardsn: card 0C8707 is already assigned"),
    ]
    for body, start in refusals:  # 1001's PIN, then 1001's card (a USERADMIN reads users)
        message = await refused_without_change(api, "PUT", f"myself/{sid}", body)
        assert message.startswith(start), (body, message)


async def test_a_technician_without_record_gets_an_inactive_one(api: Api) -> None:
    sid = api.sid("NETWORKADMIN")
    body = {"userID": "networkadmin", "firstName": "Net"}
    assert (await api.call("PUT", f"myself/{sid}", body))[0] == 200
    user = api.gateway.stores.users.get_user("networkadmin")
    assert user is not None and not user.active and not user.has_pin and user.cards == []
    assert user.admin_level == "PERSONALUSER" and user.groups == [0]
    assert api.gateway.engine.snapshot.users["networkadmin"].active is False

    fields = st.fixed_dictionaries(
        {"userID": st.sampled_from(["networkadmin", "other", ""])},
        optional={
            "firstName": st.text(max_size=70) | st.integers(),
            "password": st.sampled_from(["", "12", "123456789", "ab"]) | st.text(max_size=4),
            "cardsn": st.sampled_from(["", "0A", "zz", "012-00001"]) | st.text(max_size=4),
            "status": st.just({"active": True}),
        },
    )

    async def check(body: Any) -> None:
        before = stored(api.gateway)
        status, answer = await api.call("PUT", f"myself/{sid}", body)
        answered_sanely(status, answer)
        if status == 400:
            assert stored(api.gateway) == before, body
        user = api.gateway.stores.users.get_user("networkadmin")
        assert user is not None and not user.active  # never activated by itself

    await fuzz(fields, check, examples=40)
