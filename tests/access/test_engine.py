"""The access engine: every rule and every reason, decided from a snapshot on a fake clock."""

from __future__ import annotations

import json

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.snapshot import (
    AccessRightRule,
    CredentialRef,
    GroupRule,
    RulesDelta,
    UserChange,
    UserRule,
)
from gateway.clock import Instant
from gateway.model import Credential, CredentialKind
from gateway.settings import AccessSettings, AuthMode, AutoInOutSettings, DoorSettings

from .rules import LONDON, MONDAY_10AM, at, engine, hours, snapshot, stamp, when

NOW = when(MONDAY_10AM)


def card(value: str = "CAFE01", reader: str = "r-in") -> Credential:
    return Credential(kind="card", value=value, reader=reader, timestamp=NOW.wall)


def pin(value: str, reader: str = "r-in") -> Credential:
    return Credential(kind="pin", value=value, reader=reader, timestamp=NOW.wall)


def cred(kind: CredentialKind, value: str, reader: str = "r-in") -> Credential:
    return Credential(kind=kind, value=value, reader=reader, timestamp=NOW.wall)


# -- lookup and user checks ------------------------------------------------------------------


def test_known_card_is_granted_from_the_cache_with_a_trace() -> None:
    decision = engine().decide(card(), "front", NOW)
    assert decision.granted and decision.final
    assert (decision.reason, decision.user_id, decision.source) == ("granted", "u1", "cache")
    assert decision.trace[0] == "lookup:card,user=u1"
    assert "schedule:group=0,right=0,MONDAY,slot=20" in decision.trace
    assert decision.trace[-1] == "granted"


@pytest.mark.parametrize(("kind", "value"), [("qr", "QR-123"), ("plate", "AB12CDE")])
def test_qr_codes_and_plates_are_looked_up_by_value(kind: CredentialKind, value: str) -> None:
    eng = engine(snapshot(qr={"QR-123": "u1"}, plates={"AB12CDE": "u1"}))
    decision = eng.decide(cred(kind, value), "front", NOW)
    assert (decision.granted, decision.user_id) == (True, "u1")


def test_private_pin_is_granted() -> None:
    eng = engine(snapshot(pins={"4321": "u1"}))
    decision = eng.decide(pin("4321"), "front", NOW)
    assert (decision.granted, decision.reason, decision.user_id) == (True, "granted", "u1")
    assert "4321" not in " ".join(decision.trace)


@pytest.mark.parametrize("credential", [card("BEEF99"), pin("0000"), cred("qr", "nope")])
def test_unknown_credential_is_denied(credential: Credential) -> None:
    eng = engine(snapshot(pins={"4321": "u1"}))
    decision = eng.decide(credential, "front", NOW)
    assert (decision.granted, decision.reason, decision.user_id) == (
        False,
        "unknown_credential",
        None,
    )


def test_non_ascii_pin_is_unknown_not_a_crash() -> None:
    decision = engine().decide(pin("١٢٣٤"), "front", NOW)
    assert decision.reason == "unknown_credential"


def test_a_card_the_reader_refused_is_denied_with_the_readers_reason() -> None:
    """A secure card that failed its authentication (a copied UID) never reaches the lookup,
    even if the value it carries were an enrolled card's."""
    refused = Credential(
        "card", "CAFE01", "r-in", NOW.wall, raw="04A1B2", refusal="card_auth_failed"
    )
    decision = engine().decide(refused, "front", NOW)
    assert not decision.granted and decision.final
    assert (decision.reason, decision.user_id) == ("card_auth_failed", None)
    assert decision.trace == ("reader:refused", "card_auth_failed")


def test_unknown_door_is_denied() -> None:
    assert engine().decide(card(), "garage", NOW).reason == "unknown_door"


