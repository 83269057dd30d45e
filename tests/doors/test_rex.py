"""The exit button: unlock pulse, alarm shunt, action delay, "only if still pressed"."""

from __future__ import annotations

from tests.doors.harness import rig


def test_exit_button_unlocks_for_the_pulse_and_shunts_the_opening() -> None:
    door = rig()
    door.press_rex()
    door.release_rex()
    assert door.door.unlocked
    door.open_door()
    door.close_door()
    assert door.door.alarms == frozenset()
    assert door.traced() == [
        ("exit_button", "unlock"),
        ("unlocked", "exit_button"),
        ("door_opened", "exit_button"),
        ("door_closed", ""),
        ("locked", "relock_on_close"),
    ]


def test_an_exit_without_opening_is_not_granted_not_opened() -> None:
    door = rig()
    door.press_rex()
    door.advance(5)
    assert door.reasons() == ["exit_button", "unlocked", "locked"]


def test_exit_button_that_does_not_unlock_only_shunts_the_alarm() -> None:
    door = rig(rex_unlocks=False)
    door.press_rex()
    assert not door.door.unlocked
    door.open_door()  # free egress through a mechanical handle
    door.close_door()
    door.advance(10)  # the shunt (one pulse time) is over
    door.open_door()
    assert door.traced() == [
        ("exit_button", "shunt_only"),
        ("door_opened", "exit_button"),
        ("door_closed", ""),
        ("door_opened", "forced"),
        ("forced_open", "opened without a grant, exit button or schedule"),
    ]


def test_action_delay_unlocks_later_and_the_shunt_covers_the_wait() -> None:
    door = rig(rex_action_delay_s=2)
    door.press_rex()
    door.release_rex()
    door.advance(1.9)
    assert not door.door.unlocked
    door.advance(0.1)
    assert door.door.unlocked
    assert door.traced() == [("exit_button", "delayed"), ("unlocked", "exit_button")]
    door.advance(5)
    door.open_door()  # the shunt (delay + pulse, 7 s from the press) is over
    assert door.reasons()[-3:] == ["locked", "door_opened", "forced_open"]


def test_only_if_still_pressed_cancels_when_released_early() -> None:
    door = rig(rex_action_delay_s=2, rex_only_if_still_pressed=True)
    door.press_rex()
    door.advance(1)
    door.release_rex()
    door.advance(5)
    assert not door.door.unlocked
    assert door.reasons() == ["exit_button", "exit_button_cancelled"]


def test_only_if_still_pressed_unlocks_when_held() -> None:
    door = rig(rex_action_delay_s=2, rex_only_if_still_pressed=True)
    door.press_rex()
    door.advance(2)
    assert door.door.unlocked
    assert door.reasons() == ["exit_button", "unlocked"]


def test_a_button_held_at_start_up_does_not_unlock() -> None:
    door = rig(rex_pressed=True)
    door.advance(10)
    assert not door.door.unlocked
    assert door.door.status()["rex"] == "pressed"
    door.release_rex()
    door.press_rex()  # a real press after release works
    assert door.door.unlocked
