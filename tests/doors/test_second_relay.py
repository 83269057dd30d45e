"""The second relay in each ACTAtek mode: access_granted, access_denied, doorbell,
bell_schedule and disable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.doors.controller import DoorLinks
from tests.doors.harness import DOORBELL, SECOND, Rig, rig


def second(mode: str, **extra: object) -> Rig:
    return rig(second_relay_pin=SECOND, second_relay_mode=mode, second_relay_pulse_s=2, **extra)


def pulse_seen(door: Rig, action: str) -> tuple[bool, bool]:
    """(on right after `action`, on 2 s later)."""
    {
        "grant": lambda: door.door.grant("1001"),
        "deny": door.door.denied,
        "bell": door.door.doorbell,
    }[action]()
    on = door.pin(SECOND)
    door.advance(2)
    return on, door.pin(SECOND)


@pytest.mark.parametrize(
    ("mode", "fires_on"),
    [
        ("access_granted", "grant"),
        ("access_denied", "deny"),
        ("doorbell", "bell"),
        ("disable", None),
    ],
)
def test_pulse_modes_fire_on_their_own_trigger_only(mode: str, fires_on: str | None) -> None:
    for action in ("grant", "deny", "bell"):
        door = second(mode)
        assert pulse_seen(door, action) == ((True, False) if action == fires_on else (False, False))


def test_doorbell_is_an_event_whatever_the_mode() -> None:
    door = second("doorbell")
    door.door.doorbell("visitor-panel")
    assert door.traced() == [("doorbell", "")]
    assert door.event("doorbell").user_id == "visitor-panel"
    assert door.door.status()["second_relay"] == {"mode": "doorbell", "state": "on"}


def test_a_refused_grant_in_lockdown_does_not_pulse_access_granted() -> None:
    door = second("access_granted")
    door.door.set_lockdown(True, "admin")
    door.door.grant("1001")
    assert not door.pin(SECOND)


def test_bell_schedule_holds_the_relay_during_the_schedule() -> None:
    def breaks(now: float) -> bool:  # a school bell: 10:00-10:30
        when = datetime.fromtimestamp(now, UTC)
        return (when.hour, when.minute // 30) == (10, 0)

    door = rig(
        DoorLinks(bell_active=breaks),
        second_relay_pin=SECOND,
        second_relay_mode="bell_schedule",
        second_relay_schedule=3,
    )
    door.timers.advance_to(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert door.pin(SECOND) and not door.door.unlocked
    door.door.grant("1001")  # other triggers do not pulse a bell relay
    door.timers.advance_to(datetime(2026, 3, 2, 10, 30, tzinfo=UTC))
    assert not door.pin(SECOND)
    assert door.reasons() == ["bell_on", "unlocked", "granted_not_opened", "locked", "bell_off"]


def test_second_relay_is_off_at_start_and_after_stop() -> None:
    door = second("access_granted")
    assert not door.pin(SECOND)
    door.door.grant("1001")
    door.door.stop()
    assert not door.pin(SECOND)


def test_unwired_second_relay_keeps_its_logical_state() -> None:
    door = rig(second_relay_mode="doorbell")
    door.door.doorbell()
    assert door.door.status()["second_relay"] == {"mode": "doorbell", "state": "on"}
    assert rig().door.status()["second_relay"] == {"mode": "disable", "state": "not_wired"}


def test_the_doorbell_button_pulses_a_doorbell_relay_and_is_journaled() -> None:
    door = second("doorbell")
    door.press_doorbell()
    assert door.pin(SECOND) and not door.door.unlocked
    door.release_doorbell()
    door.advance(2)
    assert not door.pin(SECOND)
    assert door.traced() == [("doorbell", "button")]
    assert door.event("doorbell").user_id is None
    assert door.door.status()["doorbell"] == "released"


def test_the_doorbell_button_is_journaled_in_any_mode_and_pulses_only_its_own() -> None:
    door = second("access_granted")
    door.press_doorbell()
    assert not door.pin(SECOND)
    assert door.reasons() == ["doorbell"]


def test_a_held_or_chattering_doorbell_rings_once() -> None:
    door = second("doorbell")
    door.press_doorbell()
    door.advance(40)  # held: stuck after 30 s
    door.chatter(DOORBELL, 10)
    door.release_doorbell()
    door.advance(5)
    assert door.reasons().count("doorbell") == 1
    assert [e.trace for e in door.events if e.reason.startswith("input_")] == [
        "doorbell stuck: active for 30 s",
        "doorbell chattering: 20 changes in 5 s",
        "doorbell chattering ended: stable for 5 s",
    ]
    door.press_doorbell()  # recovered: it rings again
    assert door.reasons().count("doorbell") == 2
