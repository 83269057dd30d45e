"""Tamper and acknowledge; the state that survives a restart."""

from __future__ import annotations

import pytest

from gateway.doors.controller import DoorLinks
from gateway.doors.state import DoorState
from tests.doors.harness import rig


def test_tamper_latches_until_acknowledged() -> None:
    door = rig()
    door.trip_tamper()
    assert door.door.alarm_output and door.door.status()["tamper"] == "tripped"
    door.restore_tamper()
    assert door.door.alarms == {"tamper"}  # the input is back, the alarm is latched
    assert door.door.acknowledge("guard") is True
    assert not door.door.alarm_output
    assert door.traced() == [
        ("tamper", ""),
        ("tamper_cleared", ""),
        ("alarm_acknowledged", "tamper"),
    ]
    assert [e.type for e in door.events] == ["alarm", "alarm", "alarm"]


def test_a_tamper_still_tripped_cannot_be_acknowledged() -> None:
    door = rig()
    door.trip_tamper()
    assert door.door.acknowledge("guard") is False
    assert door.door.alarms == {"tamper"}
    assert door.reasons() == ["tamper"]


def test_acknowledge_with_nothing_latched_is_no_event() -> None:
    door = rig()
    assert door.door.acknowledge() is False
    assert door.events == []


def test_acknowledge_does_not_clear_held_open() -> None:
    door = rig()
    door.door.grant("1001")
    door.open_door()
    door.advance(30)
    assert door.door.acknowledge("guard") is False
    assert door.door.alarms == {"held_open"}


def test_tamper_tripped_at_start_up_alarms_at_once() -> None:
    door = rig(tamper_tripped=True)
    assert door.traced() == [("tamper", "at_startup")]
    assert door.door.alarm_output


def test_lockdown_and_latched_alarms_are_saved_and_restored() -> None:
    saved: list[DoorState] = []
    first = rig(DoorLinks(state_changed=saved.append))
    first.door.set_lockdown(True, "admin")
    first.open_door()
    first.door.stop()
    state = DoorState.from_dict(saved[-1].as_dict())
    assert state == DoorState(lockdown=True, lockdown_by="admin", alarms=("forced_open",))

    second = rig()
    second.door.restore(state)
    assert second.door.lockdown and second.door.alarm_output
    assert second.traced() == [
        ("lockdown_on", "restored"),
        ("forced_open", "restored"),
    ]
    assert second.door.grant("1001") is False


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"lockdown": "yes", "lockdown_by": None, "alarms": []},
        {"lockdown": False, "lockdown_by": 3, "alarms": []},
        {"lockdown": False, "lockdown_by": None, "alarms": ["held_open"]},
    ],
)
def test_damaged_saved_state_is_rejected(data: object) -> None:
    with pytest.raises(ValueError):
        DoorState.from_dict(data)


def test_a_failing_event_sink_or_state_saver_does_not_stop_the_door() -> None:
    def broken(_: object) -> None:
        raise RuntimeError("disk full")

    door = rig(DoorLinks(state_changed=broken))
    door.door._sink = broken
    door.open_door()
    assert door.door.alarm_output  # the alarm still sounds
    door.door.grant("1001")
    assert door.door.unlocked


def test_a_door_rattling_while_forced_open_is_one_alarm_per_latch() -> None:
    door = rig()
    for _ in range(19):  # a forced door rattling: each bounce is long enough to settle
        door.open_door()
        door.close_door()
    assert door.reasons().count("door_opened") == 19
    assert door.reasons().count("forced_open") == 1
    assert door.door.acknowledge("guard") is True
    door.open_door()  # a new latch is journaled again
    assert door.reasons().count("forced_open") == 2


def test_a_tamper_switch_bouncing_while_latched_is_one_alarm_per_latch() -> None:
    door = rig()
    for _ in range(5):
        door.trip_tamper()
        door.restore_tamper()
    assert door.reasons() == ["tamper", "tamper_cleared"]
    assert door.door.acknowledge("guard") is True
    door.trip_tamper()
    assert door.reasons() == ["tamper", "tamper_cleared", "alarm_acknowledged", "tamper"]
