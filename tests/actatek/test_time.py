"""Section 10 in simulation: NTP setting, terminal date and time (an offset shown by the
API only), the reference's `PUT ntp` Path for setting the time, and the roles."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api
from tests.actatek.terminal_sim import ADA_BITS, present

LONDON = ZoneInfo("Europe/London")


async def get(api: Api, path: str, role: str = "SUPERADMIN") -> Any:
    status, body = await api.call("GET", f"{path}/{api.sid(role)}")
    assert status == 200, body
    return body


async def test_ntp_setting_as_the_reference_shows_it(api: Api) -> None:
    default = await get(api, "ntp", role="NETWORKADMIN")
    assert default["enable"] is True and "pool.ntp.org" in default["serveraddr"]
    body = {"serveraddr": "0.arch.pool.ntp.org 1.arch.pool.ntp.org", "enable": True}
    assert await api.call("PUT", f"ntp/{api.sid('NETWORKADMIN')}", body) == (
        200,
        {"status": "success", "message": "NTP Server setting updated"},
    )
    assert await get(api, "ntp") == body
    assert (await api.call("PUT", f"ntp/{api.sid()}", {"enable": False}))[0] == 200
    assert await get(api, "ntp") == {**body, "enable": False}  # fields left out stay
    rows = await api.gateway.recorder.read_events(0, 1000)
    journaled = [e for e in rows if e.reason == "ntp_set"]
    assert journaled[0].user_id == "networkadmin"


async def test_setting_the_time_shows_it_and_leaves_the_daemon_clock_real(api: Api) -> None:
    sid = api.sid()
    wanted = {"currentTime": "2030-01-02T03:04:05", "timezone": "Europe/London"}
    status, body = await api.call("PUT", f"ntp/{sid}", wanted)  # the reference's 10.4 Path
    assert status == 400 and "NTP" in body["message"]  # NTP would undo it
    assert (await api.call("PUT", f"ntp/{sid}", {"enable": False}))[0] == 200
    assert await api.call("PUT", f"ntp/{sid}", wanted) == (
        200,
        {"status": "success", "message": "Time setting updated"},
    )
    shown = await get(api, "time", role="NETWORKADMIN")
    assert shown["timezone"] == "Europe/London"
    moment = datetime.fromisoformat(shown["currentTime"]).replace(tzinfo=LONDON)
    target = datetime(2030, 1, 2, 3, 4, 5, tzinfo=LONDON)
    assert 0 <= (moment - target).total_seconds() < 5
    assert "Z" not in shown["currentTime"]
    event = await present(api, ADA_BITS)
    assert not event.time.startswith("2030")  # decisions and logs keep the real time
    status, _ = await api.call("PUT", f"time/{sid}", {"currentTime": "2031-06-01T12:00:00Z"})
    assert status == 200
    assert (await get(api, "time"))["currentTime"].startswith("2031-06-01T13:00")  # BST
    assert (await api.call("PUT", f"ntp/{sid}", {"enable": True}))[0] == 200
    assert (await get(api, "time"))["currentTime"][:4] == str(datetime.now(LONDON).year)


async def test_refusals_and_roles(api: Api) -> None:
    sid = api.sid()
    assert (await api.call("PUT", f"ntp/{sid}", {"enable": False}))[0] == 200
    before = (await get(api, "ntp"), await get(api, "time"))
    bodies: tuple[Any, ...] = (
        {"currentTime": "2030-01-02T03:04:05", "timezone": "America/New_York"},
        {"currentTime": "1999-12-31T23:59:59"},
        {"currentTime": "2030-02-30T00:00:00"},
        {"currentTime": "2030-01-02 03:04:05"},
        {"timezone": "Not/AZone", "currentTime": "2030-01-02T03:04:05"},
        {"serveraddr": "pool.ntp.org", "currentTime": "2030-01-02T03:04:05"},
        {"serveraddr": "bad_host!"},
        {"serveraddr": ""},
        {"serveraddr": " ".join(f"{n}.pool.ntp.org" for n in range(9))},
        {"enable": "yes"},
        {"colour": "red"},
        [],
    )
    for body in bodies:
        status, answer = await api.call("PUT", f"ntp/{sid}", body)
        assert status == 400 and answer["status"] == "error", body
    status, answer = await api.call("PUT", f"ntp/{api.sid('USERADMIN')}", {"enable": True})
    assert status == 400 and "may not" in answer["message"]
    for role in ("USERADMIN", "PERSONALUSER"):
        assert (await api.call("GET", f"ntp/{api.sid(role)}"))[0] == 400
        assert (await api.call("GET", f"time/{api.sid(role)}"))[0] == 400
    ntp, shown = await get(api, "ntp"), await get(api, "time")
    assert ntp == before[0] and shown["currentTime"][:10] == before[1]["currentTime"][:10]


JSONISH = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
TIME_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "serveraddr": st.sampled_from(["a.b", "10.0.0.1 ::1", "-x.y"]) | JSONISH,
        "enable": JSONISH,
        "currentTime": st.sampled_from(["2030-01-02T03:04:05Z", "2030-01-02T03:04:05+25:00"])
        | JSONISH,
        "timezone": st.sampled_from(["Europe/London", "UTC"]) | JSONISH,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=TIME_BODIES)
async def test_generated_bodies_never_fail_and_refusals_store_nothing(
    api: Api, body: dict[str, Any]
) -> None:
    store = api.gateway.terminal.store
    before = (await get(api, "ntp"), store.get("simulated_time"))
    status, answer = await api.call("PUT", f"ntp/{api.sid()}", body)
    assert status in (200, 400), answer
    assert answer["status"] == ("success" if status == 200 else "error")
    if status == 400:
        assert (await get(api, "ntp"), store.get("simulated_time")) == before
