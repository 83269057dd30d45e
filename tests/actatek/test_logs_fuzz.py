"""Section 2 under generated input: never a 5xx or a traceback, and a refused addLog
stores nothing."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api
from tests.actatek.terminal_sim import logs

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FILTER_NAMES = ("from", "to", "employeeName", "employeeID", "departmentID", "trigger")
TIMES = st.sampled_from(
    ["2025-07-16T10:24:13", "2025-07-16T10:24:13Z", "2025-07-16T10:24:13.5+02:00", "1969-01-01"]
)
VALUES = st.one_of(TIMES, st.text(max_size=12), st.integers(-5, 10**12).map(str))
QUERIES = st.dictionaries(
    st.one_of(st.sampled_from(FILTER_NAMES), st.text(min_size=1, max_size=6)), VALUES, max_size=4
)


@FUZZ
@given(query=QUERIES, limit=st.one_of(st.integers(-1, 2_000_000).map(str), st.text(max_size=4)))
async def test_generated_filters_answer_logs_or_the_common_error(
    api: Api, query: dict[str, str], limit: str
) -> None:
    suffix = f"/{quote(limit, safe='')}" if limit else ""
    status, body = await api.call("GET", f"getLogs/{api.sid()}{suffix}?{urlencode(query)}")
    assert status in (200, 400), body
    if status == 400:
        assert body["status"] == "error" and "Traceback" not in body["message"]
    else:
        assert isinstance(body, list)


SEGMENTS = st.one_of(TIMES, st.text(min_size=1, max_size=12))


@FUZZ
@given(
    timestamp=SEGMENTS,
    employee=st.one_of(st.sampled_from(["1001", "1002", "9999"]), st.text(min_size=1, max_size=8)),
    trigger=st.one_of(st.sampled_from(["IN", "out", "F40", "F41", "ACCESS DENIED"]), SEGMENTS),
)
async def test_generated_add_log_is_stored_only_when_accepted(
    api: Api, timestamp: str, employee: str, trigger: str
) -> None:
    before = len(await logs(api))
    path = "/".join(quote(part, safe="") for part in (timestamp, employee, trigger))
    status, body = await api.call("POST", f"addLog/{api.sid()}/{path}")
    assert status in (200, 400), body
    assert len(await logs(api)) == before + (status == 200)
