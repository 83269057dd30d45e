"""autoInOut modes on their own: anti-passback, reject repeat, lunch break, crowd control."""

from __future__ import annotations

import json

import pytest

from gateway.access.autoinout import AutoInOut, CheckResult
from gateway.clock import Instant
from gateway.model import Direction
from gateway.settings import AutoInOutSettings

from .rules import LONDON, UTC, at, stamp, when

T0 = when(at(2026, 3, 2, 10))


def passes(auto: AutoInOut, user: str | None, direction: Direction, now: Instant) -> CheckResult:
    """A check, committed when allowed (as the engine does on a grant)."""
    result = auto.check(user, direction, now)
    if result.allowed:
        auto.commit(user, direction, now)
    return result


def test_disable_allows_everything_and_remembers_nothing() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="disable"), UTC)
    for i in range(3):
        assert passes(auto, "u1", "in", T0 + i).allowed
    assert not auto.commit("u1", "in", T0)
    assert auto.export_state(stamp(T0))["passages"] == {}


def test_hard_anti_passback_denies_entering_twice_and_leaving_twice() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="anti_passback", anti_passback="hard"), UTC)
    assert passes(auto, "u1", "in", T0) == CheckResult(True, "", None)  # unknown state
    assert passes(auto, "u1", "in", T0 + 5) == CheckResult(False, "anti_passback", None)
    assert passes(auto, "u1", "out", T0 + 10).allowed
    assert passes(auto, "u1", "out", T0 + 15) == CheckResult(False, "anti_passback", None)
    assert passes(auto, "u2", "out", T0 + 20).allowed  # first passage may be either way


def test_soft_anti_passback_grants_and_notes_the_violation() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="anti_passback", anti_passback="soft"), UTC)
    passes(auto, "u1", "in", T0)
    assert passes(auto, "u1", "in", T0 + 5) == CheckResult(True, "", "anti_passback_violation")
    assert passes(auto, "u1", "out", T0 + 10) == CheckResult(True, "", None)


def test_check_alone_changes_nothing() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="anti_passback"), UTC)
    auto.check("u1", "in", T0)
    assert auto.check("u1", "in", T0 + 1).allowed


def test_forget_user_clears_a_stuck_anti_passback_state() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="anti_passback"), UTC)
    passes(auto, "u1", "in", T0)
    assert auto.forget_user("u1")
    assert passes(auto, "u1", "in", T0 + 1).allowed


def test_reject_repeat_login_within_the_window_at_any_reader() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="reject_repeat_login", reject_repeat_s=8), UTC)
    assert passes(auto, "u1", "in", T0).allowed
    assert passes(auto, "u1", "out", T0 + 7.9) == CheckResult(False, "repeat_rejected", None)
    assert passes(auto, "u2", "in", T0 + 1).allowed  # other users are independent
    assert passes(auto, "u1", "in", T0 + 8).allowed


def test_lunch_break_refuses_coming_back_in_too_soon() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="lunch_break", lunch_break_min=20), UTC)
    assert passes(auto, "u1", "in", T0).allowed
    assert passes(auto, "u1", "in", T0 + 60).allowed  # IN after IN is not a lunch break
    assert passes(auto, "u1", "out", T0 + 120).allowed
    assert passes(auto, "u1", "out", T0 + 180).allowed  # OUT again is fine, restarts the break
    assert passes(auto, "u1", "in", T0 + 180 + 19 * 60) == CheckResult(False, "lunch_break", None)
    assert passes(auto, "u1", "in", T0 + 180 + 20 * 60).allowed


def test_crowd_control_counts_in_and_out() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="crowd_control", crowd_limit=2), UTC)
    assert passes(auto, "u1", "in", T0).allowed
    assert passes(auto, None, "in", T0 + 1).allowed  # anonymous people count too
    assert passes(auto, "u3", "in", T0 + 2) == CheckResult(False, "crowd_limit", None)
    assert passes(auto, "u3", "out", T0 + 3).allowed  # leaving is always allowed
    assert passes(auto, "u3", "in", T0 + 4).allowed
    assert auto.occupancy(T0.wall + 4) == 2


def test_crowd_count_never_goes_below_zero() -> None:
    auto = AutoInOut(AutoInOutSettings(mode="crowd_control", crowd_limit=1), UTC)
    for i in range(3):
        passes(auto, "u1", "out", T0 + i)
    assert auto.occupancy(T0.wall + 3) == 0
    assert passes(auto, "u1", "in", T0 + 4).allowed
    assert not passes(auto, "u2", "in", T0 + 5).allowed


def test_crowd_count_resets_daily_at_local_reset_time() -> None:
    settings = AutoInOutSettings(mode="crowd_control", crowd_limit=1, crowd_reset="06:00")
    auto = AutoInOut(settings, LONDON)
    # Summer: London is UTC+1, so 06:00 local is 05:00 UTC.
    passes(auto, "u1", "in", when(at(2026, 7, 1, 20, 0, LONDON)))
    assert passes(auto, "u2", "in", when(at(2026, 7, 2, 5, 59, LONDON))).reason == "crowd_limit"
    assert passes(auto, "u2", "in", when(at(2026, 7, 2, 6, 0, LONDON))).allowed
    assert auto.occupancy(at(2026, 7, 2, 7, 0, LONDON)) == 1


def test_crowd_reset_that_fell_during_a_restart_is_applied_on_import() -> None:
    settings = AutoInOutSettings(mode="crowd_control", crowd_limit=1, crowd_reset="00:00")
    auto = AutoInOut(settings, UTC)
    passes(auto, "u1", "in", when(at(2026, 3, 2, 22)))
    saved = json.loads(json.dumps(auto.export_state(stamp(when(at(2026, 3, 2, 22))))))

    same_day = AutoInOut(settings, UTC)
    same_day.import_state(saved, stamp(when(at(2026, 3, 2, 23))))
    assert same_day.check("u2", "in", when(at(2026, 3, 2, 23))).reason == "crowd_limit"

    next_day = AutoInOut(settings, UTC)
    next_day.import_state(saved, stamp(when(at(2026, 3, 3, 1))))
    assert next_day.check("u2", "in", when(at(2026, 3, 3, 1))).allowed


def test_export_import_keeps_anti_passback_positions() -> None:
    settings = AutoInOutSettings(mode="anti_passback")
    auto = AutoInOut(settings, UTC)
    passes(auto, "u1", "in", T0)
    restored = AutoInOut(settings, UTC)
    restored.import_state(json.loads(json.dumps(auto.export_state(stamp(T0)))), stamp(T0 + 60))
    assert restored.check("u1", "in", T0 + 60).reason == "anti_passback"


@pytest.mark.parametrize(
    "state",
    [
        {"version": 3},
        {"version": 2},
        {"version": 1, "passages": {"u1": ["sideways", 1.0]}},
        {"version": 1, "last_grant": {"u1": "yesterday"}},
        {"version": 1, "occupancy": -3},
    ],
)
def test_import_rejects_malformed_state(state: dict[str, object]) -> None:
    auto = AutoInOut(AutoInOutSettings(mode="anti_passback"), UTC)
    passes(auto, "u1", "in", T0)
    with pytest.raises(ValueError):
        auto.import_state(state, stamp(T0))
    assert auto.check("u1", "in", T0).reason == "anti_passback"
