"""Lockdown: locks at once, refuses grants but admin ones, ignores REX for unlocking."""

from __future__ import annotations

from tests.doors.harness import rig


def test_lockdown_locks_at_once_and_refuses_ordinary_grants() -> None:
    door = rig()
    door.door.grant("1001")
    assert door.door.set_lockdown(True, "admin") is True
    assert not door.door.unlocked
    assert door.door.grant("1002") is False
    assert not door.door.unlocked
    assert door.traced() == [
        ("unlocked", "granted"),
        ("lockdown_on", ""),
        ("locked", "lockdown"),
        ("grant_refused", "lockdown"),
    ]
    assert door.event("lockdown_on").user_id == "admin"
    assert door.event("grant_refused").user_id == "1002"
    assert door.door.status()["lockdown"] is True
    assert door.door.status()["lockdown_by"] == "admin"


def test_an_admin_grant_opens_in_lockdown() -> None:
    door = rig()
    door.door.set_lockdown(True, "admin")
    assert door.door.grant("boss", override_lockdown=True) is True
    assert door.door.unlocked
    assert door.traced()[-1] == ("unlocked", "granted:lockdown_override")


def test_rex_in_lockdown_does_not_unlock_but_shunts_the_alarm() -> None:
    door = rig()
    door.door.set_lockdown(True, "admin")
    door.press_rex()
    assert not door.door.unlocked
    door.open_door()
    assert door.door.alarms == frozenset()
    assert door.traced() == [
        ("lockdown_on", ""),
        ("exit_button", "lockdown"),
        ("door_opened", "exit_button"),
    ]


def test_lockdown_off_is_an_event_and_repeats_are_not() -> None:
    door = rig()
    assert door.door.set_lockdown(False, "admin") is False
    door.door.set_lockdown(True, "admin")
    assert door.door.set_lockdown(True, "other") is False
    assert door.door.set_lockdown(False, "other") is True
    assert door.door.grant("1001") is True
    assert door.reasons() == ["lockdown_on", "lockdown_off", "unlocked"]
    assert door.event("lockdown_off").user_id == "other"


def test_remote_pulse_is_refused_in_lockdown_unless_overridden() -> None:
    door = rig()
    assert door.door.pulse("tech") is True
    assert door.traced()[-1] == ("unlocked", "remote")
    door.door.set_lockdown(True, "admin")
    assert door.door.pulse("tech") is False
    assert door.door.pulse("tech", override_lockdown=True) is True
    assert door.door.unlocked
