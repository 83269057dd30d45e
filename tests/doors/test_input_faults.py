"""Inputs that chatter or stick: debounced, never holding a door unlocked, journaled once
as a fault and once when they recover."""

from __future__ import annotations

from gateway.model import Event
from tests.doors.harness import CONTACT, REX, TAMPER, Rig, rig


def faults(door: Rig) -> list[tuple[str, str]]:
    """(reason, trace) of the input fault events so far."""
    return [(e.reason, e.trace) for e in door.events if e.reason in ("input_fault", "input_ok")]


def unlocked_at(events: list[Event]) -> int:
    return sum(1 for e in events if e.reason == "unlocked")


def test_a_press_on_a_chattering_exit_button_unlocks_once() -> None:
    door = rig()
    door.press_rex()  # a real press ...
    door.chatter(REX, 10)  # ... on a worn button that chatters for 10 s (15-45 ms)
    assert not door.door.unlocked and not door.relay_energised  # relocked after 5 s
    assert door.reasons().count("exit_button") == 1
    assert unlocked_at(door.events) == 1
    assert door.door.status()["input_faults"] == {"rex": "chattering"}
    assert faults(door) == [("input_fault", "rex chattering: 20 changes in 5 s")]
    door.release_rex()
    door.advance(5)  # stable for the chatter window: recovered
    assert faults(door)[1:] == [("input_ok", "rex chattering ended: stable for 5 s")]
    assert door.door.status()["input_faults"] == {}
    door.press_rex()  # a press on the recovered button works again
    assert door.door.unlocked


def test_an_exit_button_chattering_from_its_first_edge_never_unlocks() -> None:
    door = rig()
    door.chatter(REX, 10)
    door.release_rex()
    door.advance(10)
    assert unlocked_at(door.events) == 0 and "exit_button" not in door.reasons()
    assert [reason for reason, _ in faults(door)] == ["input_fault", "input_ok"]


def test_slow_chatter_that_settles_each_time_stops_unlocking_once_it_is_a_fault() -> None:
    door = rig()
    door.chatter(REX, 20, gaps=(0.06, 0.1))  # every bounce is long enough to settle
    assert not door.door.unlocked
    assert unlocked_at(door.events) == 1
    assert faults(door) == [("input_fault", "rex chattering: 20 changes in 5 s")]
    fault_at = door.event("input_fault").time
    locked = [e for e in door.events if e.reason == "locked"]
    assert len(locked) == 1 and locked[0].time - fault_at <= 5.0 + 0.1


def test_a_stuck_exit_button_unlocks_once_and_does_not_shunt_the_alarm() -> None:
    door = rig()
    door.press_rex()
    door.advance(29.9)
    assert faults(door) == []
    door.advance(0.2)
    assert faults(door) == [("input_fault", "rex stuck: active for 30 s")]
    assert door.door.status()["input_faults"] == {"rex": "stuck"}
    door.advance(60)
    assert not door.door.unlocked and unlocked_at(door.events) == 1
    door.open_door()  # the stuck button authorises nothing
    assert door.door.alarms == {"forced_open"}
    door.close_door()
    door.release_rex()
    assert faults(door)[1:] == [("input_ok", "rex stuck ended: released")]
    door.press_rex()
    assert door.door.unlocked


def test_a_button_held_at_start_up_becomes_stuck() -> None:
    door = rig(rex_pressed=True)
    door.advance(30)
    assert faults(door) == [("input_fault", "rex stuck: active for 30 s")]
    assert not door.door.unlocked


def test_the_stuck_time_is_a_setting() -> None:
    door = rig(button_stuck_s=120)
    door.press_rex()
    door.advance(100)
    assert faults(door) == []
    door.advance(20)
    assert faults(door) == [("input_fault", "rex stuck: active for 120 s")]


def test_a_chattering_tamper_switch_is_a_fault_and_a_tamper_alarm() -> None:
    door = rig()
    door.chatter(TAMPER, 10)  # never stable long enough to settle tripped
    assert door.door.alarms == {"tamper"} and door.door.alarm_output
    assert door.door.acknowledge("guard") is False  # not while it chatters
    door.restore_tamper()
    door.advance(5)
    assert door.door.acknowledge("guard") is True
    assert door.traced() == [
        ("input_fault", "tamper chattering: 20 changes in 5 s"),
        ("tamper", "chattering"),
        ("input_ok", "tamper chattering ended: stable for 5 s"),
        ("alarm_acknowledged", "tamper"),
    ]


def test_a_chattering_contact_still_raises_forced_open_and_is_a_fault() -> None:
    door = rig()
    door.chatter(CONTACT, 10, gaps=(0.06, 0.1))
    door.close_door()
    door.advance(5)
    assert door.reasons().count("forced_open") == 1
    assert [trace.split(":")[0] for _, trace in faults(door)] == [
        "contact chattering",
        "contact chattering ended",
    ]


def test_the_button_debounce_is_a_setting() -> None:
    door = rig(button_debounce_s=0.2)
    door.press_rex(settle=False)
    door.advance(0.15)
    assert not door.door.unlocked
    door.advance(0.05)
    assert door.door.unlocked
