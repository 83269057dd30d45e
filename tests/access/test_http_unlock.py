"""The HTTP unlock decision (Akuvox OpenDoor) on the engine's own checks: the same reasons
and trace lines as at a reader, the in/out state of HTTP unlocks, who carries the lockdown
override, and what the journal may show of the code."""

from __future__ import annotations

from typing import Literal

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.http_unlock import (
    HttpUnlockRules,
    HttpUnlockState,
    card_canonical,
    classify,
)
from gateway.access.snapshot import (
    AccessRightRule,
    CredentialRef,
    GroupRule,
    RulesSnapshot,
    UserRule,
)
from gateway.model import PIN_MASK, Credential, Decision, UnlockClaim, qr_fingerprint
from gateway.settings import AccessSettings, AutoInOutSettings, HttpUnlockSettings

from .rules import MONDAY_10AM, UTC, engine, snapshot, when

NOW = when(MONDAY_10AM)
ORIGIN = "http_unlock:by=opendoor,from=10.0.0.5,unlock_type=RF Card"
Antipassback = Literal["off", "soft", "hard"]


def passages(antipassback: Antipassback = "hard") -> HttpUnlockState:
    settings = HttpUnlockSettings(enabled=True, antipassback=antipassback)
    return HttpUnlockState(settings, UTC, on_change=lambda: None)


def rules(
    eng: AccessEngine, state: HttpUnlockState | None = None, card_format: str = ""
) -> HttpUnlockRules:
    return HttpUnlockRules(eng, state if state is not None else passages(), card_format)


def by_card(code: str = "CAFE01", direction: Literal["in", "out"] | None = "in") -> UnlockClaim:
    return UnlockClaim(direction=direction, unlock_type="RF Card", code=code)


def steps(decision: Decision) -> list[str]:
    return [s for s in decision.trace if not s.startswith(("http_unlock:", "auth_mode:"))]


# -- the same rules as at a reader -----------------------------------------------------------

OFFICE_HOURS = AccessRightRule(id=1, patterns={"MONDAY": "0" * 48})


@pytest.mark.parametrize(
    ("snap", "reason"),
    [
        (snapshot(), "granted"),
        (snapshot(cards={"CAFE01": CredentialRef("u1", enabled=False)}), "credential_disabled"),
        (snapshot(cards={"CAFE01": "ghost"}), "unknown_credential"),
        (snapshot(users=[UserRule("u1", active=False)]), "user_inactive"),
        (snapshot(users=[UserRule("u1", expiry=NOW.wall)]), "user_expired"),
        (snapshot(users=[UserRule("u1", doors=frozenset({"back"}))]), "door_not_permitted"),
        (
            snapshot(groups=[GroupRule(id=0, rights=(0,), doors=frozenset({"back"}))]),
            "door_not_permitted",
        ),
        (
            snapshot(groups=[GroupRule(id=0, rights=(1,))], rights=[OFFICE_HOURS]),
            "outside_schedule",
        ),
    ],
)
def test_a_code_is_judged_by_the_engines_checks(snap: RulesSnapshot, reason: str) -> None:
    eng = engine(snap)
    at_reader = eng.decide(Credential("card", "CAFE01", "r-in", NOW.wall), "front", NOW)
    by_code = rules(eng, passages("off")).decide(by_card(), "front", NOW, ORIGIN).decision
    assert (by_code.granted, by_code.reason, by_code.user_id) == (
        at_reader.granted,
        reason,
        at_reader.user_id,
    )
    assert at_reader.reason == reason
    assert steps(by_code) == steps(at_reader)
    assert by_code.trace[0] == ORIGIN


def test_the_door_auth_mode_is_the_senders() -> None:
    decision = rules(engine()).decide(by_card(), "front", NOW, ORIGIN).decision
    assert decision.granted and "auth_mode:sender" in decision.trace


