"""Unlock pulses: locked first, the pulse, relock on close, granted-not-opened, polarity."""

from __future__ import annotations

from tests.doors.harness import DEBOUNCE, rig


def test_relay_left_unlocked_by_a_crash_is_locked_at_construction() -> None:
    door = rig(relay_left_unlocked=True)
    assert not door.relay_energised
    assert not door.door.unlocked
    assert door.events == []  # nothing happened to the door: no event


def test_grant_unlocks_for_the_pulse_and_reports_granted_not_opened() -> None:
    door = rig()
    assert door.door.grant("1001") is True
    assert door.door.unlocked and door.relay_energised
    door.advance(4.9)
    assert door.door.unlocked
    door.advance(0.1)
    assert not door.door.unlocked and not door.relay_energised
    assert door.traced() == [
        ("unlocked", "granted"),
        ("granted_not_opened", ""),
        ("locked", "pulse_ended"),
    ]
    assert door.event("unlocked").user_id == "1001"
    assert door.event("granted_not_opened").user_id == "1001"
    assert door.event("granted_not_opened").type == "door"


def test_pulse_cut_short_by_relock_on_close() -> None:
    door = rig()
    door.door.grant("1001")
    door.advance(1)
    door.open_door()
    door.advance(1)
    door.close_door()
    assert not door.door.unlocked  # 2.1 s into a 5 s pulse
    door.advance(10)
    assert door.traced() == [
        ("unlocked", "granted"),
        ("door_opened", "granted"),
        ("door_closed", ""),
        ("locked", "relock_on_close"),
    ]


def test_without_relock_on_close_the_pulse_runs_out() -> None:
    door = rig(relock_on_close=False)
    door.door.grant("1001")
    door.open_door()
    door.close_door()
    assert door.door.unlocked
    door.advance(5)
    assert door.traced() == [
        ("unlocked", "granted"),
        ("door_opened", "granted"),
        ("door_closed", ""),
        ("locked", "pulse_ended"),
    ]


def test_a_repeat_grant_restarts_the_pulse() -> None:
    door = rig()
    door.door.grant("1001")
    door.advance(4)
    door.door.grant("1002")
    door.advance(4)
    assert door.door.unlocked
    door.advance(1)
    assert not door.door.unlocked
    assert door.reasons() == ["unlocked", "granted_not_opened", "locked"]
    assert door.event("granted_not_opened").user_id == "1002"


def test_an_opening_that_starts_just_before_the_relock_is_authorised() -> None:
    door = rig()
    door.door.grant("1001")
    door.advance(5 - DEBOUNCE / 2)
    door.open_door()  # first edge before the relock, settled after it
    assert door.door.alarms == frozenset()
    assert door.traced() == [
        ("unlocked", "granted"),
        ("locked", "pulse_ended"),
        ("door_opened", "granted"),
    ]


def test_a_door_already_open_at_the_grant_relocks_when_it_closes() -> None:
    door = rig()
    door.door.grant("1001")
    door.open_door()
    door.door.grant("1002")  # a second person while the door stands open
    door.close_door()
    assert not door.door.unlocked
    assert door.reasons() == ["unlocked", "door_opened", "door_closed", "locked"]


def test_fail_safe_relay_is_energised_while_locked() -> None:
    door = rig(lock_type="fail_safe")
    assert door.relay_energised and not door.door.unlocked
    door.door.grant("1001")
    assert not door.relay_energised and door.door.unlocked
    door.advance(5)
    assert door.relay_energised
    door.door.stop()
    assert door.relay_energised
    assert door.door.status()["lock_type"] == "fail_safe"


def test_fail_safe_relay_left_released_by_a_crash_is_energised_at_construction() -> None:
    door = rig(lock_type="fail_safe", relay_left_unlocked=True)
    assert door.relay_energised


def test_stop_locks_an_unlocked_door_and_ignores_later_input() -> None:
    door = rig()
    door.door.grant("1001")
    door.door.stop()
    assert not door.door.unlocked
    assert door.traced()[-1] == ("locked", "stopping")
    assert door.door.grant("1001") is False
    door.press_rex()
    door.advance(60)
    assert door.reasons() == ["unlocked", "locked"]
    assert door.timers.pending == 0
