"""Section 4 (departments) over HTTP: the reference's examples, arrays, filters, the delete
rules, refusals that store nothing, roles, generated bodies."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.actatek.conftest import Api
from tests.actatek.test_users import answered_sanely, fuzz, refused_without_change, stored


def path(api: Api, role: str = "SUPERADMIN") -> str:
    return f"department/{api.sid(role)}"


async def test_the_reference_examples_add_get_update_delete(api: Api) -> None:
    example = {"id": 21, "name": "ABC", "description": "LONG"}
    assert await api.call("POST", path(api), example) == (
        200,
        {"status": "success", "message": "department ID 21 Added"},
    )
    assert await api.call("GET", f"{path(api)}?id=21") == (200, [example])
    status, everything = await api.call("GET", path(api))
    assert status == 200 and everything[0] == {"id": 0, "name": "General", "description": "General"}
    assert await api.call("GET", f"{path(api)}?id=0&name=General&description=General") == (
        200,
        [everything[0]],
    )
    assert await api.call("PUT", path(api), {"id": 21, "name": "ABCD"}) == (
        200,
        {"status": "success", "message": "department ID 21 Updated"},
    )
    assert await api.call("GET", f"{path(api)}?name=ABCD") == (
        200,
        [{"id": 21, "name": "ABCD", "description": "LONG"}],  # description kept
    )
    assert await api.call("DELETE", f"{path(api)}?id=21") == (
        200,
        {"status": "success", "message": "department ID 21 Deleted"},
    )
    assert await api.call("GET", f"{path(api)}?id=21") == (200, [])


async def test_arrays_answer_per_item_and_delete_by_filters(api: Api) -> None:
    items = [
        {"id": 2, "name": "Ops", "description": "night"},
        {"id": 2, "name": "Again"},
        {"id": 3, "name": "Ops"},
        {"id": 4, "name": "Lab"},
    ]
    status, results = await api.call("POST", path(api), items)
    assert status == 200 and [r["status"] for r in results] == [
        "success",
        "error",
        "success",
        "success",
    ]
    assert results[1]["message"] == "id: department 2 already exists"
    status, results = await api.call("PUT", path(api), [{"id": 4, "description": "x"}, {"id": 9}])
    assert [r["status"] for r in results] == ["success", "error"]
    # A user in department 4 falls back to 0 when it goes; a group in it blocks the delete.
    await api.call("POST", f"user/{api.sid()}", {"userID": "D4", "departmentID": 4})
    await api.call("POST", f"accessgroup/{api.sid()}", {"id": 30, "departmentid": 3})
    status, results = await api.call("DELETE", f"{path(api)}?name=Ops")
    assert status == 200 and results == [
        {"status": "success", "message": "department ID 2 Deleted"},
        {"status": "error", "message": "id: department 3 is used by access groups 30; "
         "move them to another department first"},
    ]  # fmt: skip
    assert (await api.call("DELETE", f"{path(api)}?id=4"))[0] == 200
    user = api.gateway.stores.users.get_user("D4")
    assert user is not None and user.departments == [0]


async def test_refusals_store_nothing(api: Api) -> None:
    await api.call("POST", path(api), {"id": 5, "name": "Five"})
    bad_writes: list[tuple[str, Any, str]] = [
        ("POST", {"id": -1, "name": "x"}, "id:"),
        ("POST", {"id": "6", "name": "x"}, "id:"),
        ("POST", {"id": 6}, "name:"),
        ("POST", {"id": 6, "name": "   "}, "name:"),
        ("POST", {"id": 6, "name": "x" * 65}, "name:"),
        ("POST", {"id": 6, "name": "x", "description": "y" * 257}, "description:"),
        ("POST", {"id": 6, "name": "x", "colour": "red"}, "department:"),
        ("POST", [], "expected"),
        ("POST", "6", "expected"),
        ("PUT", {"id": 77, "name": "x"}, "department 77"),
        ("PUT", {"name": "x"}, "id:"),
    ]
    for method, body, start in bad_writes:
        message = await refused_without_change(api, method, path(api), body)
        assert message.startswith(start), (body, message)
    for query, start in (
        ("", "give at least one"),
        ("?id=0", "id: department 0"),
        ("?name=General", "id: department 0"),
        ("?id=99", "no department"),
        ("?id=x", "id:"),
        ("?colour=red", "unknown query parameter"),
        ("?id=5&id=5", "id: given more than once"),
    ):
        message = await refused_without_change(api, "DELETE", f"{path(api)}{query}", None)
        assert message.startswith(start), (query, message)


async def test_roles_and_generated_bodies(api: Api) -> None:
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        for method in ("POST", "GET", "DELETE"):
            body = {"id": 8, "name": "x"} if method == "POST" else None
            message = await refused_without_change(api, method, f"{path(api, role)}?id=0", body)
            assert message == f"{role} may not do this"
    assert (await api.call("POST", path(api, "USERADMIN"), {"id": 8, "name": "x"}))[0] == 200

    department = st.fixed_dictionaries(
        {},
        optional={
            "id": st.integers(-2, 12) | st.text(max_size=3) | st.none(),
            "name": st.text(max_size=70) | st.integers(),
            "description": st.text(max_size=300),
            "extra": st.booleans(),
        },
    )
    bodies = department | st.lists(department, max_size=3) | st.text(max_size=5)

    async def check(body: Any) -> None:
        for method in ("POST", "PUT"):
            before = stored(api.gateway)
            status, answer = await api.call(method, path(api), body)
            answered_sanely(status, answer)
            if status == 400:
                assert stored(api.gateway) == before, body

    await fuzz(bodies, check, examples=60)
