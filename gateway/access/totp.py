"""Time-based one-time passwords (RFC 6238) for the ACTAtek "User API TOTP" (section 3.14).

Pure: no I/O, time comes in as `now` (UTC epoch seconds). Shared by the management API,
which shows a user their current code, and the access engine, which accepts that code as
a QR credential.

- A user's secret is 20 random bytes (the 160 bits RFC 4226 recommends), created on the
  first TOTP request. The codes are HOTP-SHA1 over 30-second steps with 8 digits: the
  reference's OTP_PASSCODE "is 8 digits".
- At rest the secret is sealed with the device key (`seal`/`unseal`): a stolen database
  alone does not give the secrets away, and the secret itself never leaves the gateway
  (the API hands out codes, never an otpauth:// URI).
- The QR payload (the reference's "header and a json content") is
  `ACTATEK-TOTP:{"userID":"A0001","totp":"12345678"}`. Carrying the user id makes the
  check O(1): the engine verifies one user's code instead of trying every secret.
- A code is accepted during its own step and the next one (a QR shown on a phone screen
  may be a few seconds old), and only once per step (RFC 6238 section 5.2: no replay).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: this module stays pure (the web layer imports it)
    from gateway.access.pins import PinHasher

STEP_S = 30
DIGITS = 8
SECRET_BYTES = 20
STEPS_BACK = 1  # one earlier step is still accepted
PAYLOAD_HEADER = "ACTATEK-TOTP:"
MAX_PAYLOAD = 512

_SEAL_VERSION = "v1"
_NONCE_BYTES = 16
_TAG_BYTES = 16
# PinHasher hashes ASCII text with the device key; these labels derive two sub-keys from
# it. A PIN is digits only, so no PIN hash can ever equal one of them.
_ENCRYPT_LABEL = "door-gateway/totp/encrypt/v1"
_MAC_LABEL = "door-gateway/totp/mac/v1"


def new_secret() -> bytes:
    """A fresh random TOTP secret."""
    return secrets.token_bytes(SECRET_BYTES)


def step_at(now: float) -> int:
    """The 30-second step that contains `now`."""
    return int(now // STEP_S)


def step_end(step: int) -> float:
    """When `step` ends (epoch seconds): the reference's `expiry` of its code."""
    return float((step + 1) * STEP_S)


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """The HOTP value (RFC 4226, dynamic truncation) of `secret` for counter `step`."""
    mac = hmac.new(secret, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def matching_step(secret: bytes, code: str, now: float) -> int | None:
    """The step (current or up to STEPS_BACK earlier) whose code is `code`, else None."""
    current = step_at(now)
    for step in range(current, current - STEPS_BACK - 1, -1):
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def payload(user_id: str, code: str) -> str:
    """The text of the QR code for `user_id`'s current `code`."""
    # ensure_ascii=False: a 32-character id stays short enough for a 256-character scanner.
    body = json.dumps({"userID": user_id, "totp": code}, separators=(",", ":"), ensure_ascii=False)
    return PAYLOAD_HEADER + body


def parse_payload(text: str) -> tuple[str, str] | None:
    """(user id, code) from a QR text made by `payload`; None for any other text."""
    if not text.startswith(PAYLOAD_HEADER) or len(text) > MAX_PAYLOAD:
        return None
    try:
        body = json.loads(text[len(PAYLOAD_HEADER) :])
    except ValueError:
        return None
    if not isinstance(body, dict) or set(body) != {"userID", "totp"}:
        return None
    user_id, code = body["userID"], body["totp"]
    if not isinstance(user_id, str) or not user_id or not isinstance(code, str):
        return None
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    return user_id, code


# -- sealing with the device key -----------------------------------------------------------


def _keys(hasher: PinHasher) -> tuple[bytes, bytes]:
    return bytes.fromhex(hasher.hash(_ENCRYPT_LABEL)), bytes.fromhex(hasher.hash(_MAC_LABEL))


def _pad(key: bytes, nonce: bytes, user_id: str) -> bytes:
    # HMAC-SHA256 as a pseudo-random function keyed by the device: a fresh nonce per seal
    # gives a fresh 32-byte pad, enough for one 20-byte secret.
    return hmac.new(key, nonce + user_id.encode("utf-8"), hashlib.sha256).digest()


def _tag(key: bytes, nonce: bytes, body: bytes, user_id: str) -> bytes:
    # Binding the user id: a sealed secret copied onto another user does not unseal.
    message = nonce + body + user_id.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def seal(hasher: PinHasher, user_id: str, secret: bytes) -> str:
    """`secret` encrypted and authenticated with the device key, as text for the store."""
    encrypt, mac = _keys(hasher)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    body = bytes(a ^ b for a, b in zip(secret, _pad(encrypt, nonce, user_id), strict=False))
    tag = _tag(mac, nonce, body, user_id)
    return f"{_SEAL_VERSION}:{nonce.hex()}:{body.hex()}:{tag.hex()}"


def unseal(hasher: PinHasher, user_id: str, sealed: str) -> bytes | None:
    """The secret `seal` sealed for `user_id`; None if damaged, foreign or of another key."""
    try:
        version, nonce_hex, body_hex, tag_hex = sealed.split(":")
        nonce, body, tag = bytes.fromhex(nonce_hex), bytes.fromhex(body_hex), bytes.fromhex(tag_hex)
    except ValueError:
        return None
    if version != _SEAL_VERSION or len(nonce) != _NONCE_BYTES or len(body) != SECRET_BYTES:
        return None
    encrypt, mac = _keys(hasher)
    if not hmac.compare_digest(tag, _tag(mac, nonce, body, user_id)):
        return None
    return bytes(a ^ b for a, b in zip(body, _pad(encrypt, nonce, user_id), strict=False))