def test_disabled_credential_is_denied() -> None:
    eng = engine(snapshot(cards={"CAFE01": CredentialRef("u1", enabled=False)}))
    decision = eng.decide(card(), "front", NOW)
    assert (decision.granted, decision.reason) == (False, "credential_disabled")


def test_credential_of_a_missing_user_is_unknown() -> None:
    eng = engine(snapshot(cards={"CAFE01": "ghost"}))
    assert eng.decide(card(), "front", NOW).reason == "unknown_credential"


def test_inactive_user_is_denied() -> None:
    eng = engine(snapshot(users=[UserRule("u1", active=False)]))
    assert eng.decide(card(), "front", NOW).reason == "user_inactive"


def test_user_expires_at_the_expiry_instant() -> None:
    eng = engine(snapshot(users=[UserRule("u1", expiry=NOW.wall)]))
    assert eng.decide(card(), "front", NOW - 1).granted
    assert eng.decide(card(), "front", NOW).reason == "user_expired"


# -- doors and schedule ---------------------------------------------------------------------


def test_door_not_in_the_users_doors_is_denied() -> None:
    eng = engine(snapshot(users=[UserRule("u1", doors=frozenset({"back"}))]))
    assert eng.decide(card(), "front", NOW).reason == "door_not_permitted"


def test_no_group_for_the_door_is_denied() -> None:
    groups = [GroupRule(id=0, rights=(0,), doors=frozenset({"back"}))]
    eng = engine(snapshot(groups=groups))
    assert eng.decide(card(), "front", NOW).reason == "door_not_permitted"


def test_outside_schedule_is_denied() -> None:
    office = AccessRightRule(id=0, patterns={"MONDAY": hours(9, 17)})
    eng = engine(snapshot(rights=[office]))
    assert eng.decide(card(), "front", when(at(2026, 3, 2, 10))).granted
    decision = eng.decide(card(), "front", when(at(2026, 3, 2, 18)))
    assert (decision.granted, decision.reason) == (False, "outside_schedule")


def test_group_without_rights_is_never() -> None:
    eng = engine(snapshot(groups=[GroupRule(id=0)]))
    assert eng.decide(card(), "front", NOW).reason == "outside_schedule"


def test_swapping_the_snapshot_takes_effect_on_the_next_decision() -> None:
    eng = engine()
    assert eng.decide(card(), "front", NOW).granted
    eng.snapshot = snapshot(cards={})
    assert eng.decide(card(), "front", NOW).reason == "unknown_credential"


# -- public PINs -----------------------------------------------------------------------------


def test_public_pin_is_granted_without_a_user_or_schedule() -> None:
    never = snapshot(public_pins=["2468"], groups=[GroupRule(id=0)])
    decision = engine(never).decide(pin("2468"), "front", NOW)
    assert (decision.granted, decision.reason, decision.user_id) == (True, "granted", None)
    assert "lookup:pin,public_pin" in decision.trace


@pytest.mark.parametrize(("mode", "granted"), [("pin", True), ("card", False), ("card+pin", False)])
def test_public_pin_follows_the_doors_auth_mode(mode: AuthMode, granted: bool) -> None:
    eng = engine(snapshot(public_pins=["2468"]), doors=[DoorSettings("front", auth_mode=mode)])
    decision = eng.decide(pin("2468"), "front", NOW)
    assert decision.granted is granted
    assert decision.reason == ("granted" if granted else "auth_mode")


def test_private_pin_wins_over_an_equal_public_pin() -> None:
    eng = engine(snapshot(pins={"2468": "u1"}, public_pins=["2468"]))
    assert eng.decide(pin("2468"), "front", NOW).user_id == "u1"


