"""The Akuvox plate "Duration": a plate valid long-term, or only within a window on the
wall clock; outside it the plate is denied with its own reason and the window traced."""

from __future__ import annotations

from gateway.access.http_unlock import HttpUnlockRules, HttpUnlockState
from gateway.access.snapshot import CredentialChange, CredentialRef, RulesDelta
from gateway.model import Credential, UnlockClaim
from gateway.settings import HttpUnlockSettings

from .rules import MONDAY_10AM, UTC, engine, snapshot, when

HOUR = 3600.0
NOW = when(MONDAY_10AM)
WINDOW = CredentialRef("u1", valid_from=MONDAY_10AM - HOUR, valid_until=MONDAY_10AM + HOUR)


def plate(value: str = "AB12CDE", wall: float = MONDAY_10AM) -> Credential:
    return Credential(kind="plate", value=value, reader="r-in", timestamp=wall)


def with_window(ref: CredentialRef = WINDOW) -> dict[str, CredentialRef]:
    return {"AB12CDE": ref}


def test_a_long_term_plate_opens_at_any_time() -> None:
    eng = engine(snapshot(plates={"AB12CDE": "u1"}))
    for wall in (MONDAY_10AM - 400 * 86400, MONDAY_10AM + 400 * 86400):
        assert eng.decide(plate(wall=wall), "front", when(wall)).granted


def test_a_plate_opens_inside_its_window_and_says_so() -> None:
    decision = engine(snapshot(plates=with_window())).decide(plate(), "front", NOW)
    assert decision.granted
    assert "window:2026-03-02T09:00Z..2026-03-02T11:00Z=in" in decision.trace


def test_a_plate_before_or_after_its_window_is_denied_with_its_own_reason() -> None:
    eng = engine(snapshot(plates=with_window()))
    for wall in (MONDAY_10AM - HOUR - 1, MONDAY_10AM + HOUR):  # the end is exclusive
        decision = eng.decide(plate(wall=wall), "front", when(wall))
        assert (decision.granted, decision.reason) == (False, "plate_outside_window")
        assert decision.user_id == "u1"
        assert "window:2026-03-02T09:00Z..2026-03-02T11:00Z=out" in decision.trace


def test_a_window_open_at_one_end() -> None:
    until_only = CredentialRef("u1", valid_until=MONDAY_10AM)
    eng = engine(snapshot(plates=with_window(until_only)))
    assert eng.decide(plate(wall=MONDAY_10AM - 1), "front", when(MONDAY_10AM - 1)).granted
    assert not eng.decide(plate(), "front", NOW).granted


def test_a_rules_delta_sets_and_clears_a_window() -> None:
    snap = snapshot(plates={"AB12CDE": "u1"})
    eng = engine(snap)
    late = CredentialRef("u1", valid_from=MONDAY_10AM + HOUR)
    snap.apply(RulesDelta(1, 1, credentials=(CredentialChange("plate", "AB12CDE", late),)))
    assert eng.decide(plate(), "front", NOW).reason == "plate_outside_window"
    long_term = CredentialRef("u1")
    snap.apply(RulesDelta(2, 2, credentials=(CredentialChange("plate", "AB12CDE", long_term),)))
    assert eng.decide(plate(), "front", NOW).granted


def test_an_opendoor_request_by_plate_code_keeps_to_the_window() -> None:
    eng = engine(snapshot(plates=with_window()))
    state = HttpUnlockState(HttpUnlockSettings(enabled=True), UTC, on_change=lambda: None)
    opendoor = HttpUnlockRules(eng, state, "")
    claim = UnlockClaim("in", unlock_type="License Plate", code="AB12CDE")
    assert opendoor.decide(claim, "front", NOW, "http_unlock").decision.granted
    late = when(MONDAY_10AM + 2 * HOUR)
    refused = opendoor.decide(claim, "front", late, "http_unlock").decision
    assert (refused.granted, refused.reason) == (False, "plate_outside_window")
