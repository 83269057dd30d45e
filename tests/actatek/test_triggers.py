"""Section 7: getTriggers, updateTrigger, clearTrigger."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api

OFFICE = "0" * 16 + "1" * 18 + "0" * 14  # 08:00-17:00


async def triggers(api: Api, query: str = "", role: str = "SUPERADMIN") -> Any:
    status, body = await api.call("GET", f"trigger/{api.sid(role)}{query}")
    assert status == 200, body
    return body


async def test_the_42_triggers_and_one_by_type(api: Api) -> None:
    every = await triggers(api)
    assert [t["type"] for t in every] == ["IN", "OUT", *(f"F{n}" for n in range(1, 41))]
    assert every[0] == {
        "type": "IN",
        "name": "IN",
        "enable": True,
        "freeJobcode": False,
        "timespec": [],
    }
    assert every[2]["enable"] is False
    assert await triggers(api, "?type=out", role="NETWORKADMIN") == every[1]
    for bad in ("?type=F41", "?type=", "?kind=IN"):
        status, body = await api.call("GET", f"trigger/{api.sid()}{bad}")
        assert status == 400 and body["status"] == "error", bad


async def test_update_then_clear_the_schedule_as_the_reference_answers(api: Api) -> None:
    body = {
        "type": "F32",
        "name": "Overtime",
        "enable": True,
        "timespec": [
            {"weekday": "monday", "timePattern": OFFICE},
            {"weekday": "HOLIDAY", "timePattern": "1" * 48},
        ],
    }
    status, answer = await api.call("PUT", f"trigger/{api.sid()}", body)
    assert (status, answer) == (
        200,
        {"status": "success", "message": "trigger type F32 schedule Updated"},
    )
    f32 = await triggers(api, "?type=F32")
    assert (f32["name"], f32["enable"]) == ("Overtime", True)
    assert f32["timespec"] == [
        {"weekday": "MONDAY", "timePattern": OFFICE},
        {"weekday": "HOLIDAY", "timePattern": "1" * 48},
    ]
    status, answer = await api.call("DELETE", f"trigger/{api.sid()}/F32")
    assert answer == {"status": "success", "message": "trigger type F32 schedule cleared"}
    f32 = await triggers(api, "?type=F32")
    assert (f32["name"], f32["timespec"]) == ("Overtime", [])  # the name stays
    rows = await api.gateway.recorder.read_events(0, 1000)
    reasons = {(e.reason, e.user_id, e.trace) for e in rows}
    assert ("trigger_updated", "superadmin", "type=F32") in reasons
    assert ("trigger_cleared", "superadmin", "type=F32") in reasons


async def test_array_form_and_free_jobcode_only_for_f1_to_f10(api: Api) -> None:
    items = [
        {"type": "F5", "freeJobcode": True},
        {"type": "F11", "freeJobcode": True},
        {"type": "OUT", "name": "Leaving"},
    ]
    status, answer = await api.call("PUT", f"trigger/{api.sid()}", items)
    assert status == 200
    assert [a["status"] for a in answer] == ["success", "error", "success"]
    assert (await triggers(api, "?type=F5"))["freeJobcode"] is True
    assert (await triggers(api, "?type=F11"))["freeJobcode"] is False
    assert (await triggers(api, "?type=OUT"))["name"] == "Leaving"


async def test_bad_requests_and_roles_change_nothing(api: Api) -> None:
    before = await triggers(api)
    sid = api.sid()
    bodies: tuple[Any, ...] = (
        {"type": "F1", "timespec": [{"weekday": "MONDAY", "timePattern": "2" * 48}]},
        {"type": "F1", "timespec": [{"weekday": "FUNDAY", "timePattern": OFFICE}]},
        {"type": "F1", "timespec": [{"weekday": "MONDAY", "timePattern": OFFICE}] * 2},
        {"type": "F1", "name": ""},
        {"type": "F1", "colour": "red"},
        {"type": "F41"},
        {"name": "no type"},
        [],
    )
    for body in bodies:
        status, answer = await api.call("PUT", f"trigger/{sid}", body)
        assert status == 400 and answer["status"] == "error", body
    status, answer = await api.call("PUT", f"trigger/{api.sid('USERADMIN')}", {"type": "IN"})
    assert status == 400 and "may not" in answer["message"]
    status, _ = await api.call("DELETE", f"trigger/{sid}/F99")
    assert status == 400
    assert await triggers(api) == before


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
TRIGGER_BODIES = st.fixed_dictionaries(
    {"type": st.sampled_from(["IN", "F3", "F12", "X"])},
    optional={
        "name": JSONISH,
        "enable": JSONISH,
        "freeJobcode": JSONISH,
        "timespec": st.lists(
            st.fixed_dictionaries(
                {"weekday": st.sampled_from(["MONDAY", "sunday", "Holiday", "x"])},
                optional={"timePattern": st.sampled_from([OFFICE, "1" * 47, "ab"]) | JSONISH},
            ),
            max_size=3,
        )
        | JSONISH,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=TRIGGER_BODIES)
async def test_generated_updates_never_fail_and_refusals_store_nothing(
    api: Api, body: dict[str, Any]
) -> None:
    before = await triggers(api)
    status, answer = await api.call("PUT", f"trigger/{api.sid()}", body)
    assert status in (200, 400), answer
    if status == 400:
        assert answer["status"] == "error"
        assert await triggers(api) == before