# -- single-factor auth modes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "credential", "granted"),
    [
        ("any", card(), True),
        ("any", pin("4321"), True),
        ("card", card(), True),
        ("card", cred("qr", "QR-1"), True),
        ("card", pin("4321"), False),
        ("pin", pin("4321"), True),
        ("pin", card(), False),
    ],
)
def test_single_factor_auth_modes(mode: AuthMode, credential: Credential, granted: bool) -> None:
    snap = snapshot(pins={"4321": "u1"}, qr={"QR-1": "u1"})
    eng = engine(snap, doors=[DoorSettings("front", auth_mode=mode)])
    decision = eng.decide(credential, "front", NOW)
    assert decision.granted is granted
    assert decision.reason == ("granted" if granted else "auth_mode")


# -- keypad lockout --------------------------------------------------------------------------


def lockout_engine() -> AccessEngine:
    return engine(snapshot(pins={"4321": "u1"}))


def wrong_pins(eng: AccessEngine, count: int, now: Instant, reader: str = "r-in") -> None:
    for i in range(count):
        assert eng.decide(pin("0000", reader), "front", now + i).reason == "unknown_credential"


def test_five_wrong_pins_lock_the_keypad_and_queue_one_event() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)
    events = eng.drain_events()
    assert len(events) == 1
    event = events[0]
    assert (event.type, event.reason, event.door, event.reader) == (
        "reader",
        "keypad_locked_out",
        "front",
        "r-in",
    )
    assert "60" in event.trace
    assert eng.drain_events() == []


def test_correct_pin_is_refused_while_locked_then_accepted_after_sixty_seconds() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)  # the last wrong PIN at NOW + 4 locks until NOW + 64
    decision = eng.decide(pin("4321"), "front", NOW + 10)
    assert (decision.granted, decision.reason, decision.user_id) == (False, "keypad_locked", None)
    assert not any(line.startswith("lookup") for line in decision.trace)
    assert eng.decide(pin("4321", reader="r-out"), "front", NOW + 10).granted  # other keypad
    assert eng.decide(card(), "front", NOW + 10).granted  # cards are not locked out
    assert eng.decide(pin("4321"), "front", NOW + 63.9).reason == "keypad_locked"
    assert eng.decide(pin("4321"), "front", NOW + 64).granted


def test_second_lockout_lasts_twice_as_long() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)
    wrong_pins(eng, 5, NOW + 64)  # locks at NOW + 68 for 120 s
    assert eng.decide(pin("4321"), "front", NOW + 187).reason == "keypad_locked"
    assert eng.decide(pin("4321"), "front", NOW + 188).granted
    traces = [e.trace for e in eng.drain_events()]
    assert traces == ["lockout:60s", "lockout:120s"]


def test_granted_pin_resets_the_escalation() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)
    assert eng.decide(pin("4321"), "front", NOW + 64).granted
    wrong_pins(eng, 5, NOW + 65)  # locks at NOW + 69 for 60 s again
    assert eng.decide(pin("4321"), "front", NOW + 129).granted


def test_known_pin_of_a_denied_user_does_not_reset_the_counter() -> None:
    snap = snapshot(
        users=[UserRule("u1"), UserRule("u2", active=False)], pins={"4321": "u1", "1111": "u2"}
    )
    eng = engine(snap)
    wrong_pins(eng, 4, NOW)
    assert eng.decide(pin("1111"), "front", NOW + 4).reason == "user_inactive"
    wrong_pins(eng, 1, NOW + 5)
    assert eng.decide(pin("4321"), "front", NOW + 6).reason == "keypad_locked"


def test_lockout_survives_export_and_import_into_a_new_engine() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)
    saved = json.loads(json.dumps(eng.export_state(stamp(NOW + 4))))
    restarted = lockout_engine()
    restarted.import_state(saved, stamp(NOW + 30))
    assert restarted.decide(pin("4321"), "front", NOW + 30).reason == "keypad_locked"
    assert restarted.decide(pin("4321"), "front", NOW + 64).granted


def test_malformed_state_is_refused_and_leaves_the_engine_unchanged() -> None:
    eng = lockout_engine()
    wrong_pins(eng, 5, NOW)
    with pytest.raises(ValueError):
        eng.import_state({"version": 1, "lockout": {"version": 1, "readers": {}}}, stamp(NOW))
    assert eng.decide(pin("4321"), "front", NOW + 5).reason == "keypad_locked"


