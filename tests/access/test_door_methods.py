"""Per-door switches for QR codes, RF cards and PINs (the Akuvox "Open Relay via QR Code"
and card/PIN enables): a credential of a switched-off kind is denied with its own reason,
before it is looked up, and the trace says which switch."""

from __future__ import annotations

import pytest

from gateway.access.totp import payload
from gateway.model import Credential, CredentialKind
from gateway.settings import DoorSettings

from .rules import MONDAY_10AM, engine, snapshot, when

NOW = when(MONDAY_10AM)
SNAPSHOT = snapshot(pins={"4321": "u1"}, qr={"QR-123": "u1"}, public_pins=("55555",))


def cred(kind: CredentialKind, value: str) -> Credential:
    return Credential(kind=kind, value=value, reader="r-in", timestamp=NOW.wall)


@pytest.mark.parametrize(
    ("kind", "value", "switch"),
    [
        ("card", "CAFE01", "cards_enabled"),
        ("pin", "4321", "pins_enabled"),
        ("pin", "55555", "pins_enabled"),  # a public PIN too
        ("qr", "QR-123", "qr_enabled"),
    ],
)
def test_a_switched_off_kind_is_denied_with_its_own_reason(
    kind: CredentialKind, value: str, switch: str
) -> None:
    door = DoorSettings("front", **{switch: False})  # type: ignore[arg-type]
    decision = engine(SNAPSHOT, doors=[door]).decide(cred(kind, value), "front", NOW)
    assert (decision.granted, decision.reason) == (False, "method_off")
    assert decision.trace == (f"door:{switch}=false", "method_off")
    assert decision.user_id is None  # not looked up: the deny says nothing of the owner


@pytest.mark.parametrize(("kind", "value"), [("card", "CAFE01"), ("pin", "4321"), ("qr", "QR-123")])
def test_the_other_kinds_still_open_the_door(kind: CredentialKind, value: str) -> None:
    switches = {"cards_enabled": False, "pins_enabled": False, "qr_enabled": False}
    on = {"card": "cards_enabled", "pin": "pins_enabled", "qr": "qr_enabled"}[kind]
    door = DoorSettings("front", **{**switches, on: True})  # type: ignore[arg-type]
    decision = engine(SNAPSHOT, doors=[door]).decide(cred(kind, value), "front", NOW)
    assert decision.granted


def test_qr_codes_are_on_by_default_and_switched_per_door() -> None:
    doors = [DoorSettings("front"), DoorSettings("gate", qr_enabled=False)]
    eng = engine(SNAPSHOT, doors=doors)
    assert eng.decide(cred("qr", "QR-123"), "front", NOW).granted
    assert eng.decide(cred("qr", "QR-123"), "gate", NOW).reason == "method_off"


def test_a_wrong_pin_at_a_door_without_pins_does_not_count_towards_the_lockout() -> None:
    eng = engine(SNAPSHOT, doors=[DoorSettings("front", pins_enabled=False)])
    for _ in range(10):
        assert eng.decide(cred("pin", "0000"), "front", NOW).reason == "method_off"
    assert eng.status(NOW)["lockout"] == engine(SNAPSHOT).status(NOW)["lockout"]


def test_a_totp_qr_code_is_refused_where_qr_codes_are_off() -> None:
    text = payload("u1", "123456")
    eng = engine(SNAPSHOT, doors=[DoorSettings("front", qr_enabled=False)])
    assert eng.decide(cred("qr", text), "front", NOW).reason == "method_off"
