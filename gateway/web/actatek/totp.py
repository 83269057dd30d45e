"""Section 3.14: a user's API TOTP (capability "users").

`GET UserAPITOTP/{sessionid}/{userid}/{TOTPType}` ->
`{"format": TOTPType, "expiry": "2025-08-20T04:14:40Z", "data": ...}`

- The secret is created on the first request for a user (journaled, and the engine
  reloads so the code works at once); it never leaves the gateway (gateway/access/totp.py).
- The code is RFC 6238 (HMAC-SHA1, 30 s steps, 8 digits: "OTP_PASSCODE ... is 8 digits").
  `expiry` is the end of the current step; the gateway also accepts the code during the
  next step, and each code once.
- The QR code's text (QR_PLAINTEXT, the reference's "header and a json content") is
  `ACTATEK-TOTP:{"userID":"A0001","totp":"12345678"}`. Shown at any QR reader it opens
  the door for that user as their own QR code would (same groups, schedule, doors).
- QR_PNG, QR_SVG: the image, base64. QR_ANSI: the QR drawn with ANSI terminal escape
  codes, base64. OTP_PASSCODE: the 8 digits. Any other TOTPType is QR_PNG (reference),
  and `format` says so.
- It is not a login for this API: section 1's login takes technician passwords only.
- Every request is journaled (`totp_issued`): a code is a credential. The code itself is
  never journaled by this endpoint.
- A code is its user's credential: only a SUPERADMIN session gets one for a SUPERADMIN
  user or a user who holds the lockdown override (users.py `guard_user`).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from aiohttp import web

from gateway.access.totp import code_at, payload, step_at, step_end
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.sections import call_store
from gateway.web.actatek.session import endpoint, session_of
from gateway.web.actatek.users import CAPABILITY, find_one, guard_user, path_user_id
from gateway.web.actatek.users_json import NAMES

PATH = "/cgi-bin/restapi/UserAPITOTP/{sessionid}/{userID}/{TOTPType}"
FORMATS = ("QR_PNG", "QR_SVG", "QR_ANSI", "QR_PLAINTEXT", "OTP_PASSCODE")
QR_SCALE = 6  # pixels per module: readable from a phone screen by a scanner


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render(fmt: str, text: str, code: str) -> str:
    """The `data` of the answer for format `fmt`."""
    if fmt == "OTP_PASSCODE":
        return code
    if fmt == "QR_PLAINTEXT":
        return text
    import segno  # about 0.7 MiB resident: loaded by the first QR code asked for

    qr = segno.make(text, error="m", micro=False)
    if fmt == "QR_ANSI":
        out = io.StringIO()
        qr.terminal(out=out, compact=False)
        return _b64(out.getvalue().encode("utf-8"))
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg" if fmt == "QR_SVG" else "png", scale=QR_SCALE)
    return _b64(buffer.getvalue())


@endpoint(CAPABILITY)
async def user_api_totp(request: web.Request) -> web.Response:
    """GET UserAPITOTP/{sessionid}/{userid}/{TOTPType}."""
    user_id = path_user_id(request)
    user, _ = await find_one(request, user_id)
    guard_user(session_of(request).level, user)  # a code is that user's credential
    requested = request.match_info.get("TOTPType", "")
    fmt = requested if requested in FORMATS else "QR_PNG"
    ctx = context_of(request)
    secret, created = await call_store(NAMES, ctx.stores.users.totp_secret, user_id)
    if created:
        journal(request, "totp_secret_created", f"userID={user_id}")
    step = step_at(ctx.clock.time())
    code = code_at(secret, step)
    expiry = datetime.fromtimestamp(step_end(step), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    journal(request, "totp_issued", f"userID={user_id}")
    data = render(fmt, payload(user_id, code), code)
    return web.json_response({"format": fmt, "expiry": expiry, "data": data})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, user_api_totp)
