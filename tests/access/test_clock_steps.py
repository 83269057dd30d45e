"""A step of the wall clock changes no decision that is about a duration.

Each test takes a decision, steps the wall clock (back or forward, by an hour or a day)
while the monotonic clock only moves by the time that really passed, and checks that the
durations (keypad lockout and its window/escalation, two-factor window, reject-repeat and
lunch-break windows, TOTP replay memory) are measured on the monotonic clock. The last
tests check the other half of the rule: what is about the calendar still follows the wall.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.snapshot import AccessRightRule, UserRule
from gateway.access.totp import STEP_S, code_at, payload, seal, step_at
from gateway.clock import Instant
from gateway.model import Credential, CredentialKind
from gateway.settings import AccessSettings, AuthMode, AutoInOutSettings, DoorSettings

from .rules import HASHER, MONDAY_10AM, at, engine, hours, snapshot, when

NOW = when(MONDAY_10AM)
HOUR, DAY = 3600.0, 86400.0
STEPS = [-HOUR, -DAY, HOUR, DAY]


def stepped(now: Instant, seconds: float) -> Instant:
    """`now` with the wall clock stepped by `seconds` (monotonic time has not moved)."""
    return replace(now, wall=now.wall + seconds)


def cred(kind: CredentialKind, value: str, now: Instant, reader: str = "r-in") -> Credential:
    return Credential(kind=kind, value=value, reader=reader, timestamp=now.wall)


# -- keypad lockout -------------------------------------------------------------------------


def lockout_engine() -> AccessEngine:
    return engine(snapshot(pins={"4321": "u1"}))


def wrong_pins(eng: AccessEngine, count: int, now: Instant) -> Instant:
    """`count` wrong PINs one second apart from `now`; the moment after the last one."""
    for _ in range(count):
        assert eng.decide(cred("pin", "0000", now), "front", now).reason == "unknown_credential"
        now = now + 1
    return now


def pin_reason(eng: AccessEngine, now: Instant) -> str:
    return eng.decide(cred("pin", "4321", now), "front", now).reason


@pytest.mark.parametrize("step", STEPS)
def test_a_keypad_lockout_lasts_its_sixty_seconds_whatever_the_wall_clock_does(
    step: float,
) -> None:
    eng = lockout_engine()
    locked_at = wrong_pins(eng, 5, NOW) - 1  # the fifth wrong PIN locks for 60 s
    later = stepped(locked_at, step) + 10
    decision = eng.decide(cred("pin", "4321", later), "front", later)
    assert decision.reason == "keypad_locked"
    assert "lockout:locked,reader=r-in,left=50s" in decision.trace
    assert eng.status(later)["lockout"]["locked"] == {"r-in": 50.0}
    assert pin_reason(eng, stepped(locked_at, step) + 59.9) == "keypad_locked"
    assert pin_reason(eng, stepped(locked_at, step) + 60) == "granted"


@pytest.mark.parametrize("step", [-HOUR, -DAY])
def test_failures_older_than_the_window_do_not_count_after_a_step_back(step: float) -> None:
    eng = lockout_engine()
    after = wrong_pins(eng, 4, NOW)
    wrong_pins(eng, 1, stepped(after, step) + 60)  # 61 s after the first: outside 60 s
    assert pin_reason(eng, stepped(after, step) + 61) == "granted"
    assert eng.drain_events() == []


@pytest.mark.parametrize("step", [HOUR, DAY])
def test_failures_within_the_window_still_count_after_a_step_forward(step: float) -> None:
    eng = lockout_engine()
    after = wrong_pins(eng, 4, NOW)
    wrong_pins(eng, 1, stepped(after, step))
    assert pin_reason(eng, stepped(after, step) + 2) == "keypad_locked"


@pytest.mark.parametrize("step", [HOUR, DAY])
def test_a_step_forward_does_not_pass_for_the_quiet_time_that_resets_the_escalation(
    step: float,
) -> None:
    eng = lockout_engine()
    unlocked = wrong_pins(eng, 5, NOW) - 1 + 60
    wrong_pins(eng, 5, stepped(unlocked, step))  # second lockout: doubled
    traces = [event.trace for event in eng.drain_events()]
    assert traces == ["lockout:60s", "lockout:120s"]


# -- two factors ----------------------------------------------------------------------------


def two_factor_engine(mode: AuthMode = "card+pin") -> AccessEngine:
    return engine(
        snapshot(pins={"4321": "u1"}),
        access=AccessSettings(two_factor_timeout_s=15),
        doors=[DoorSettings("front", auth_mode=mode)],
    )


@pytest.mark.parametrize("step", STEPS)
def test_the_second_factor_is_in_time_within_fifteen_seconds_whatever_the_wall_clock_does(
    step: float,
) -> None:
    eng = two_factor_engine()
    first = eng.decide(cred("card", "CAFE01", NOW), "front", NOW)
    assert first.reason == "awaiting_second_factor"
    later = stepped(NOW, step) + 5
    assert eng.status(later)["awaiting_second_factor"] == {"front": 10.0}
    assert eng.decide(cred("pin", "4321", later), "front", later).granted


@pytest.mark.parametrize("step", STEPS)
def test_the_second_factor_is_late_after_fifteen_seconds_whatever_the_wall_clock_does(
    step: float,
) -> None:
    eng = two_factor_engine("pin+card")
    eng.decide(cred("pin", "4321", NOW), "front", NOW)
    late = stepped(NOW, step) + 16
    decision = eng.decide(cred("card", "CAFE01", late), "front", late)
    assert (decision.granted, decision.reason) == (False, "second_factor_timeout")


# -- autoInOut windows ----------------------------------------------------------------------


def auto_engine(**auto: object) -> AccessEngine:
    settings = AutoInOutSettings(**auto)  # type: ignore[arg-type]
    return engine(access=AccessSettings(auto_in_out=settings))


def card_reason(eng: AccessEngine, now: Instant, reader: str = "r-in") -> str:
    return eng.decide(cred("card", "CAFE01", now, reader), "front", now).reason


@pytest.mark.parametrize("step", STEPS)
def test_reject_repeat_login_lasts_its_window_whatever_the_wall_clock_does(step: float) -> None:
    eng = auto_engine(mode="reject_repeat_login", reject_repeat_s=8)
    assert card_reason(eng, NOW) == "granted"
    assert card_reason(eng, stepped(NOW, step) + 3) == "repeat_rejected"
    assert card_reason(eng, stepped(NOW, step) + 8) == "granted"


@pytest.mark.parametrize("step", STEPS)
def test_a_lunch_break_lasts_its_minutes_whatever_the_wall_clock_does(step: float) -> None:
    eng = auto_engine(mode="lunch_break", lunch_break_min=20)
    assert card_reason(eng, NOW, "r-out") == "granted"
    assert card_reason(eng, stepped(NOW, step) + 19 * 60) == "lunch_break"
    assert card_reason(eng, stepped(NOW, step) + 20 * 60) == "granted"


# -- TOTP replay memory ----------------------------------------------------------------------

SECRET = b"12345678901234567890"


def totp_engine() -> AccessEngine:
    return engine(snapshot(totp={"u1": seal(HASHER, "u1", SECRET)}))


def totp_reason(eng: AccessEngine, now: Instant) -> str:
    """Show the code the user's phone shows at `now` (same clock as the gateway)."""
    text = payload("u1", code_at(SECRET, step_at(now.wall)))
    return eng.decide(cred("qr", text, now), "front", now).reason


