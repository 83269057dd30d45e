"""Unlock schedules: start and end at slot boundaries, first person in, lockdown, rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from gateway.access.snapshot import AccessRightRule, RulesSnapshot
from gateway.doors.controller import DoorLinks
from gateway.doors.schedule import next_boundary, right_schedule
from tests.access.rules import hours
from tests.doors.harness import rig

LONDON = ZoneInfo("Europe/London")


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A time on Monday 2 March 2026 (UTC, which is London time in winter)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def office_hours(now: float) -> bool:
    """9:00-17:00 UTC, as a plain callable (the controller only sees this)."""
    hour = datetime.fromtimestamp(now, UTC).hour
    return 9 <= hour < 17


class Counting:
    """A schedule check that counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, now: float) -> bool:
        self.calls += 1
        return office_hours(now)


def test_schedule_unlocks_at_its_start_and_locks_at_its_end_without_polling() -> None:
    check = Counting()
    door = rig(DoorLinks(schedule_active=check), unlock_schedule=1)
    assert door.door.status()["schedule"] == "inactive"
    door.timers.advance_to(at(9))
    assert door.door.unlocked and door.door.status()["schedule"] == "active"
    door.timers.advance_to(at(16, 59))
    assert door.door.unlocked
    door.timers.advance_to(at(17))
    assert not door.door.unlocked
    assert door.traced() == [
        ("schedule_unlocked", "schedule"),
        ("unlocked", "schedule"),
        ("schedule_locked", "schedule_ended"),
        ("locked", "schedule_ended"),
    ]
    # 08:55 at start, then every quarter hour from 09:00 to 17:00: no polling in between.
    assert check.calls == 1 + 33
    assert door.timers.pending == 1


def test_an_open_door_under_the_schedule_is_not_held_open_until_the_schedule_ends() -> None:
    door = rig(DoorLinks(schedule_active=office_hours), unlock_schedule=1)
    door.timers.advance_to(at(16))
    door.open_door()
    door.timers.advance_to(at(17))  # an hour open: fine while the schedule holds it
    assert door.door.alarms == frozenset()
    door.advance(30)  # the held-open time counts from the schedule's end
    assert door.reasons() == [
        "schedule_unlocked",
        "unlocked",
        "door_opened",
        "schedule_locked",
        "locked",
        "held_open_prealarm",
        "held_open",
    ]
    assert door.event("door_opened").trace == "schedule"


def test_grants_inside_the_schedule_do_not_pulse() -> None:
    door = rig(DoorLinks(schedule_active=office_hours), unlock_schedule=1)
    door.timers.advance_to(at(10))
    door.events.clear()
    assert door.door.grant("1001") is True
    door.advance(60)
    assert door.door.unlocked and door.events == []


def test_first_person_in_keeps_the_door_locked_until_the_first_grant() -> None:
    door = rig(
        DoorLinks(schedule_active=office_hours),
        unlock_schedule=1,
        unlock_schedule_first_person=True,
    )
    door.timers.advance_to(at(9, 30))
    assert not door.door.unlocked
    assert door.door.status()["schedule"] == "waiting_first_person"
    door.door.grant("1001")
    door.advance(60)  # well past the pulse: the schedule holds it now
    assert door.door.unlocked and door.door.status()["schedule"] == "active"
    door.timers.advance_to(at(17))
    assert not door.door.unlocked
    assert door.traced() == [
        ("schedule_unlocked", "first_person"),
        ("unlocked", "schedule"),
        ("schedule_locked", "schedule_ended"),
        ("locked", "schedule_ended"),
    ]
    assert door.event("schedule_unlocked").user_id == "1001"
    door.events.clear()
    door.timers.advance_to(at(9, 30, day=3))  # the next day waits for its first person
    assert not door.door.unlocked and door.events == []


def test_lockdown_masks_the_schedule_and_releasing_it_restores_the_schedule() -> None:
    door = rig(DoorLinks(schedule_active=office_hours), unlock_schedule=1)
    door.door.set_lockdown(True, "admin")
    door.timers.advance_to(at(9))
    assert not door.door.unlocked
    door.door.set_lockdown(False, "admin")
    assert door.door.unlocked
    assert door.traced() == [
        ("lockdown_on", ""),
        ("schedule_unlocked", "schedule,masked_by_lockdown"),
        ("lockdown_off", ""),
        ("unlocked", "schedule"),
    ]


def test_lockdown_during_the_schedule_locks_and_watches_the_open_door() -> None:
    door = rig(DoorLinks(schedule_active=office_hours), unlock_schedule=1)
    door.timers.advance_to(at(10))
    door.open_door()
    door.door.set_lockdown(True, "admin")
    assert not door.door.unlocked
    door.advance(30)
    assert door.door.alarms == {"held_open"}


def test_a_schedule_that_cannot_be_read_keeps_the_door_locked() -> None:
    def broken(now: float) -> bool:
        raise KeyError("rules not loaded")

    door = rig(DoorLinks(schedule_active=broken), unlock_schedule=1)
    door.timers.advance_to(at(10))
    assert not door.door.unlocked and door.events == []


def test_schedules_start_only_when_asked() -> None:
    door = rig(DoorLinks(schedule_active=office_hours), unlock_schedule=1, start=False)
    door.timers.advance_to(at(10))
    assert not door.door.unlocked
    door.door.start()
    assert door.door.unlocked


def test_right_schedule_reads_the_current_snapshot_in_local_time_with_holidays() -> None:
    right = AccessRightRule(id=7, patterns={"MONDAY": hours(9, 17), "HOLIDAY": hours(0, 0)})
    rules = [RulesSnapshot(rights={7: right})]
    active = right_schedule(lambda: rules[0], 7, LONDON)
    summer_monday_9 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC).timestamp()  # 09:00 BST
    assert active(summer_monday_9)
    assert not active(summer_monday_9 - 1)
    rules[0] = RulesSnapshot(rights={7: right}, holidays=frozenset({date(2026, 6, 1)}))
    assert not active(summer_monday_9)  # the HOLIDAY pattern applies
    rules[0] = RulesSnapshot()
    assert not active(summer_monday_9)  # a deleted right never unlocks


def test_schedules_changed_re_evaluates_at_once() -> None:
    state = {"on": False}
    door = rig(DoorLinks(schedule_active=lambda now: state["on"]), unlock_schedule=1)
    state["on"] = True
    door.door.schedules_changed()
    assert door.door.unlocked


def test_next_boundary_is_the_next_quarter_hour() -> None:
    assert next_boundary(at(9).timestamp()) == at(9, 15).timestamp()
    assert next_boundary(at(9, 14).timestamp() + 59.9) == at(9, 15).timestamp()


def test_a_user_without_the_activation_permission_opens_but_does_not_start_it() -> None:
    # The Akuvox "Relay Schedule Activation Permission", refused: a pulse, no schedule.
    door = rig(
        DoorLinks(schedule_active=office_hours),
        unlock_schedule=1,
        unlock_schedule_first_person=True,
    )
    door.timers.advance_to(at(9, 30))
    door.door.grant("visitor", starts_schedule=False)
    assert door.door.unlocked  # the visitor's own pulse
    door.advance(60)
    assert not door.door.unlocked
    assert door.door.status()["schedule"] == "waiting_first_person"
    assert "schedule_unlocked" not in door.reasons()
    door.door.grant("1001")  # a user with the permission starts it
    door.advance(60)
    assert door.door.unlocked and door.door.status()["schedule"] == "active"
