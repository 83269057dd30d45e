"""Section 5 (access rights) over HTTP: the structure chosen for the lost request table,
partial updates, the engine seeing a change at once, refusals, roles, generated bodies."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.actatek.conftest import Api
from tests.actatek.test_users import answered_sanely, fuzz, refused_without_change, stored

OFFICE = "0" * 18 + "1" * 18 + "0" * 12  # 09:00-18:00


def path(api: Api, role: str = "SUPERADMIN") -> str:
    return f"accessright/{api.sid(role)}"


async def test_add_get_update_delete(api: Api) -> None:
    right = {
        "id": 14,
        "name": "Office",
        "description": "weekdays 9-18",
        "timespec": [
            {"weekday": "MONDAY", "timePattern": OFFICE},
            {"weekday": "friday", "timePattern": OFFICE},
            {"weekday": "SUNDAY", "timePattern": "0" * 48},
        ],
    }
    assert await api.call("POST", path(api), right) == (
        200,
        {"status": "success", "message": "access right ID 14 Added"},
    )
    status, rights = await api.call("GET", f"{path(api)}?id=14")
    assert status == 200 and rights == [
        {
            "id": 14,
            "name": "Office",
            "description": "weekdays 9-18",
            "timespec": [
                {"weekday": "SUNDAY", "timePattern": "0" * 48},
                {"weekday": "MONDAY", "timePattern": OFFICE},
                {"weekday": "FRIDAY", "timePattern": OFFICE},
            ],
        }
    ]
    engine_right = api.gateway.engine.snapshot.rights[14]
    assert engine_right.patterns["MONDAY"] == OFFICE and "TUESDAY" not in engine_right.patterns
    # A name change keeps the week; a timespec replaces it whole.
    assert await api.call("PUT", path(api), {"id": 14, "name": "Office hours"}) == (
        200,
        {"status": "success", "message": "access right ID 14 Updated"},
    )
    _, rights = await api.call("GET", f"{path(api)}?name=Office%20hours")
    assert len(rights) == 1 and len(rights[0]["timespec"]) == 3
    holiday = {"weekday": "HOLIDAY", "timePattern": "1" * 48}
    await api.call("PUT", path(api), {"id": 14, "timespec": holiday})
    _, rights = await api.call("GET", f"{path(api)}?id=14")
    assert rights[0]["timespec"] == [holiday] and rights[0]["name"] == "Office hours"
    assert set(api.gateway.engine.snapshot.rights[14].patterns) == {"HOLIDAY"}
    assert await api.call("DELETE", f"{path(api)}/14") == (
        200,
        {"status": "success", "message": "access right ID 14 Deleted"},
    )
    assert 14 not in api.gateway.engine.snapshot.rights
    status, body = await api.call("DELETE", f"{path(api)}/14")
    assert status == 400 and body["message"] == "access right 14 does not exist"


async def test_arrays_auto_ids_and_listing(api: Api) -> None:
    items = [{"name": "Auto"}, {"id": 0, "name": "Clash"}, {"id": 9, "name": "Nine"}]
    status, results = await api.call("POST", path(api), items)
    assert status == 200 and results == [
        {"status": "success", "message": "access right ID 1 Added"},
        {"status": "error", "message": "id: access right 0 already exists"},
        {"status": "success", "message": "access right ID 9 Added"},
    ]
    status, rights = await api.call("GET", path(api))
    assert [r["id"] for r in rights] == [0, 1, 9] and rights[1]["timespec"] == []
    assert len(rights[0]["timespec"]) == 8  # right 0, Always: every day and HOLIDAY
    status, results = await api.call("PUT", path(api), [{"id": 9, "name": "N"}, {"id": 10}])
    assert [r["status"] for r in results] == ["success", "error"]


async def test_refusals_store_nothing(api: Api) -> None:
    def week(*specs: Any) -> dict[str, Any]:
        return {"name": "x", "timespec": list(specs)}

    monday = {"weekday": "MONDAY", "timePattern": OFFICE}
    bad: list[tuple[str, Any, str]] = [
        ("POST", {"id": 3}, "name:"),
        ("POST", week({"weekday": "MON", "timePattern": OFFICE}), "timespec:"),
        ("POST", week({"weekday": "MONDAY", "timePattern": "1" * 47}), "timespec:"),
        ("POST", week({"weekday": "MONDAY", "timePattern": "2" * 48}), "timespec:"),
        ("POST", week({"weekday": "MONDAY"}), "timePattern:"),
        ("POST", week(monday, monday), "timespec:"),
        ("POST", week({**monday, "x": 1}), "timespec:"),
        ("POST", week("MONDAY"), "timespec:"),
        ("POST", {"name": "x", "id": 2**31}, "id:"),
        ("POST", {"name": "x", "weekdays": []}, "access right:"),
        ("PUT", {"name": "x"}, "id:"),
        ("PUT", {"id": 55, "name": "x"}, "access right 55"),
    ]
    for method, body, start in bad:
        message = await refused_without_change(api, method, path(api), body)
        assert message.startswith(start), (body, message)
    for suffix, start in (("/0", "id: access right 0 (Always)"), ("/x", "id:"), ("/²", "id:")):
        message = await refused_without_change(api, "DELETE", f"{path(api)}{suffix}", None)
        assert message.startswith(start), (suffix, message)
    message = await refused_without_change(api, "GET", f"{path(api)}?weekday=MONDAY", None)
    assert message.startswith("unknown query parameter")


async def test_roles_and_generated_bodies(api: Api) -> None:
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        message = await refused_without_change(api, "POST", path(api, role), {"name": "x"})
        assert message == f"{role} may not do this"
    assert (await api.call("POST", path(api, "USERADMIN"), {"name": "x"}))[0] == 200

    spec = st.fixed_dictionaries(
        {},
        optional={
            "weekday": st.sampled_from(["MONDAY", "holiday", "SUNDAY", "Funday", ""])
            | st.integers(),
            "timePattern": st.sampled_from(["1" * 48, "0" * 48, "1" * 47, "01" * 25])
            | st.text(max_size=5),
        },
    )
    right = st.fixed_dictionaries(
        {},
        optional={
            "id": st.integers(-1, 4) | st.none() | st.booleans(),
            "name": st.text(max_size=70),
            "description": st.text(max_size=10),
            "timespec": st.lists(spec, max_size=9) | spec | st.integers(),
        },
    )

    async def check(body: Any) -> None:
        for method in ("POST", "PUT"):
            before = stored(api.gateway)
            status, answer = await api.call(method, path(api), body)
            answered_sanely(status, answer)
            if status == 400:
                assert stored(api.gateway) == before, body

    await fuzz(right | st.lists(right, max_size=3), check, examples=60)
