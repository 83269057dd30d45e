"""Section 13 (holidays) over HTTP: the reference's examples, wildcards, the body forms,
the engine's HOLIDAY pattern taking over at once, refusals, roles, generated bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import strategies as st

from gateway.clock import Instant
from gateway.model import Credential
from tests.actatek.conftest import Api
from tests.actatek.test_users import answered_sanely, fuzz, refused_without_change, stored


def path(api: Api, role: str = "SUPERADMIN") -> str:
    return f"holiday/{api.sid(role)}"


async def test_the_reference_examples_and_wildcards(api: Api) -> None:
    assert await api.call("POST", path(api), {"dates": ["2026-10-12", "2025-13-01"]}) == (
        200,
        {"status": "success", "message": "1 holiday added", "invalid_dates": ["2025-13-01"]},
    )
    more = ["2025-12-25", "2026-12-25", "2027-10-15", "2026-05-10", "2026-10-12"]
    answer = await api.call("POST", f"{path(api)}/", more)  # a bare array, a trailing slash
    assert answer == (
        200,
        {"status": "success", "message": "4 holidays added", "invalid_dates": []},
    )

    async def dates(query: str) -> list[str]:
        status, body = await api.call("GET", f"{path(api)}{query}")
        assert status == 200, body
        result: list[str] = body["dates"]
        return result

    assert await dates("") == ["2025-12-25", "2026-05-10", "2026-10-12", "2026-12-25", "2027-10-15"]
    assert await dates("?date=2026-0-0") == ["2026-05-10", "2026-10-12", "2026-12-25"]
    assert await dates("?date=0-12-25") == ["2025-12-25", "2026-12-25"]
    assert await dates("?date=2026-10-0") == ["2026-10-12"]
    assert await dates("?date=2026-10-12") == ["2026-10-12"]
    assert await dates("?date=0-0-0") == await dates("")
    assert await api.call("DELETE", path(api), {"dates": ["2026-10-12", "2027-10-125"]}) == (
        200,
        {"status": "success", "message": "1 holiday deleted", "invalid_dates": ["2027-10-125"]},
    )
    _, body = await api.call("DELETE", path(api), {"dates": "2026-10-12"})  # gone already
    assert body["message"] == "0 holidays deleted" and body["invalid_dates"] == ["2026-10-12"]


async def test_a_new_holiday_switches_the_engine_to_the_holiday_pattern_at_once(api: Api) -> None:
    sid = api.sid()
    holiday_only = {
        "id": 6,
        "name": "Holidays",
        "timespec": {"weekday": "HOLIDAY", "timePattern": "1" * 48},
    }
    await api.call("POST", f"accessright/{sid}", holiday_only)
    await api.call("POST", f"accessgroup/{sid}", {"id": 6, "departmentid": 0, "accessrightid": 6})
    await api.call("POST", f"user/{sid}", {"userID": "H1", "cardsn": "0E0E0E", "groupID": 6})
    noon = datetime(2030, 1, 1, 12, 0, tzinfo=api.gateway.tz).timestamp()  # a Tuesday

    def reason() -> str:
        credential = Credential("card", "0E0E0E", "api-test", noon)
        return api.gateway.engine.decide(
            credential, "front", Instant(noon, api.gateway.clock.monotonic())
        ).reason

    assert reason() == "outside_schedule"
    await api.call("POST", path(api), {"dates": ["2030-01-01"]})
    assert reason() == "granted"
    await api.call("DELETE", path(api), {"dates": ["2030-01-01"]})
    assert reason() == "outside_schedule"


async def test_refusals_roles_and_generated_bodies(api: Api) -> None:
    for body in (
        {},
        {"dates": []},
        {"dates": [1]},
        {"date": ["2026-01-01"]},
        5,
        {"dates": ["x" * 33]},
    ):
        message = await refused_without_change(api, "POST", path(api), body)
        assert "dates" in message or "expected" in message, (body, message)
    for query in (
        "?date=2026",
        "?date=2026-13-0",
        "?date=a-b-c",
        "?day=1",
        "?date=2026-1-1&date=0-0-0",
    ):
        message = await refused_without_change(api, "GET", f"{path(api)}{query}", None)
        assert message.startswith(("date", "unknown")), (query, message)
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        message = await refused_without_change(api, "GET", path(api, role), None)
        assert message == f"{role} may not do this"
    assert (await api.call("POST", path(api, "USERADMIN"), {"dates": ["2030-01-01"]}))[0] == 200

    day = st.dates().map(date.isoformat) | st.text(max_size=12) | st.integers()
    bodies = st.fixed_dictionaries({"dates": st.lists(day, max_size=4) | day}) | st.lists(
        day, max_size=3
    )

    async def check(body: Any) -> None:
        for method in ("POST", "DELETE"):
            before = stored(api.gateway)
            status, answer = await api.call(method, path(api), body)
            answered_sanely(status, answer)
            if status == 400:
                assert stored(api.gateway) == before, body
            else:
                assert all(isinstance(d, str) for d in answer["invalid_dates"]), answer

    await fuzz(bodies, check, examples=60)