def test_state_version_moves_only_when_persistent_state_changes() -> None:
    eng = lockout_engine()
    start = eng.state_version
    assert eng.decide(card(), "front", NOW).granted  # autoInOut disabled: nothing to save
    assert eng.state_version == start
    wrong_pins(eng, 1, NOW)
    after_failure = eng.state_version
    assert after_failure > start
    assert eng.decide(pin("4321"), "front", NOW + 1).granted  # clears the failure
    assert eng.state_version > after_failure


# -- two-factor doors ------------------------------------------------------------------------


def two_factor_engine(
    mode: AuthMode = "card+pin",
    timeout_s: float = 15.0,
    auto: AutoInOutSettings | None = None,
) -> AccessEngine:
    snap = snapshot(
        users=[UserRule("u1"), UserRule("u2")],
        cards={"CAFE01": "u1", "CAFE02": "u2"},
        pins={"4321": "u1", "5555": "u2"},
    )
    return engine(
        snap,
        access=AccessSettings(
            two_factor_timeout_s=timeout_s, auto_in_out=auto or AutoInOutSettings()
        ),
        doors=[DoorSettings("front", auth_mode=mode), DoorSettings("back", auth_mode=mode)],
    )


def test_card_then_pin_of_the_same_user_is_granted() -> None:
    eng = two_factor_engine("card+pin")
    first = eng.decide(card(), "front", NOW)
    assert (first.granted, first.final, first.reason) == (False, False, "awaiting_second_factor")
    second = eng.decide(pin("4321"), "front", NOW + 5)
    assert (second.granted, second.final, second.user_id) == (True, True, "u1")
    # The pending factor is used up: the PIN alone does not open again.
    assert eng.decide(pin("4321"), "front", NOW + 6).reason == "auth_mode"


def test_pin_then_card_of_the_same_user_is_granted() -> None:
    eng = two_factor_engine("pin+card")
    assert eng.decide(pin("4321"), "front", NOW).reason == "awaiting_second_factor"
    assert eng.decide(card(), "front", NOW + 5).granted


@pytest.mark.parametrize(("mode", "first"), [("card+pin", pin("4321")), ("pin+card", card())])
def test_second_kind_first_is_denied(mode: AuthMode, first: Credential) -> None:
    decision = two_factor_engine(mode).decide(first, "front", NOW)
    assert (decision.granted, decision.final, decision.reason) == (False, True, "auth_mode")


def test_second_factor_of_another_user_is_a_mismatch() -> None:
    eng = two_factor_engine()
    eng.decide(card(), "front", NOW)
    decision = eng.decide(pin("5555"), "front", NOW + 3)
    assert (decision.granted, decision.reason) == (False, "second_factor_mismatch")
    assert eng.decide(pin("4321"), "front", NOW + 4).reason == "auth_mode"  # start over


def test_second_factor_too_late_is_a_timeout() -> None:
    eng = two_factor_engine(timeout_s=15)
    eng.decide(card(), "front", NOW)
    assert eng.decide(pin("4321"), "front", NOW + 15.5).reason == "second_factor_timeout"
    assert eng.decide(pin("4321"), "front", NOW + 16).reason == "auth_mode"


def test_first_factor_after_a_timeout_starts_again() -> None:
    eng = two_factor_engine(timeout_s=15)
    eng.decide(card(), "front", NOW)
    again = eng.decide(card(), "front", NOW + 20)
    assert again.reason == "awaiting_second_factor"
    assert eng.decide(pin("4321"), "front", NOW + 25).granted


def test_a_new_first_factor_replaces_the_pending_one() -> None:
    eng = two_factor_engine()
    eng.decide(card("CAFE01"), "front", NOW)
    eng.decide(card("CAFE02"), "front", NOW + 2)
    assert eng.decide(pin("5555"), "front", NOW + 3).granted


