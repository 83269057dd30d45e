"""Section 6 (access groups) over HTTP: the reference's example, filters, the `doors`
extension deciding at once, the delete rules, refusals, roles, generated bodies."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gateway.clock import Instant
from gateway.model import Credential
from tests.actatek.conftest import Api
from tests.actatek.test_users import (
    add_department_1,
    answered_sanely,
    fuzz,
    refused_without_change,
    stored,
)


def path(api: Api, role: str = "SUPERADMIN") -> str:
    return f"accessgroup/{api.sid(role)}"


async def _rights_1_and_2(api: Api) -> None:
    rights = [{"id": 1, "name": "One"}, {"id": 2, "name": "Two"}]
    assert (await api.call("POST", f"accessright/{api.sid()}", rights))[0] == 200


async def test_the_reference_example_and_filters(api: Api) -> None:
    await add_department_1(api)
    await _rights_1_and_2(api)
    example = {"id": 14, "name": "new manager3", "departmentid": 1, "accessrightid": [1, 2]}
    assert await api.call("POST", path(api), example) == (
        200,
        {"status": "success", "message": "access group ID 14 Added"},
    )
    assert await api.call("GET", f"{path(api)}?groupid=14") == (200, [{**example, "doors": None}])
    general = {"id": 0, "name": "General", "departmentid": 0, "accessrightid": [0], "doors": None}
    assert await api.call("GET", f"{path(api)}?deptid=0") == (200, [general])
    assert await api.call("GET", f"{path(api)}?groupid=0&deptid=1") == (200, [])
    _, groups = await api.call("GET", path(api))
    assert [g["id"] for g in groups] == [0, 14]
    # Update: left-out fields stay; a single right id is accepted too.
    assert await api.call("PUT", path(api), {"id": 14, "accessrightid": 2}) == (
        200,
        {"status": "success", "message": "access group ID 14 Updated"},
    )
    _, groups = await api.call("GET", f"{path(api)}?groupid=14")
    assert groups[0]["accessrightid"] == [2] and groups[0]["name"] == "new manager3"
    # Add without id: the next free one; without name: "Group <id>".
    assert await api.call("POST", path(api), {"departmentid": 0}) == (
        200,
        {"status": "success", "message": "access group ID 15 Added"},
    )
    _, groups = await api.call("GET", f"{path(api)}?groupid=15")
    assert groups[0]["name"] == "Group 15" and groups[0]["accessrightid"] == []
    assert await api.call("DELETE", f"{path(api)}/15") == (
        200,
        {"status": "success", "message": "access group ID 15 Deleted"},
    )


async def test_doors_limit_a_group_and_the_engine_sees_it_at_once(api: Api) -> None:
    sid = api.sid()
    await api.call(
        "POST",
        path(api),
        {"id": 3, "name": "Back only", "departmentid": 0, "accessrightid": 0, "doors": ["back"]},
    )
    await api.call("POST", f"user/{sid}", {"userID": "G1", "cardsn": "0B0B0B", "groupID": 3})
    engine, now = api.gateway.engine, Instant.read(api.gateway.clock)

    def decide(door: str) -> str:
        credential = Credential("card", "0B0B0B", "api-test", now.wall)
        return engine.decide(credential, door, now).reason

    assert (decide("front"), decide("back")) == ("door_not_permitted", "granted")
    await api.call("PUT", path(api), {"id": 3, "doors": None})
    assert decide("front") == "granted"
    _, groups = await api.call("GET", f"{path(api)}?groupid=3")
    assert groups[0]["doors"] is None
    # A group with members cannot go; without them it can.
    message = await refused_without_change(api, "DELETE", f"{path(api)}/3", None)
    assert message.startswith("id: access group 3 still has 1 user(s)")
    await api.call("PUT", f"user/{sid}", {"userID": "G1", "groupID": 0})
    assert (await api.call("DELETE", f"{path(api)}/3"))[0] == 200
    assert 3 not in api.gateway.engine.snapshot.groups


async def test_refusals_store_nothing(api: Api) -> None:
    bad: list[tuple[str, Any, str]] = [
        ("POST", {"id": 4, "name": "x"}, "departmentid:"),
        ("POST", {"departmentid": 9}, "departmentid: department 9"),
        ("POST", {"departmentid": 0, "accessrightid": [0, 8]}, "accessrightid: access right 8"),
        ("POST", {"departmentid": 0, "accessrightid": "0"}, "accessrightid:"),
        ("POST", {"departmentid": 0, "doors": ["garage"]}, "doors: no door named 'garage'"),
        ("POST", {"departmentid": 0, "doors": []}, "doors:"),
        ("POST", {"departmentid": 0, "doors": "front"}, "doors:"),
        ("POST", {"departmentid": 0, "doors": ["front", "front"]}, "doors:"),
        ("POST", {"id": 0, "departmentid": 0}, "id: access group 0 already exists"),
        ("POST", {"departmentid": 0, "deptid": 0}, "access group:"),
        ("PUT", {"name": "x"}, "id:"),
        ("PUT", {"id": 40}, "access group 40"),
    ]
    for method, body, start in bad:
        message = await refused_without_change(api, method, path(api), body)
        assert message.startswith(start), (body, message)
    for suffix, start in (("/0", "id: access group 0"), ("/41", "access group 41"), ("/-1", "id:")):
        message = await refused_without_change(api, "DELETE", f"{path(api)}{suffix}", None)
        assert message.startswith(start), (suffix, message)


async def test_roles_and_generated_bodies(api: Api) -> None:
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        message = await refused_without_change(api, "GET", path(api, role), None)
        assert message == f"{role} may not do this"
    assert (await api.call("POST", path(api, "USERADMIN"), {"departmentid": 0}))[0] == 200

    group = st.fixed_dictionaries(
        {},
        optional={
            "id": st.integers(-1, 4) | st.none(),
            "name": st.text(max_size=70),
            "departmentid": st.integers(-1, 2) | st.text(max_size=2),
            "accessrightid": st.integers(-1, 2) | st.lists(st.integers(-1, 2), max_size=3),
            "doors": st.none() | st.lists(st.sampled_from(["front", "back", "x", ""]), max_size=3),
        },
    )

    async def check(body: Any) -> None:
        for method in ("POST", "PUT"):
            before = stored(api.gateway)
            status, answer = await api.call(method, path(api), body)
            answered_sanely(status, answer)
            if status == 400:
                assert stored(api.gateway) == before, body

    await fuzz(group | st.lists(group, max_size=3), check, examples=60)