def test_hard_anti_passback_reads_the_state_and_commits_only_when_told() -> None:
    """The decision only reads: a refused or unopened request leaves the user where they
    were; the caller commits once the door really opened."""
    state = passages("hard")
    decide = rules(engine(), state).decide
    assert decide(by_card(), "front", NOW, ORIGIN).decision.granted
    assert decide(by_card(), "front", NOW, ORIGIN).decision.granted  # nothing committed
    state.commit("u1", "in", NOW)
    again = decide(by_card(), "front", NOW, ORIGIN).decision
    assert (again.granted, again.reason) == (False, "anti_passback")
    assert "autoinout:anti_passback,in,anti_passback" in again.trace
    assert decide(by_card(direction="out"), "front", NOW, ORIGIN).decision.granted


def test_the_http_in_out_state_traces_as_the_readers_autoinout() -> None:
    eng = engine(access=AccessSettings(auto_in_out=AutoInOutSettings(mode="anti_passback")))
    at_reader = eng.decide(Credential("card", "CAFE01", "r-in", NOW.wall), "front", NOW)
    by_code = rules(eng, passages("hard")).decide(by_card(), "front", NOW, ORIGIN).decision
    assert steps(by_code) == steps(at_reader)


def test_soft_anti_passback_grants_the_repeat_with_a_note() -> None:
    state = passages("soft")
    state.commit("u1", "in", NOW)
    decision = rules(engine(), state).decide(by_card(), "front", NOW, ORIGIN).decision
    assert decision.granted and decision.notes == ("anti_passback_violation",)
    assert decision.journal_trace.endswith("granted > note:anti_passback_violation")


def test_without_a_direction_nothing_is_checked() -> None:
    state = passages("hard")
    state.commit("u1", "in", NOW)
    claim = by_card(direction=None)
    decision = rules(engine(), state).decide(claim, "front", NOW, ORIGIN).decision
    assert decision.granted and "autoinout:anti_passback,-,unchecked" in decision.trace
    state.commit("u1", None, NOW)
    assert state.version == 1  # a passage without a direction records nothing


def test_antipassback_off_checks_nothing() -> None:
    state = passages("off")
    state.commit("u1", "in", NOW)
    decision = rules(engine(), state).decide(by_card(), "front", NOW, ORIGIN).decision
    assert decision.granted and "autoinout:disable,in,ok" in decision.trace
    assert state.version == 0


# -- who is it -------------------------------------------------------------------------------

ADA = UserRule("u1", name="Ada Lovelace")
TWINS = [UserRule("t1", name="Sam Smith"), UserRule("t2", name="sam  SMITH")]


def test_by_name_ignoring_case_and_spaces_or_by_user_id() -> None:
    decide = rules(engine(snapshot(users=[ADA]))).decide
    for name in ("ada   LOVELACE", "u1"):
        decided = decide(UnlockClaim("in", name=name), "front", NOW, ORIGIN)
        assert decided.decision.granted and decided.decision.user_id == "u1"
        assert "lookup:name,user=u1" in decided.decision.trace
        assert (decided.credential_kind, decided.credential) == (None, None)


def test_two_users_of_the_same_name_are_ambiguous() -> None:
    decide = rules(engine(snapshot(users=TWINS, cards={}))).decide
    decision = decide(UnlockClaim("in", name="Sam Smith"), "front", NOW, ORIGIN).decision
    assert (decision.reason, decision.user_id) == ("ambiguous_name", None)


def test_an_unknown_card_never_falls_back_to_the_name() -> None:
    claim = UnlockClaim("in", name="Ada Lovelace", unlock_type="RF Card", code="BEEF99")
    decided = rules(engine(snapshot(users=[ADA]))).decide(claim, "front", NOW, ORIGIN)
    assert decided.decision.reason == "unknown_user"
    assert "lookup:card=unknown" in decided.decision.trace
    assert (decided.credential_kind, decided.credential) == ("card", "BEEF99")