def test_pending_first_factor_is_per_door() -> None:
    eng = two_factor_engine()
    eng.decide(card(), "front", NOW)
    assert eng.decide(pin("4321"), "back", NOW + 1).reason == "auth_mode"
    assert eng.decide(pin("4321"), "front", NOW + 2).granted


def test_wrong_second_pin_counts_for_lockout_and_keeps_the_card_pending() -> None:
    eng = two_factor_engine()
    eng.decide(card(), "front", NOW)
    assert eng.decide(pin("0000"), "front", NOW + 1).reason == "unknown_credential"
    assert eng.decide(pin("4321"), "front", NOW + 2).granted


def test_first_factor_must_pass_the_user_checks() -> None:
    eng = two_factor_engine()
    inactive = UserChange("u1", UserRule("u1", active=False), totp=None)
    eng.snapshot.apply(RulesDelta(version=2, change_seq=1, users=(inactive,)))
    assert eng.decide(card(), "front", NOW).reason == "user_inactive"


# -- autoInOut through the engine -------------------------------------------------------------


def auto_engine(auto: AutoInOutSettings) -> AccessEngine:
    return engine(access=AccessSettings(auto_in_out=auto))


def test_hard_anti_passback_uses_the_readers_direction() -> None:
    eng = auto_engine(AutoInOutSettings(mode="anti_passback", anti_passback="hard"))
    assert eng.decide(card(reader="r-in"), "front", NOW).granted
    denied = eng.decide(card(reader="r-in"), "front", NOW + 10)
    assert (denied.granted, denied.reason, denied.user_id) == (False, "anti_passback", "u1")
    assert eng.decide(card(reader="r-out"), "front", NOW + 20).granted
    assert eng.decide(card(reader="r-in"), "front", NOW + 30).granted


def test_soft_anti_passback_grants_with_a_note() -> None:
    eng = auto_engine(AutoInOutSettings(mode="anti_passback", anti_passback="soft"))
    eng.decide(card(reader="r-in"), "front", NOW)
    decision = eng.decide(card(reader="r-in"), "front", NOW + 10)
    assert (decision.granted, decision.reason) == (True, "granted")
    assert decision.notes == ("anti_passback_violation",)


def test_denied_attempts_do_not_change_anti_passback_state() -> None:
    office = AccessRightRule(id=0, patterns={"MONDAY": hours(9, 17)})
    eng = engine(
        snapshot(rights=[office]),
        access=AccessSettings(auto_in_out=AutoInOutSettings(mode="anti_passback")),
    )
    assert (
        eng.decide(card(reader="r-in"), "front", when(at(2026, 3, 2, 8))).reason
        == "outside_schedule"
    )
    assert eng.decide(card(reader="r-in"), "front", when(at(2026, 3, 2, 9))).granted


def in_lockdown(override: bool) -> str | None:
    """A door in lockdown: it refuses every grant but one carrying the lockdown override."""
    return None if override else "lockdown"


def test_a_grant_the_door_refuses_is_no_passage() -> None:
    """Refused by a door in lockdown, the user is still outside: nothing is committed, so
    once the lockdown is lifted the same entry opens."""
    eng = auto_engine(AutoInOutSettings(mode="anti_passback", anti_passback="hard"))
    refused = eng.decide(card(reader="r-in"), "front", NOW, door_refusal=in_lockdown)
    assert (refused.granted, refused.reason, refused.user_id) == (False, "lockdown", "u1")
    assert refused.trace[-2:] == ("granted", "door:lockdown")
    assert eng.decide(card(reader="r-in"), "front", NOW + 10).granted


