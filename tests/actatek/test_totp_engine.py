"""TOTP without HTTP: RFC 6238 vectors, sealing with the device key, the QR payload, and
the engine accepting a TOTP payload as a QR credential (once, current or previous step)."""

from __future__ import annotations

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.access.snapshot import UserRule
from gateway.access.totp import (
    STEP_S,
    code_at,
    matching_step,
    parse_payload,
    payload,
    seal,
    step_at,
    step_end,
    unseal,
)
from gateway.model import Credential
from tests.access.rules import HASHER, MONDAY_10AM, engine, snapshot, when

RFC_SECRET = b"12345678901234567890"
NOW = MONDAY_10AM
AT_NOW = when(NOW)


@pytest.mark.parametrize(
    ("when", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_sha1_vectors(when: int, code: str) -> None:
    assert code_at(RFC_SECRET, step_at(when)) == code


def test_a_code_is_accepted_in_its_step_and_the_next_only() -> None:
    step = step_at(NOW)
    code = code_at(RFC_SECRET, step)
    assert matching_step(RFC_SECRET, code, NOW) == step
    assert matching_step(RFC_SECRET, code, NOW + STEP_S) == step
    assert matching_step(RFC_SECRET, code, NOW + 2 * STEP_S) is None
    assert matching_step(RFC_SECRET, code, NOW - STEP_S) is None
    assert step_end(step) - NOW <= STEP_S


def test_sealed_secret_needs_the_device_key_and_the_same_user() -> None:
    sealed = seal(HASHER, "A1", RFC_SECRET)
    assert RFC_SECRET.hex() not in sealed
    assert unseal(HASHER, "A1", sealed) == RFC_SECRET
    assert unseal(HASHER, "A2", sealed) is None
    assert unseal(PinHasher(b"x" * 32), "A1", sealed) is None
    flipped = sealed[:-1] + ("0" if sealed[-1] != "0" else "1")
    assert unseal(HASHER, "A1", flipped) is None
    assert unseal(HASHER, "A1", "garbage") is None
    assert seal(HASHER, "A1", RFC_SECRET) != sealed  # a fresh nonce each time


@pytest.mark.parametrize(
    "text",
    [
        "12345678",
        "ACTATEK-TOTP:",
        "ACTATEK-TOTP:{}",
        'ACTATEK-TOTP:{"userID":"A1","totp":"1234567"}',
        'ACTATEK-TOTP:{"userID":"A1","totp":12345678}',
        'ACTATEK-TOTP:{"userID":"","totp":"12345678"}',
        'ACTATEK-TOTP:{"userID":"A1","totp":"12345678","x":1}',
        'ACTATEK-TOTP:{"userID":"A1","totp":"١٢٣٤٥٦٧٨"}',
        "ACTATEK-TOTP:[1]",
    ],
)
def test_only_our_payload_parses(text: str) -> None:
    assert parse_payload(text) is None


def test_payload_round_trips_awkward_user_ids() -> None:
    for user_id in ("A0001", 'q"uote', "back\\slash", "naïve"):
        assert parse_payload(payload(user_id, "01234567")) == (user_id, "01234567")


def _engine(active: bool = True) -> tuple[AccessEngine, str]:
    snap = snapshot(
        users=[UserRule("u1", active=active)], totp={"u1": seal(HASHER, "u1", RFC_SECRET)}
    )
    return engine(snap), payload("u1", code_at(RFC_SECRET, step_at(NOW)))


def qr(text: str, now: float = NOW) -> Credential:
    return Credential(kind="qr", value=text, reader="r-in", timestamp=now)


def test_engine_grants_a_current_code_once() -> None:
    eng, text = _engine()
    first = eng.decide(qr(text), "front", AT_NOW)
    assert first.granted and first.user_id == "u1"
    assert "lookup:qr,totp,user=u1" in first.trace
    again = eng.decide(qr(text), "front", AT_NOW + 1)
    assert not again.granted and again.reason == "totp_rejected"
    assert "lookup:qr,totp,user=u1=replayed" in again.trace


def test_engine_accepts_the_previous_step_but_not_older() -> None:
    eng, _ = _engine()
    previous = payload("u1", code_at(RFC_SECRET, step_at(NOW) - 1))
    older = payload("u1", code_at(RFC_SECRET, step_at(NOW) - 2))
    assert not eng.decide(qr(older), "front", AT_NOW).granted
    assert eng.decide(qr(previous), "front", AT_NOW).granted


def test_engine_denies_wrong_codes_unknown_users_and_inactive_users() -> None:
    eng, text = _engine()
    wrong = eng.decide(qr(payload("u1", "00000000")), "front", AT_NOW)
    assert wrong.reason == "totp_rejected" and "wrong_code" in wrong.trace[-2]
    other = eng.decide(qr(payload("u2", "00000000")), "front", AT_NOW)
    assert other.reason == "unknown_credential" and other.user_id is None
    sleepy, text = _engine(active=False)
    assert sleepy.decide(qr(text), "front", AT_NOW).reason == "user_inactive"


def test_a_stored_qr_code_equal_to_a_payload_wins() -> None:
    # A QR code stored for a user is an ordinary credential, whatever its text looks like.
    text = payload("u1", "00000000")
    snap = snapshot(qr={text: "u1"})
    decision = engine(snap).decide(qr(text), "front", AT_NOW)
    assert decision.granted and "lookup:qr,user=u1" in decision.trace
