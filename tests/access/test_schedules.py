"""Weekly schedules: local wall-time slots, DST changes, holidays, groups and rights."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from gateway.access.schedules import schedule_allows
from gateway.access.snapshot import AccessRightRule, GroupRule, UserRule

from .rules import ALWAYS, LONDON, MONDAY_10AM, UTC, at, hours, slots, snapshot

USER = UserRule("u1")


def sunday_right(pattern: str) -> AccessRightRule:
    return AccessRightRule(id=0, patterns={"SUNDAY": pattern})


def test_allowed_slot_names_the_group_and_right_that_decided() -> None:
    snap = snapshot(rights=[AccessRightRule(id=0, patterns={"MONDAY": hours(8, 17)})])
    allowed, trace = schedule_allows(snap, USER, "front", at(2026, 3, 2, 8, 45), UTC)
    assert (allowed, trace) == (True, "schedule:group=0,right=0,MONDAY,slot=17")


def test_outside_the_pattern_is_denied() -> None:
    snap = snapshot(rights=[AccessRightRule(id=0, patterns={"MONDAY": hours(9, 17)})])
    allowed, trace = schedule_allows(snap, USER, "front", at(2026, 3, 2, 17, 0), UTC)
    assert not allowed
    assert "MONDAY,slot=34" in trace


def test_a_day_without_a_pattern_is_never() -> None:
    snap = snapshot(rights=[AccessRightRule(id=0, patterns={"MONDAY": hours(0, 24)})])
    # 2026-03-03 is a Tuesday.
    assert not schedule_allows(snap, USER, "front", at(2026, 3, 3, 12), UTC)[0]


def test_slot_uses_device_local_time_not_utc() -> None:
    # Monday 23:30 UTC is Tuesday 08:30 in Tokyo.
    snap = snapshot(rights=[AccessRightRule(id=0, patterns={"TUESDAY": slots(17)})])
    tokyo = ZoneInfo("Asia/Tokyo")
    allowed, trace = schedule_allows(snap, USER, "front", at(2026, 3, 2, 23, 30), tokyo)
    assert allowed
    assert trace.endswith("TUESDAY,slot=17")
    assert not schedule_allows(snap, USER, "front", at(2026, 3, 2, 23, 30), UTC)[0]


def test_spring_forward_skipped_local_hour_never_matches() -> None:
    # Europe/London 2026-03-29 (a Sunday): at 01:00 UTC clocks jump from 01:00 to 02:00.
    # Local slot 2 (01:00-01:29) does not exist that day, so a right allowing only it
    # never opens, whatever the UTC minute.
    snap = snapshot(rights=[sunday_right(slots(2))])
    start = at(2026, 3, 29, 0, 0)
    for minute in range(0, 3 * 60):
        assert not schedule_allows(snap, USER, "front", start + minute * 60, LONDON)[0]


def test_spring_forward_first_instant_is_local_two_oclock() -> None:
    # 01:00 UTC is 02:00 BST: slot 4, not slot 2 as a UTC reading would say.
    snap = snapshot(rights=[sunday_right(slots(4))])
    allowed, trace = schedule_allows(snap, USER, "front", at(2026, 3, 29, 1, 0), LONDON)
    assert allowed
    assert trace == "schedule:group=0,right=0,SUNDAY,slot=4"
    # Half a minute earlier it is still 00:59 GMT (slot 1).
    assert not schedule_allows(snap, USER, "front", at(2026, 3, 29, 0, 59), LONDON)[0]


def test_fall_back_repeated_local_hour_matches_both_times() -> None:
    # Europe/London 2026-10-25: local 01:00-01:59 happens twice (BST, then GMT).
    snap = snapshot(rights=[sunday_right(slots(2))])
    assert schedule_allows(snap, USER, "front", at(2026, 10, 25, 0, 15), LONDON)[0]  # BST
    assert schedule_allows(snap, USER, "front", at(2026, 10, 25, 1, 15), LONDON)[0]  # GMT
    assert not schedule_allows(snap, USER, "front", at(2026, 10, 25, 2, 15), LONDON)[0]


def test_holiday_uses_the_holiday_pattern_instead_of_the_weekday() -> None:
    right = AccessRightRule(id=0, patterns={"MONDAY": hours(0, 24), "HOLIDAY": hours(10, 12)})
    snap = snapshot(rights=[right], holidays=[date(2026, 3, 2)])
    denied, trace = schedule_allows(snap, USER, "front", at(2026, 3, 2, 9), UTC)
    assert not denied
    assert "HOLIDAY" in trace
    allowed, trace = schedule_allows(snap, USER, "front", MONDAY_10AM, UTC)
    assert allowed
    assert trace == "schedule:group=0,right=0,HOLIDAY,slot=20"


def test_holiday_without_holiday_pattern_is_closed() -> None:
    right = AccessRightRule(id=0, patterns={"MONDAY": hours(0, 24)})
    snap = snapshot(rights=[right], holidays=[date(2026, 3, 2)])
    assert not schedule_allows(snap, USER, "front", MONDAY_10AM, UTC)[0]


def test_holiday_is_the_local_date() -> None:
    # 2026-03-01 23:30 UTC is already 2026-03-02 in Tokyo, the holiday.
    right = AccessRightRule(id=0, patterns={"HOLIDAY": hours(0, 24)})
    snap = snapshot(rights=[right], holidays=[date(2026, 3, 2)])
    tokyo = ZoneInfo("Asia/Tokyo")
    assert schedule_allows(snap, USER, "front", at(2026, 3, 1, 23, 30), tokyo)[0]
    assert not schedule_allows(snap, USER, "front", at(2026, 3, 1, 23, 30), UTC)[0]


def test_any_group_and_any_right_may_allow() -> None:
    night = AccessRightRule(id=1, patterns={"MONDAY": hours(0, 6)})
    day = AccessRightRule(id=2, patterns={"MONDAY": hours(9, 17)})
    snap = snapshot(
        users=[UserRule("u1", groups=(5, 7))],
        groups=[GroupRule(id=5, rights=(1,)), GroupRule(id=7, rights=(9, 2))],
        rights=[night, day],
    )
    user = snap.users["u1"]
    allowed, trace = schedule_allows(snap, user, "front", MONDAY_10AM, UTC)
    assert allowed
    assert trace == "schedule:group=7,right=2,MONDAY,slot=20"


def test_group_without_rights_is_never() -> None:
    snap = snapshot(groups=[GroupRule(id=0, rights=())])
    allowed, trace = schedule_allows(snap, USER, "front", MONDAY_10AM, UTC)
    assert not allowed
    assert "groups=0" in trace


def test_groups_for_other_doors_do_not_count() -> None:
    snap = snapshot(groups=[GroupRule(id=0, rights=(0,), doors=frozenset({"back"}))])
    allowed, trace = schedule_allows(snap, USER, "front", MONDAY_10AM, UTC)
    assert not allowed
    assert trace.startswith("schedule:no_group_for_door")
    assert schedule_allows(snap, USER, "back", MONDAY_10AM, UTC)[0]


def test_unknown_group_and_unknown_right_grant_nothing() -> None:
    snap = snapshot(
        users=[UserRule("u1", groups=(3, 0))],
        groups=[GroupRule(id=0, rights=(42,))],
        rights=[AccessRightRule(id=1, patterns=ALWAYS.patterns)],  # right 42 is missing
    )
    assert not schedule_allows(snap, snap.users["u1"], "front", MONDAY_10AM, UTC)[0]


def test_malformed_short_pattern_denies_instead_of_crashing() -> None:
    snap = snapshot(rights=[AccessRightRule(id=0, patterns={"MONDAY": "111"})])
    assert not schedule_allows(snap, USER, "front", MONDAY_10AM, UTC)[0]
