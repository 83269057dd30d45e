"""Section 1 (login, logout), 11.2 apiversion, and the rules every endpoint keeps."""

from __future__ import annotations

from decimal import Decimal

from gateway.web.actatek.session import SESSIONS
from tests.actatek.conftest import PASSWORD, Api


def as_javascript_reads_it(sid: str) -> str:
    """The session id after a JavaScript client parsed it as a JSON number and wrote it
    back: a double keeps 53 bits, and JavaScript prints its shortest digits."""
    return f"{Decimal(repr(float(sid))):f}"


async def test_login_gives_a_random_positive_63_bit_session_as_a_string(api: Api) -> None:
    status, body = await api.login("superadmin", PASSWORD)
    assert status == 200 and body["status"] == "success"
    sid = body["sessionid"]
    assert isinstance(sid, str) and sid.isascii() and sid.isdigit()  # no precision lost
    assert 0 < int(sid) < 2**63 and sid == str(int(sid))
    assert sid != api.sid()
    status, logs = await api.call("GET", f"getLogs/{sid}")
    assert status == 200 and isinstance(logs, list)


async def test_a_session_id_rounded_by_a_javascript_number_is_refused_cleanly(api: Api) -> None:
    sid = api.sid()
    while as_javascript_reads_it(sid) == sid:  # 1 in ~1000 ids survives the rounding
        sid = (await api.login("superadmin", PASSWORD))[1]["sessionid"]
    status, body = await api.call("GET", f"getLogs/{as_javascript_reads_it(sid)}")
    assert (status, body) == (400, {"status": "error", "message": "invalid or expired session"})
    assert (await api.call("GET", f"getLogs/{sid}"))[0] == 200  # the real one still works


async def test_wrong_password_is_the_common_error(api: Api) -> None:
    status, body = await api.login("superadmin", "nope")
    assert status == 400 and body == {"status": "error", "message": "login failed"}
    status, body = await api.login("nobody", PASSWORD)
    assert status == 400 and body["status"] == "error"


async def test_logout_ends_the_session(api: Api) -> None:
    sid = api.sid("USERADMIN")
    assert await api.call("DELETE", f"logout/{sid}") == (200, {"status": "success"})
    status, body = await api.call("DELETE", f"logout/{sid}")
    assert status == 400 and body["status"] == "error"


async def test_apiversion_needs_no_session(api: Api) -> None:
    assert await api.call("GET", "apiversion") == (200, {"name": "A4 REST API", "version": "0.1"})


async def test_unknown_endpoint_and_bad_json_are_common_errors(api: Api) -> None:
    status, body = await api.call("GET", "nothing/here")
    assert status == 400 and body["status"] == "error"
    status, body = await api.call("POST", "login", raw=b'{"username": NaN}')
    assert status == 400 and body["status"] == "error"
    status, body = await api.call("POST", "login", raw=b'{"username": "a", "username": "b"}')
    assert status == 400 and "duplicate" in body["message"]


async def test_the_idle_session_expires_after_30_minutes(api: Api) -> None:
    sid = api.sid("NETWORKADMIN")
    sessions = api.gateway.web_app[SESSIONS]
    sessions._sessions[int(sid)].last_used = api.gateway.clock.monotonic() - 31 * 60
    status, body = await api.call("DELETE", f"logout/{sid}")
    assert status == 400 and "expired" in body["message"]
