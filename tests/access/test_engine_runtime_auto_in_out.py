"""`AccessEngine.set_auto_in_out`: autoInOut settings changed at runtime (ACTAtek
setAutoInOut) apply to the next decision and keep what is known about each user."""

from __future__ import annotations

import pytest

from gateway.model import Credential
from gateway.settings import AccessSettings, AutoInOutSettings

from .rules import MONDAY_10AM, engine, stamp, when

NOW = when(MONDAY_10AM)


def card(reader: str = "r-in") -> Credential:
    return Credential(kind="card", value="CAFE01", reader=reader, timestamp=NOW.wall)


def test_a_new_mode_applies_to_the_next_decision() -> None:
    eng = engine()
    assert eng.decide(card(), "front", NOW).granted
    assert eng.decide(card(), "front", NOW + 1).granted  # disabled: no repeat check
    eng.set_auto_in_out(AutoInOutSettings(mode="reject_repeat_login", reject_repeat_s=60), NOW)
    assert eng.auto_in_out.mode == "reject_repeat_login"
    assert eng.decide(card(), "front", NOW + 2).granted
    assert eng.decide(card(), "front", NOW + 3).reason == "repeat_rejected"
    assert eng.status(NOW)["auto_in_out"]["mode"] == "reject_repeat_login"


def test_changing_a_limit_keeps_the_users_state() -> None:
    access = AccessSettings(auto_in_out=AutoInOutSettings(mode="anti_passback"))
    eng = engine(access=access)
    assert eng.decide(card(), "front", NOW).granted
    eng.set_auto_in_out(AutoInOutSettings(mode="anti_passback", anti_passback="hard"), NOW + 1)
    assert eng.decide(card(), "front", NOW + 2).reason == "anti_passback"  # still IN
    assert eng.decide(card("r-out"), "front", NOW + 3).granted


def test_crowd_limit_lowered_below_the_occupancy_refuses_entries() -> None:
    crowd = AutoInOutSettings(mode="crowd_control", crowd_limit=5)
    eng = engine(access=AccessSettings(auto_in_out=crowd))
    for step in range(3):
        assert eng.decide(card(), "front", NOW + step).granted
    eng.set_auto_in_out(AutoInOutSettings(mode="crowd_control", crowd_limit=2), NOW + 5)
    assert eng.decide(card(), "front", NOW + 6).reason == "crowd_limit"


def test_a_change_moves_the_state_version_and_a_bad_reset_time_changes_nothing() -> None:
    eng = engine()
    before = eng.state_version
    eng.set_auto_in_out(AutoInOutSettings(mode="lunch_break", lunch_break_min=5), NOW)
    assert eng.state_version > before
    with pytest.raises(ValueError):
        eng.set_auto_in_out(AutoInOutSettings(mode="crowd_control", crowd_reset="25:99"), NOW)
    assert eng.auto_in_out.mode == "lunch_break"
    # Saved state restores under the new settings (a restart re-applies them first).
    state = eng.export_state(stamp(NOW))
    eng.import_state(state, stamp(NOW))
    assert eng.auto_in_out.lunch_break_min == 5