def test_the_door_lets_a_lockdown_override_through() -> None:
    boss = UserRule("u1", lockdown_override=True)
    eng = engine(snapshot(users=[boss]))
    decision = eng.decide(card(), "front", NOW, door_refusal=in_lockdown)
    assert decision.granted and decision.lockdown_override


def test_a_pin_the_door_refuses_does_not_clear_the_keypads_failures() -> None:
    eng = lockout_engine()
    for _ in range(4):
        eng.decide(pin("0000"), "front", NOW)
    eng.decide(pin("4321"), "front", NOW, door_refusal=in_lockdown)
    assert eng.decide(pin("0000"), "front", NOW).reason == "unknown_credential"
    assert eng.decide(pin("4321"), "front", NOW).reason == "keypad_locked"


def test_reject_repeat_login_through_the_engine() -> None:
    eng = auto_engine(AutoInOutSettings(mode="reject_repeat_login", reject_repeat_s=8))
    assert eng.decide(card(), "front", NOW).granted
    assert eng.decide(card(reader="r-out"), "front", NOW + 3).reason == "repeat_rejected"
    assert eng.decide(card(), "front", NOW + 8).granted


def test_lunch_break_through_the_engine() -> None:
    eng = auto_engine(AutoInOutSettings(mode="lunch_break", lunch_break_min=20))
    assert eng.decide(card(reader="r-out"), "front", NOW).granted
    assert eng.decide(card(reader="r-in"), "front", NOW + 600).reason == "lunch_break"
    assert eng.decide(card(reader="r-in"), "front", NOW + 1200).granted


def test_crowd_control_through_the_engine_with_daily_reset() -> None:
    eng = auto_engine(AutoInOutSettings(mode="crowd_control", crowd_limit=1, crowd_reset="00:00"))
    assert eng.decide(card(), "front", NOW).granted
    assert eng.decide(card(), "front", NOW + 1).reason == "crowd_limit"
    assert eng.status(NOW + 1)["auto_in_out"]["occupancy"] == 1
    assert eng.decide(card(), "front", when(at(2026, 3, 3, 0, 1))).granted


def test_two_factor_grant_commits_anti_passback_once() -> None:
    eng = two_factor_engine(auto=AutoInOutSettings(mode="anti_passback"))
    eng.decide(card(), "front", NOW)
    assert eng.decide(pin("4321"), "front", NOW + 1).granted
    eng.decide(card(), "front", NOW + 10)
    assert eng.decide(pin("4321"), "front", NOW + 11).reason == "anti_passback"


def test_autoinout_state_survives_export_and_import() -> None:
    eng = auto_engine(AutoInOutSettings(mode="anti_passback"))
    eng.decide(card(), "front", NOW)
    restarted = auto_engine(AutoInOutSettings(mode="anti_passback"))
    restarted.import_state(json.loads(json.dumps(eng.export_state(stamp(NOW)))), stamp(NOW + 60))
    assert restarted.decide(card(), "front", NOW + 60).reason == "anti_passback"


def test_schedule_is_evaluated_in_device_local_time_across_dst() -> None:
    # London 2026-03-29: 01:00 UTC is 02:00 BST, the first instant of summer time.
    right = AccessRightRule(id=0, patterns={"SUNDAY": hours(2, 3)})
    eng = engine(snapshot(rights=[right]), tz=LONDON)
    assert eng.decide(card(), "front", when(at(2026, 3, 29, 0, 59))).reason == "outside_schedule"
    assert eng.decide(card(), "front", when(at(2026, 3, 29, 1, 0))).granted
    assert eng.decide(card(), "front", when(at(2026, 3, 29, 2, 0))).reason == "outside_schedule"


def test_status_never_shows_secrets_and_reports_components() -> None:
    eng = two_factor_engine()
    eng.decide(card(), "front", NOW)
    status = eng.status(NOW + 1)
    assert status["awaiting_second_factor"] == {"front": 14.0}
    assert status["rules"]["pins"] == 2
    assert "4321" not in json.dumps(status)
