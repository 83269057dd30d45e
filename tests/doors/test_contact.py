"""The door contact: debounce, forced open, held open with pre-alarm, restart while open."""

from __future__ import annotations

from tests.doors.harness import BUTTON, CONTACT, DEBOUNCE, REX, rig


def test_chatter_of_ten_bounces_in_50_ms_is_one_open_and_one_close() -> None:
    door = rig()
    door.door.grant("1001")
    for bounce in range(10):  # 5 ms apart, ending open
        door.edge(CONTACT, bounce % 2 == 0 or bounce == 9)
        door.advance(0.005)
    door.advance(DEBOUNCE)
    for bounce in range(10):  # and the same on closing, ending closed
        door.edge(CONTACT, bounce % 2 == 1 and bounce != 9)
        door.advance(0.005)
    door.advance(DEBOUNCE)
    assert door.reasons() == ["unlocked", "door_opened", "door_closed", "locked"]


def test_a_spike_shorter_than_the_debounce_is_no_event() -> None:
    door = rig()
    door.edge(CONTACT, True)
    door.advance(0.01)
    door.edge(CONTACT, False)
    door.advance(1)
    assert door.events == []
    assert not door.door.alarm_output


def test_edges_arriving_out_of_order_are_dropped() -> None:
    door = rig()
    door.door.input_edge("contact", door.timers.now(), True)
    door.door.input_edge("contact", door.timers.now() - 1, False)  # stale: ignored
    door.advance(DEBOUNCE)
    assert door.door.is_open is True


def test_forced_open_alarms_at_once_and_latches_until_acknowledged() -> None:
    door = rig()
    started = door.clock.time()
    door.open_door()
    forced = door.event("forced_open")
    assert forced.type == "alarm" and forced.time - started < 1.0
    assert door.door.alarm_output and door.pin(24)
    door.close_door()
    assert door.door.alarm_output  # latched: closing the door does not clear it
    assert door.door.acknowledge("guard") is True
    assert not door.door.alarm_output and not door.pin(24)
    assert door.traced() == [
        ("door_opened", "forced"),
        ("forced_open", "opened without a grant, exit button or schedule"),
        ("door_closed", ""),
        ("alarm_acknowledged", "forced_open"),
    ]
    assert door.event("alarm_acknowledged").user_id == "guard"


def test_rex_during_the_forced_open_check_authorises_the_opening() -> None:
    door = rig()
    door.edge(CONTACT, True)  # the door starts to open ...
    door.advance(0.01)
    door.press_rex(settle=False)  # ... and the exit button is pressed 10 ms later
    door.advance(BUTTON)
    assert "forced_open" not in door.reasons()
    assert door.traced() == [  # the opening waited for the button to settle
        ("door_opened", "exit_button"),
        ("exit_button", "unlock"),
        ("unlocked", "exit_button"),
    ]


def test_without_contact_debounce_a_rex_still_settling_gets_to_answer() -> None:
    door = rig(contact_debounce_s=0)
    door.press_rex(settle=False)
    door.advance(0.005)
    door.edge(CONTACT, True)  # settles at once, while the REX is still settling
    assert door.events == []
    door.advance(BUTTON)
    assert door.door.alarms == frozenset()
    assert door.reasons() == ["door_opened", "exit_button", "unlocked"]


def test_a_rex_glitch_does_not_excuse_a_forced_opening() -> None:
    door = rig(contact_debounce_s=0)
    door.edge(REX, False)
    door.advance(0.005)
    door.edge(CONTACT, True)
    door.advance(0.005)
    door.edge(REX, True)  # the "press" bounced back: never settles pressed
    door.advance(1)
    assert door.reasons() == ["door_opened", "forced_open"]


def test_held_open_with_pre_alarm_then_cleared_on_close() -> None:
    door = rig()
    door.door.grant("1001")
    door.open_door()
    door.advance(20 - DEBOUNCE - 0.01)
    assert door.feedback.calls == []
    door.advance(0.02)  # 20 s after opening: 10 s before the alarm
    assert door.feedback.calls == [True]
    assert door.door.status()["prealarm"] is True
    door.advance(10)
    assert door.door.alarm_output and door.door.alarms == {"held_open"}
    door.close_door()
    assert not door.door.alarm_output and door.door.alarms == frozenset()
    assert door.feedback.calls == [True, False]
    assert door.traced() == [
        ("unlocked", "granted"),
        ("door_opened", "granted"),
        ("locked", "pulse_ended"),
        ("held_open_prealarm", "10s left"),
        ("held_open", "open longer than 30s"),
        ("door_closed", ""),
        ("held_open_cleared", "door_closed"),
    ]
    assert door.event("held_open").type == "alarm"
    assert door.event("held_open_cleared").type == "alarm"


def test_held_open_without_pre_alarm() -> None:
    door = rig(held_open_prealarm_s=0)
    door.door.grant("1001")
    door.open_door()
    door.advance(30)
    assert door.reasons() == ["unlocked", "door_opened", "locked", "held_open"]
    assert door.feedback.calls == []


def test_closing_before_the_timeout_is_no_alarm() -> None:
    door = rig()
    door.door.grant("1001")
    door.open_door()
    door.advance(25)  # past the pre-alarm, before the alarm
    door.close_door()
    door.advance(60)
    assert door.reasons() == [
        "unlocked",
        "door_opened",
        "locked",
        "held_open_prealarm",
        "door_closed",
    ]
    assert door.feedback.calls == [True, False]


def test_held_open_clearing_keeps_the_output_on_for_a_latched_alarm() -> None:
    door = rig()
    door.trip_tamper()
    door.door.grant("1001")
    door.open_door()
    door.advance(30)
    door.close_door()
    assert door.door.alarms == {"tamper"}
    assert door.door.alarm_output


def test_restart_with_a_held_open_door() -> None:
    door = rig(contact_open=True)
    assert not door.door.unlocked
    assert door.door.status()["contact"] == "open"
    door.advance(30)
    assert not door.door.unlocked
    assert door.reasons() == ["door_open_at_startup", "held_open_prealarm", "held_open"]
    door.close_door()
    assert door.reasons()[-2:] == ["door_closed", "held_open_cleared"]
    assert not door.door.alarm_output


def test_contact_not_wired() -> None:
    door = rig()
    assert door.door.status()["contact"] == "closed"
    from gateway.doors.controller import DoorController
    from gateway.hw.lines import MemoryOutput
    from gateway.settings import DoorSettings

    bare = DoorController(DoorSettings(name="x"), door.timers, door.clock, print, MemoryOutput())
    assert bare.status()["contact"] == "not_wired"
    assert bare.status()["rex"] == "not_wired"
    assert bare.is_open is None
