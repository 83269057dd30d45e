"""Hostile input never becomes a 500 or a forged record (docs/security.md, "Hostile input").

- JSON nested thousands of levels deep is refused with a 400 on every endpoint that parses
  JSON (the logins need no credentials), with at most one log line and no traceback; the
  upstream's verify answer parser refuses it as a bad answer (a denial), never raises.
- Control characters in any value that reaches the journal or the service log are escaped:
  one line of log is one line, and a journal row cannot carry a fake second record.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.logsetup import log_handler
from gateway.model import Event
from gateway.store.importexport import ImportFileError, read_xml
from gateway.store.journal import EventJournal
from gateway.strictjson import MAX_DEPTH, loads_strict
from gateway.upstream.answer import parse_answer
from tests.upstream.test_verify import ask
from tests.upstream.verify_fakes import FakeUpstream
from tests.web.conftest import Client, basic

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


# -- control characters ------------------------------------------------------------------

# No ":" in it: basic auth ends the user name at the first one.
FORGED_NAME = "eve\n2027-01-15 09.00 access granted admin\x1b[2J\u202e\x00"


def printable(row: dict[str, object]) -> bool:
    return all(value.isprintable() for value in row.values() if isinstance(value, str))


async def test_a_basic_auth_user_name_cannot_forge_a_journal_record(client: Client) -> None:
    """The OpenDoor basic-auth user name is journaled on a failure: escaped, on one row."""
    status, _, _ = await client.open_door(auth=basic(FORGED_NAME, "wrong"))
    assert status == 401
    await client.gateway.writer.flush()
    failed = await client.events(reason="http_unlock_auth_failed")
    assert len(failed) == 1
    assert failed[0]["user_id"] == "eve\\n2027-01-15 09.00 access granted admin\\x1b[2J\\u202e\\x00"
    assert all(printable(row) for row in await client.events())


def test_every_text_field_of_an_event_is_escaped_when_journaled(tmp_path: Path) -> None:
    """The journal is the boundary: whichever component passes a hostile value (a plate
    from a camera, an upstream's message, a reader name), the row holds its escape. (A QR
    code is never stored: only its fingerprint, see test_files_and_leaks.py.)"""
    journal = EventJournal(tmp_path / "gateway.db", ZoneInfo("UTC"), max_events=100)
    try:
        hostile = "x\r\ny\x7f\x9b\u2028\ud800"
        event = Event(
            "access", 1_800_000_000.0, door=hostile, reader=hostile, user_id=hostile,
            credential_kind="plate", credential=hostile, granted=False, reason=hostile,
            source=hostile, trace=hostile,
        )  # fmt: skip
        seq = journal.append(event)
        (row,) = journal.read(seq - 1, 1)
    finally:
        journal.close()
    escaped = "x\\r\\ny\\x7f\\x9b\\u2028\\ud800"
    assert (row.door, row.reader, row.user_id, row.credential) == (escaped,) * 4
    assert (row.reason, row.source, row.trace) == (escaped,) * 3


def test_a_log_line_with_a_hostile_value_stays_one_escaped_line() -> None:
    """The daemon's log handler: a message is one line whatever its values hold; a
    traceback keeps its own lines, each escaped and indented (so an exception message
    quoting a client's value over two lines cannot start a record of its own)."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.hostile")
    logger.propagate = False
    logger.addHandler(log_handler(stream))
    try:
        logger.warning("login refused for %s", FORGED_NAME)
        try:
            raise ValueError(f"bad name {FORGED_NAME}")
        except ValueError:
            logger.exception("fault for %s", "eve\r\nmallory")
    finally:
        logger.handlers.clear()
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(
        "login refused for eve\\n2027-01-15 09.00 access granted admin\\x1b[2J\\u202e\\x00"
    )
    assert lines[1].endswith("fault for eve\\r\\nmallory")
    assert lines[2] == "  Traceback (most recent call last):"
    assert lines[-2:] == [
        "  ValueError: bad name eve",
        "  2027-01-15 09.00 access granted admin\\x1b[2J\\u202e\\x00",
    ]
    assert all(line.isprintable() for line in lines)
    assert all(line.startswith("  ") for line in lines[2:])


# -- malformed headers and bodies ------------------------------------------------------


async def raw_request(client: Client, request: bytes) -> tuple[int, bytes]:
    """Send `request` as is (no client library would send these) -> (status, body)."""
    host, port = client.gateway.settings.web.listen.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read(4096)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), body


async def test_a_basic_auth_header_that_is_not_ascii_is_a_401(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenDoor needs no session: a non-ASCII `Authorization: Basic` crashed base64."""
    status, body = await raw_request(
        client,
        b"GET /fcgi/OpenDoor?action=OpenDoor&DoorNum=1 HTTP/1.1\r\nHost: gateway\r\n"
        b"Authorization: Basic \xc3\xa9t\xc3\xa9\r\n\r\n",
    )
    assert status == 401, body
    assert "Traceback" not in caplog.text


async def test_a_body_that_does_not_decompress_is_a_400(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """`Content-Encoding: gzip` over bytes that are not gzip, on a login."""
    body = b'{"username": "admin"}'
    status, answer = await raw_request(
        client,
        b"POST /api/v1/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
    )
    assert status == 400, answer
    assert "Traceback" not in caplog.text
