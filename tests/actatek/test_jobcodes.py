"""Section 12: job code settings and job codes, as the reference's examples show them."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api


async def codes(api: Api, query: str = "") -> Any:
    status, body = await api.call("GET", f"jobcode/{api.sid()}{query}")
    assert status == 200, body
    return body


async def test_settings_as_the_reference_shows_them(api: Api) -> None:
    sid = api.sid("NETWORKADMIN")
    status, body = await api.call("GET", f"jobcodesetting/{sid}/")
    assert (status, [s["jobcode"] for s in body]) == (200, [1, 2, 3])
    assert body[0] == {"jobcode": 1, "name": "Job", "enable": "disable"}
    example = {"jobcode": 1, "name": "Job 1111", "enable": "enable"}
    assert await api.call("PUT", f"jobcodesetting/{sid}/", example) == (
        200,
        {"status": "success", "message": "jobcode setting 1 updated"},
    )
    items = [{"jobcode": 2, "name": "Occup. 2222"}, {"jobcode": 4, "name": "x"}]
    status, answer = await api.call("PUT", f"jobcodesetting/{sid}", items)
    assert [a["status"] for a in answer] == ["success", "error"]
    status, body = await api.call("GET", f"jobcodesetting/{sid}")
    assert body[:2] == [example, {"jobcode": 2, "name": "Occup. 2222", "enable": "disable"}]


async def test_add_update_get_delete(api: Api) -> None:
    sid = api.sid()
    code = {"jobcode": 1, "id": 1, "name": "Job 1-1", "enable": "disable"}
    assert await api.call("POST", f"jobcode/{sid}/", code) == (
        200,
        {"status": "success", "message": "jobcode 1 id 1 added"},
    )
    batch = [
        {"jobcode": 1, "id": 2, "name": "ONE", "enable": "default"},
        {"jobcode": 1, "id": 3, "name": "Two defaults", "enable": "default"},
        {"jobcode": 1, "id": 1, "name": "again", "enable": "enable"},
        {"jobcode": 2, "id": 1, "name": "Other setting", "enable": "default"},
    ]
    status, answer = await api.call("POST", f"jobcode/{sid}", batch)
    assert [a["status"] for a in answer] == ["success", "error", "error", "success"]
    assert answer[0]["message"] == "jobcode 1 id 2 added"
    assert [c["id"] for c in await codes(api, "?jobcode=1")] == [1, 2]
    assert await codes(api, "?jobcode=1&id=2") == [batch[0]]
    assert [c["jobcode"] for c in await codes(api, "?enable=default")] == [1, 2]
    assert await codes(api, "?name=ONE") == [batch[0]]
    update = {"jobcode": 1, "id": 1, "name": "Renamed"}
    assert (await api.call("PUT", f"jobcode/{sid}", update))[1] == {
        "status": "success",
        "message": "jobcode 1 id 1 updated",
    }
    assert (await codes(api, "?jobcode=1&id=1"))[0] == {**code, "name": "Renamed"}
    status, answer = await api.call("DELETE", f"jobcode/{sid}?jobcode=1&id=2&name=TWO")
    assert status == 400 and "named" in answer["message"]  # the name must match
    assert await api.call("DELETE", f"jobcode/{sid}?jobcode=1&id=2&name=ONE") == (
        200,
        {"status": "success", "message": "jobcode 1 id 2 deleted"},
    )
    assert [c["id"] for c in await codes(api, "?jobcode=1")] == [1]
    reasons = {e.reason for e in await api.gateway.recorder.read_events(0, 1000) if e.type == "api"}
    assert {"jobcode_added", "jobcode_updated", "jobcode_deleted"} <= reasons


async def test_refusals_store_nothing_and_roles(api: Api) -> None:
    sid = api.sid()
    for body in (
        {"jobcode": 4, "id": 1, "name": "x", "enable": "enable"},
        {"jobcode": 1, "id": 0, "name": "x", "enable": "enable"},
        {"jobcode": 1, "id": 1000000, "name": "x", "enable": "enable"},
        {"jobcode": 1, "id": 1, "enable": "enable"},
        {"jobcode": 1, "id": 1, "name": "x"},
        {"jobcode": 1, "id": 1, "name": "x", "enable": "on"},
        {"jobcode": 1, "id": 1, "name": "x", "enable": "enable", "colour": "red"},
        {"jobcode": "1", "id": 1, "name": "x", "enable": "enable"},
    ):
        status, answer = await api.call("POST", f"jobcode/{sid}", body)
        assert status == 400 and answer["status"] == "error", body
    assert (await api.call("PUT", f"jobcode/{sid}", {"jobcode": 1, "id": 9, "name": "x"}))[0] == 400
    for query in ("?id=1", "?jobcode=x", "?enable=maybe", "?colour=red"):
        assert (await api.call("GET", f"jobcode/{sid}{query}"))[0] == 400, query
    for query in ("", "?jobcode=1&id=1", "?jobcode=1&id=1&name=x"):
        assert (await api.call("DELETE", f"jobcode/{sid}{query}"))[0] == 400, query
    assert await codes(api) == []
    status, answer = await api.call("GET", f"jobcode/{api.sid('USERADMIN')}")
    assert status == 400 and "may not" in answer["message"]


JSONISH = st.none() | st.booleans() | st.integers(-2, 1_000_001) | st.text(max_size=10)
CODES = st.fixed_dictionaries(
    {},
    optional={
        "jobcode": st.integers(0, 4) | JSONISH,
        "id": st.integers(0, 3) | JSONISH,
        "name": st.sampled_from(["A", ""]) | JSONISH,
        "enable": st.sampled_from(["enable", "disable", "default"]) | JSONISH,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=CODES, method=st.sampled_from(["POST", "PUT"]))
async def test_generated_codes_never_fail_and_refusals_store_nothing(
    api: Api, body: dict[str, Any], method: str
) -> None:
    before = await codes(api)
    status, answer = await api.call(method, f"jobcode/{api.sid()}", body)
    assert status in (200, 400), answer
    if status == 400:
        assert await codes(api) == before
