"""Section 3.14 (User API TOTP) over HTTP, and its code shown at the back door's QR reader:
the current code opens for that user, once; a wrong or old code does not."""

from __future__ import annotations

import asyncio
import base64
import re

from gateway.access.totp import code_at, parse_payload, payload, step_at
from tests.actatek.conftest import Api
from tests.actatek.test_users import last_seq, refused_without_change, wait_access

DEBOUNCE_S = 1.1  # a line scanner reports the same text once per second


def path(api: Api, user_id: str, fmt: str, role: str = "SUPERADMIN") -> str:
    return f"UserAPITOTP/{api.sid(role)}/{user_id}/{fmt}"


async def _show_qr(api: Api, text: str) -> None:
    async with api.http.post(
        f"{api.base}/sim/qr", json={"reader": "back-qr", "text": text}
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_every_format_of_the_same_code(api: Api) -> None:
    await api.call("POST", f"user/{api.sid()}", {"userID": "T1"})
    status, plain = await api.call("GET", path(api, "T1", "QR_PLAINTEXT"))
    assert status == 200 and plain["format"] == "QR_PLAINTEXT"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", plain["expiry"])
    user_id, code = parse_payload(plain["data"]) or ("", "")
    assert user_id == "T1" and re.fullmatch(r"\d{8}", code)
    _, passcode = await api.call("GET", path(api, "T1", "OTP_PASSCODE"))
    _, png = await api.call("GET", path(api, "T1", "QR_PNG"))
    _, svg = await api.call("GET", path(api, "T1", "QR_SVG"))
    _, ansi = await api.call("GET", path(api, "T1", "QR_ANSI"))
    _, other = await api.call("GET", path(api, "T1", "PNG_PLEASE"))
    if passcode["expiry"] == plain["expiry"]:  # the same 30 s step
        assert passcode["data"] == code
    assert base64.b64decode(png["data"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in base64.b64decode(svg["data"])
    assert b"\x1b[" in base64.b64decode(ansi["data"])
    assert other["format"] == "QR_PNG" and base64.b64decode(other["data"]).startswith(b"\x89PNG")
    # The secret was created once; every request is journaled, never with the code.
    await api.gateway.writer.flush()
    events = [e for e in await api.gateway.recorder.read_events(0, 1000) if e.type == "api"]
    assert sum(e.reason == "totp_secret_created" for e in events) == 1
    assert sum(e.reason == "totp_issued" for e in events) == 6
    assert not any(code in (e.trace or "") for e in events)


async def test_refusals(api: Api) -> None:
    message = await refused_without_change(api, "GET", path(api, "nobody", "QR_PNG"), None)
    assert message == "user nobody does not exist"
    for role in ("PERSONALUSER", "NETWORKADMIN"):
        message = await refused_without_change(api, "GET", path(api, "1001", "QR_PNG", role), None)
        assert message == f"{role} may not do this"
    assert api.gateway.engine.snapshot.totp == {}


async def test_the_current_code_opens_the_back_door_once_old_and_wrong_codes_do_not(
    api: Api,
) -> None:
    await api.call("POST", f"user/{api.sid('USERADMIN')}", {"userID": "T2", "firstName": "Tia"})
    _, plain = await api.call("GET", path(api, "T2", "QR_PLAINTEXT", "USERADMIN"))
    seq = await last_seq(api.gateway)
    await _show_qr(api, plain["data"])
    event = await wait_access(api.gateway, seq, "T2")
    assert event.granted and event.reader == "back-qr" and event.door == "back"
    assert "lookup:qr,totp,user=T2" in event.trace

    await asyncio.sleep(DEBOUNCE_S)  # the same text again: a replay
    seq = await last_seq(api.gateway)
    await _show_qr(api, plain["data"])
    event = await wait_access(api.gateway, seq, "T2")
    assert not event.granted and event.reason == "totp_rejected" and "replayed" in event.trace

    secret, created = api.gateway.stores.users.totp_secret("T2")
    assert not created
    now_step = step_at(api.gateway.clock.time())
    _, current = parse_payload(plain["data"]) or ("", "")
    wrong = next(c for c in ("00000000", "11111111") if c != current)
    for code in (code_at(secret, now_step - 3), wrong):
        seq = await last_seq(api.gateway)
        await _show_qr(api, payload("T2", code))
        event = await wait_access(api.gateway, seq, "T2")
        assert not event.granted and event.reason == "totp_rejected"
