"""Section 11 settings: relaysetting, autoInOut, logUnauthorizedEvent and logsetting take
effect at once, persist, and a refused request changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api
from tests.actatek.terminal_sim import ADA_BITS, UNKNOWN_BITS, journaled, logs, present, sim

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def get(api: Api, path: str) -> Any:
    status, body = await api.call("GET", f"{path.format(sid=api.sid())}")
    assert status == 200, body
    return body


async def test_relay_settings_apply_persist_and_come_back_after_a_restart(api: Api) -> None:
    sid = api.sid()
    assert await get(api, "relaysetting/{sid}/ONE") == {
        "id": "ONE",
        "option": "disable",
        "delay": 5,
    }
    body = {"id": "ONE", "option": "disable", "delay": 11}
    assert await api.call("PUT", f"relaysetting/{sid}/", body) == (
        200,
        {"status": "success", "message": "relay setting ONE updated"},
    )
    front = api.gateway.doors["front"]
    assert front.settings.relay_pulse_s == 11
    two = {"id": "TWO", "option": "access_denied", "delay": 2}
    assert (await api.call("PUT", f"relaysetting/{sid}", two))[0] == 200
    assert await get(api, "relaysetting/{sid}/ALL") == [body, two]
    await present(api, UNKNOWN_BITS)  # a refusal now pulses the second relay
    assert front.status()["second_relay"]["state"] == "on"
    # A restart re-applies what the API set over the configuration file.
    configured = api.gateway.settings.door("front")
    front.set_relay_settings(configured)
    api.gateway.terminal.start()
    assert (front.settings.relay_pulse_s, front.settings.second_relay_mode) == (11, "access_denied")
    rows = await api.gateway.recorder.read_events(0, 1000)
    journaled = [e.trace for e in rows if e.type == "api"]
    assert "door=front relay=ONE option=disable delay=11" in journaled


async def test_relay_setting_refusals(api: Api) -> None:
    sid = api.sid()
    before = await get(api, "relaysetting/{sid}/ALL")
    for body in (
        {"id": "ONE", "delay": 21},  # 1-20 s without an unlock schedule
        {"id": "ONE", "delay": 0},
        {"id": "ONE", "option": "access_denied"},  # would unlock for refused credentials
        {"id": "TWO", "option": "bell_schedule"},  # set in the configuration file only
        {"id": "TWO", "option": "siren"},
        {"id": "TWO", "delay": 2.5},
        {"id": "THREE", "delay": 3},
        {"delay": 3},
        {"id": "ONE", "delay": 3, "colour": "red"},
    ):
        status, answer = await api.call("PUT", f"relaysetting/{sid}", body)
        assert status == 400 and answer["status"] == "error", body
    assert (await api.call("PUT", f"relaysetting/{sid}?door=x", {"id": "ONE"}))[0] == 400
    assert await get(api, "relaysetting/{sid}/ALL") == before
    assert api.gateway.terminal.store.get("relay:front") is None


async def test_relay_two_rings_the_doorbell_only_on_a_door_with_a_doorbell_button(
    api: Api,
) -> None:
    body = {"id": "TWO", "option": "doorbell", "delay": 1}
    status, answer = await api.call("PUT", f"relaysetting/{api.sid()}?door=back", body)
    assert status == 400 and "doorbell_pin" in answer["message"]
    assert api.gateway.doors["back"].settings.second_relay_mode == "disable"
    assert (await api.call("PUT", f"relaysetting/{api.sid()}", body))[0] == 200  # front has one


async def test_relay_two_can_be_enabled_on_a_door_that_had_none(api: Api) -> None:
    sid = api.sid()
    body = {"id": "TWO", "option": "access_granted", "delay": 1}
    assert (await api.call("PUT", f"relaysetting/{sid}?door=back", body))[0] == 200
    assert (await api.call("POST", f"relay/{sid}/open/TWO?door=back"))[0] == 200
    assert api.gateway.doors["back"].status()["second_relay"]["state"] == "on"


async def test_auto_in_out_takes_effect_on_the_next_decision(api: Api) -> None:
    sid = api.sid()
    assert await get(api, "autoInOut/{sid}/") == {
        "mode": "disable",
        "auto_reset": True,
        "rejectRepeat_time_sec": 8,
        "lockout_time_min": 20,
        "crowd_limit_count": 100,
        "crowd_reset_hhmm": "00:00",
        "anti_passback": "hard",
    }
    example = {
        "mode": "disable",
        "auto_reset": True,
        "rejectRepeat_time_sec": 8,
        "lockout_time_min": 20,
        "crowd_limit_count": 100,
        "crowd_reset_hhmm": "10:11",
    }
    assert await api.call("PUT", f"autoInOut/{sid}", example) == (
        200,
        {"status": "success", "message": "autoInOut option updated"},
    )
    assert (await present(api, ADA_BITS)).granted
    repeat = {"mode": "reject_repeat_login", "rejectRepeat_time_sec": 600}
    assert (await api.call("PUT", f"autoInOut/{sid}", repeat))[0] == 200
    assert (await present(api, ADA_BITS)).granted
    second = await present(api, ADA_BITS)
    assert (second.granted, second.reason) == (False, "repeat_rejected")
    shown = await get(api, "autoInOut/{sid}")
    assert (shown["mode"], shown["crowd_reset_hhmm"]) == ("reject_repeat_login", "10:11")
    assert api.gateway.terminal.store.get("auto_in_out")["reject_repeat_s"] == 600


async def test_auto_in_out_refusals_change_nothing(api: Api) -> None:
    sid = api.sid()
    before = await get(api, "autoInOut/{sid}")
    for body in (
        {"mode": "enable"},  # automatic IN/OUT: readers have directions here
        {"mode": "autoInOut"},
        {"mode": "party"},
        {"rejectRepeat_time_sec": 0},
        {"lockout_time_min": 121},
        {"crowd_limit_count": 65536},
        {"crowd_reset_hhmm": "24:00"},
        {"crowd_reset_hhmm": "9:30"},
        {"anti_passback": "medium"},
        {"auto_reset": "yes"},
        {"mode": "disable", "extra": 1},
    ):
        status, answer = await api.call("PUT", f"autoInOut/{sid}", body)
        assert status == 400 and answer["status"] == "error", body
    assert await get(api, "autoInOut/{sid}") == before
    assert api.gateway.engine.auto_in_out.mode == "disable"


async def test_log_unauthorized_event_filters_the_listing_only(api: Api) -> None:
    sid = api.sid()
    assert await get(api, "logUnauthorizedEvent/{sid}/") == {"enable": True}
    assert await api.call("PUT", f"logUnauthorizedEvent/{sid}/false") == (
        200,
        {"status": "success", "message": "logUnauthorizedEvent set false"},
    )
    assert await get(api, "logUnauthorizedEvent/{sid}") == {"enable": False}
    denied = await present(api, UNKNOWN_BITS)
    assert [e for e in await logs(api) if e["trigger"] == "ACCESS DENIED"] == []
    rows = await api.gateway.recorder.read_events(0, 1000)
    assert denied.seq in [e.seq for e in rows]  # journaled
    assert (await get(api, "logsetting/{sid}"))["log_unAuth_event"] is False  # one flag
    assert (await api.call("PUT", f"logUnauthorizedEvent/{sid}/1"))[0] == 200
    assert [e["logID"] for e in await logs(api) if e["trigger"] == "ACCESS DENIED"] == [denied.seq]
    assert (await api.call("PUT", f"logUnauthorizedEvent/{sid}/perhaps"))[0] == 400


async def test_log_setting_sizes_the_journal_and_filters(api: Api) -> None:
    sid = api.sid()
    shown = await get(api, "logsetting/{sid}")
    assert set(shown) == {
        "log_event",
        "log_size",
        "log_unAuth_event",
        "log_Accept_nonRegistered_card",
        "log_photo_Auth_event",
        "log_photo_unAuth_event",
        "log_Accept_nonRegistered_facial",
        "log_case_event",
        "log_EM_Option",
    }
    assert shown["log_size"] == 100_000  # [journal] max_events
    example = {
        "log_event": "user_audit_event",
        "log_size": 75000,
        "log_unAuth_event": True,
        "log_Accept_nonRegistered_card": True,
        "log_photo_Auth_event": True,
        "log_photo_unAuth_event": True,
        "log_Accept_nonRegistered_facial": True,
        "log_case_event": True,
        "log_EM_Option": "FullSN",
    }
    assert await api.call("PUT", f"logsetting/{sid}/", example) == (
        200,
        {"status": "success", "message": "log setting updated"},
    )
    assert api.gateway.journal.max_events == 75_000
    assert api.gateway.status_board.status()["journal"]["max_events"] == 75_000
    assert await get(api, "logsetting/{sid}") == example
    await present(api, ADA_BITS)
    await sim(api, "input", {"door": "front", "input": "tamper", "active": True})
    await journaled(api, "tamper")
    assert {"IN", "TAMPER ALARM"} <= {e["trigger"] for e in await logs(api)}
    hidden = {"log_event": "audit_event", "log_case_event": False}
    assert (await api.call("PUT", f"logsetting/{sid}", hidden))[0] == 200
    triggers = {e["trigger"] for e in await logs(api)}
    assert "IN" not in triggers and "TAMPER ALARM" not in triggers and "DOOR UNLOCKED" in triggers
    for bad in ({"log_size": 12345}, {"log_event": "all"}, {"log_EM_Option": "x"}):
        assert (await api.call("PUT", f"logsetting/{sid}", bad))[0] == 400
    assert api.gateway.journal.max_events == 75_000


JSONISH = st.none() | st.booleans() | st.integers(-5, 100_000) | st.text(max_size=12)
RELAY_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["ONE", "TWO", "ALL"]) | JSONISH,
        "option": st.sampled_from(["disable", "access_granted", "doorbell"]) | JSONISH,
        "delay": st.integers(-1, 30) | JSONISH,
    },
)
AUTO_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["disable", "anti_passback", "crowd_control"]) | JSONISH,
        "rejectRepeat_time_sec": JSONISH,
        "crowd_reset_hhmm": st.sampled_from(["12:30", "99:99"]) | JSONISH,
        "auto_reset": JSONISH,
    },
)
LOG_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "log_size": st.sampled_from([10_000, 500_000, 3]) | JSONISH,
        "log_event": st.sampled_from(["disable", "user_event"]) | JSONISH,
        "log_case_event": JSONISH,
    },
)
ENDPOINTS = {
    "relaysetting": "relaysetting/{sid}/ALL",
    "autoInOut": "autoInOut/{sid}",
    "logsetting": "logsetting/{sid}",
}


@FUZZ
@given(
    target=st.sampled_from(sorted(ENDPOINTS)),
    body=st.one_of(RELAY_BODIES, AUTO_BODIES, LOG_BODIES),
)
async def test_generated_settings_never_fail_and_refusals_change_nothing(
    api: Api, target: str, body: dict[str, Any]
) -> None:
    store = api.gateway.terminal.store
    keys = ("relay:front", "auto_in_out", "log_settings")
    before = await get(api, ENDPOINTS[target]), [store.get(key) for key in keys]
    engine_before = dataclasses.asdict(api.gateway.engine.auto_in_out)
    status, answer = await api.call("PUT", f"{target}/{api.sid()}", body)
    assert status in (200, 400), answer
    if status == 400:
        assert answer["status"] == "error"
        after = await get(api, ENDPOINTS[target]), [store.get(key) for key in keys]
        assert after == before
        assert dataclasses.asdict(api.gateway.engine.auto_in_out) == engine_before