def test_a_code_of_no_known_kind_is_tried_as_each_then_the_name_is() -> None:
    snap = snapshot(users=[ADA], cards={}, plates={"AB12CDE": "u1"})
    decide = rules(engine(snap)).decide
    plate = decide(UnlockClaim("in", unlock_type="Face", code="AB12CDE"), "front", NOW, ORIGIN)
    assert plate.decision.granted and plate.credential_kind == "plate"
    claim = UnlockClaim("in", name="Ada Lovelace", unlock_type="Face", code="5555")
    named = decide(claim, "front", NOW, ORIGIN)
    assert named.decision.granted and named.decision.user_id == "u1"
    assert (named.credential_kind, named.credential) == (None, PIN_MASK)  # it may be a PIN


def test_pins_are_masked_and_qr_codes_fingerprinted() -> None:
    snap = snapshot(pins={"4321": "u1"}, qr={"QR-SECRET": "u1"})
    decide = rules(engine(snap)).decide
    for unlock_type, code, shown in (
        ("PIN", "4321", PIN_MASK),
        ("PIN", "9999", PIN_MASK),
        ("QR Code", "QR-SECRET", qr_fingerprint("QR-SECRET")),
    ):
        decided = decide(UnlockClaim("in", unlock_type=unlock_type, code=code), "f", NOW, "o")
        assert decided.credential == shown
        assert code not in " ".join(decided.decision.trace)


def test_cards_in_the_senders_display_format() -> None:
    eng = engine(snapshot(cards={"04A1B2C3": "u1"}))
    claim = UnlockClaim("in", unlock_type="Card", code="0077705923")
    decided = rules(eng, card_format="10DN").decide(claim, "front", NOW, ORIGIN)
    assert decided.decision.granted and decided.credential == "04A1B2C3"


# -- lockdown override -----------------------------------------------------------------------


def test_only_a_code_carries_the_users_lockdown_override() -> None:
    boss = UserRule("u1", name="Big Boss", lockdown_override=True)
    eng = engine(snapshot(users=[boss]))
    at_reader = eng.decide(Credential("card", "CAFE01", "r-in", NOW.wall), "front", NOW)
    assert at_reader.lockdown_override
    decide = rules(eng, passages("off")).decide
    assert decide(by_card(), "front", NOW, ORIGIN).decision.lockdown_override
    by_name = decide(UnlockClaim("in", name="Big Boss"), "front", NOW, ORIGIN).decision
    assert by_name.granted and not by_name.lockdown_override
    others = rules(engine()).decide(by_card(), "front", NOW, ORIGIN).decision
    assert others.granted and not others.lockdown_override


# -- the sender's words ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unlock_type", "kind"),
    [
        ("RF Card", "card"),
        ("Card", "card"),
        ("NFC", "card"),
        ("PIN", "pin"),
        ("Private PIN", "pin"),
        ("PrivateKey", "pin"),
        ("QR Code", "qr"),
        ("License Plate", "plate"),
        ("Face", None),
        ("", None),
    ],
)
def test_unlock_type_names(unlock_type: str, kind: str | None) -> None:
    assert classify(unlock_type) == kind


def test_card_codes_in_a_display_format() -> None:
    assert card_canonical("04a1b2c3", "") == "04A1B2C3"
    assert card_canonical("0c:87:07", "") == "0C8707"
    assert card_canonical("0077705923", "10DN") == "04A1B2C3"
    assert card_canonical("12-34567", "W26") == "0C8707"
    assert card_canonical("xyz", "") is None and card_canonical("123", "") is None
    assert card_canonical("not a number", "10DN") is None


def test_while_the_rules_load_a_user_is_refused_as_not_decided_yet_not_unknown() -> None:
    loading = snapshot(users=[], cards={})  # the cache before its first full load is in
    loading.loading = True
    decided = rules(engine(loading)).decide(by_card(), "front", NOW, "http_unlock:test")
    assert (decided.decision.granted, decided.decision.reason) == (False, "rules_loading")
    assert "rules:loading" in decided.decision.trace