def test_after_a_step_back_the_current_totp_code_opens_and_a_used_one_still_does_not() -> None:
    eng = totp_engine()
    used_step = step_at(NOW.wall)
    assert totp_reason(eng, NOW) == "granted"
    back = stepped(NOW, -HOUR) + 5
    assert totp_reason(eng, back) == "granted"  # a code of an hour ago, never used
    assert totp_reason(eng, back + 1) == "totp_rejected"  # that one, again
    # An hour later the wall clock is back at the first code's step: it is the same code
    # as the one already used, so it is refused as a replay.
    again = stepped(NOW, -HOUR) + HOUR + 1
    assert step_at(again.wall) == used_step
    assert totp_reason(eng, again) == "totp_rejected"
    assert totp_reason(eng, again + STEP_S) == "granted"  # the next step's code is new


def test_an_earlier_code_than_one_accepted_is_still_refused() -> None:
    eng = totp_engine()
    assert totp_reason(eng, NOW) == "granted"
    previous = payload("u1", code_at(SECRET, step_at(NOW.wall) - 1))
    decision = eng.decide(cred("qr", previous, NOW + 1), "front", NOW + 1)
    assert decision.reason == "totp_rejected"


# -- what still follows the wall clock --------------------------------------------------------


def test_the_weekly_schedule_follows_the_wall_clock() -> None:
    office = AccessRightRule(id=0, patterns={"MONDAY": hours(9, 17)})
    eng = engine(snapshot(rights=[office]))
    assert card_reason(eng, NOW) == "granted"
    evening = replace(NOW + 1, wall=at(2026, 3, 2, 18))  # the wall clock set to 18:00
    assert card_reason(eng, evening) == "outside_schedule"


def test_expiry_follows_the_wall_clock() -> None:
    eng = engine(snapshot(users=[UserRule("u1", expiry=NOW.wall + HOUR)]))
    assert card_reason(eng, NOW) == "granted"
    assert card_reason(eng, stepped(NOW, HOUR) + 1) == "user_expired"


def test_the_crowd_count_resets_at_the_local_reset_time_of_the_wall_clock() -> None:
    eng = auto_engine(mode="crowd_control", crowd_limit=1, crowd_reset="00:00")
    assert card_reason(eng, NOW) == "granted"
    assert card_reason(eng, NOW + 1) == "crowd_limit"
    next_morning = replace(NOW + 2, wall=at(2026, 3, 3, 0, 1))
    assert card_reason(eng, next_morning) == "granted"


def test_decision_events_carry_wall_clock_time() -> None:
    eng = lockout_engine()
    after = wrong_pins(eng, 5, stepped(NOW, -DAY))
    (event,) = eng.drain_events()
    assert event.time == (after - 1).wall


def test_after_the_wall_clock_went_back_a_day_the_next_crowd_reset_still_comes() -> None:
    eng = auto_engine(mode="crowd_control", crowd_limit=1, crowd_reset="06:00")
    ahead = replace(NOW, wall=at(2026, 3, 3, 10))  # the wall clock a day ahead: Tuesday
    assert card_reason(eng, ahead) == "granted"
    corrected = replace(NOW + 60, wall=at(2026, 3, 2, 10, 1))  # set right: Monday
    assert card_reason(eng, corrected) == "crowd_limit"  # the count is kept
    tuesday = replace(corrected + 20 * HOUR, wall=at(2026, 3, 3, 6, 1))
    assert card_reason(eng, tuesday) == "granted"  # reset at Tuesday 06:00 by the wall clock
