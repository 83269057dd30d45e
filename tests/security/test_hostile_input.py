"""Hostile input never becomes a 500 or a forged record (docs/security.md, "Hostile input").

- JSON nested thousands of levels deep is refused with a 400 on every endpoint that parses
  JSON (the logins need no credentials), with at most one log line and no traceback; the
  upstream's verify answer parser refuses it as a bad answer (a denial), never raises.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.store.importexport import ImportFileError, read_xml
from gateway.strictjson import MAX_DEPTH, loads_strict
from gateway.upstream.answer import parse_answer
from tests.upstream.test_verify import ask
from tests.upstream.verify_fakes import FakeUpstream
from tests.web.conftest import Client

DEEP_ARRAY = b"[" * 2000
DEEP_OBJECT = b'{"":' * 1000  # 4000 bytes: fits the 4 KiB of a login body


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Log records a site admin would see as trouble (warnings and worse)."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_one_line_no_traceback(caplog: pytest.LogCaptureFixture, lines: int = 1) -> None:
    found = problems(caplog)
    assert len(found) == lines, [r.getMessage() for r in found]
    assert all("nested deeper than" in r.getMessage() for r in found)
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in found)
    assert "Traceback" not in caplog.text


# -- deep nesting ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("path", ["/api/v1/login", "/cgi-bin/restapi/login"])
async def test_deep_nesting_on_a_login_is_a_400_and_one_log_line(
    client: Client, caplog: pytest.LogCaptureFixture, path: str, body: bytes
) -> None:
    caplog.set_level(logging.INFO)
    headers = {"Content-Type": "application/json"}
    status, answer, _ = await client.call("POST", path, data=body, headers=headers)
    assert status == 400, answer
    assert "nested" in str(answer)
    assert_one_line_no_traceback(caplog)


async def test_deep_nesting_behind_a_session_is_a_400_too(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Authenticated endpoints: the native password change and an ACTAtek user add."""
    caplog.set_level(logging.INFO)
    headers = {**await client.token_headers(), "Content-Type": "application/json"}
    status, answer, _ = await client.call(
        "POST", "/api/v1/password", data=DEEP_ARRAY, headers=headers
    )
    assert status == 400, answer
    status, login, _ = await client.call(
        "POST", "/cgi-bin/restapi/login", json={"username": "admin", "password": "simulate"}
    )
    assert status == 200, login
    path = f"/cgi-bin/restapi/user/{login['sessionid']}"
    status, answer, _ = await client.call("POST", path, data=DEEP_OBJECT)
    assert status == 400, answer
    assert_one_line_no_traceback(caplog, lines=2)


def test_strict_json_bounds_the_depth_whatever_the_stack() -> None:
    """A depth the interpreter could still parse is refused too: what is stored must be
    readable again from any stack depth."""
    fits = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads_strict(fits) is not None
    too_deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    with pytest.raises(ValueError, match="nested"):
        loads_strict(too_deep)
    with pytest.raises(ValueError, match="nested"):
        loads_strict(DEEP_ARRAY)


def test_a_deeply_nested_upstream_answer_is_a_bad_answer() -> None:
    answer = parse_answer(b'{"isvalid": true, "x": ' + DEEP_ARRAY + b"}")
    assert answer.verdict == "bad"


async def test_a_deeply_nested_upstream_answer_denies_without_raising() -> None:
    upstream = FakeUpstream()
    await upstream.start()
    try:
        upstream.answer_text("[" * 2000)
        result = await ask(f"{upstream.base}/verify")
    finally:
        await upstream.stop()
    assert (result.granted, result.reason) == (False, "upstream_bad_answer")


def test_deeply_nested_xml_users_file_is_refused_with_its_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.xml"
    deep.write_text("<users><user>" + "<a>" * 100_000 + "</a>" * 100_000 + "</user></users>")
    with pytest.raises(ImportFileError, match="line 1"):
        read_xml(deep)
