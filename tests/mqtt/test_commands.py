"""Commands from the broker: off unless enabled one by one, never from a retained message,
and every one of them, carried out or refused, in the journal."""

from __future__ import annotations

import pytest

from gateway.doors.errors import UnknownDoor
from gateway.mqtt.commands import ACCEPTED_REASON, REFUSED_REASON, CommandHandler


class Doors:
    """Two doors that remember what was done to them."""

    def __init__(self) -> None:
        self.pulsed: list[str] = []
        self.lockdown: dict[str, bool] = {"front": False, "back": False}
        self.acknowledged: list[str] = []

    def _known(self, door: str) -> None:
        if door not in self.lockdown:
            raise UnknownDoor(door)

    def pulse_door(self, door: str, by: str) -> bool:
        self._known(door)
        if self.lockdown[door]:
            return False
        self.pulsed.append(door)
        return True

    def set_lockdown(self, door: str | None, on: bool, by: str) -> None:
        assert door is not None
        self._known(door)
        self.lockdown[door] = on

    def acknowledge_alarms(self, door: str, by: str) -> None:
        self._known(door)
        self.acknowledged.append(door)


class Journal:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, str]] = []

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        self.records.append((reason, username, detail))

    def reasons(self) -> list[str]:
        return [reason for reason, _, _ in self.records]


def handler(*enabled: str) -> tuple[CommandHandler, Doors, Journal]:
    doors, journal = Doors(), Journal()
    return CommandHandler(enabled, doors, journal), doors, journal


def test_no_command_is_carried_out_by_default_and_each_refusal_is_journaled() -> None:
    commands, doors, journal = handler()
    commands.handle("front", "pulse", b"UNLOCK", retained=False)
    commands.handle("front", "lockdown", b"ON", retained=False)
    commands.handle("front", "acknowledge", b"", retained=False)
    assert doors.pulsed == [] and not doors.lockdown["front"] and doors.acknowledged == []
    assert journal.reasons() == [REFUSED_REASON] * 3
    assert all("not enabled" in detail for _, _, detail in journal.records)
    assert commands.status() == {"enabled": [], "accepted": 0, "refused": 3}


def test_an_enabled_pulse_opens_the_door_and_is_journaled_as_mqtt() -> None:
    commands, doors, journal = handler("pulse")
    outcome = commands.handle("front", "pulse", b"UNLOCK", retained=False)
    assert outcome.accepted and doors.pulsed == ["front"]
    detail = "pulse door=front payload='UNLOCK': pulsed"
    assert journal.records == [(ACCEPTED_REASON, "mqtt", detail)]
    # Only what is enabled: lockdown stays refused.
    commands.handle("front", "lockdown", b"ON", retained=False)
    assert not doors.lockdown["front"] and journal.reasons()[-1] == REFUSED_REASON


def test_a_retained_command_is_never_carried_out() -> None:
    commands, doors, journal = handler("pulse")
    outcome = commands.handle("front", "pulse", b"UNLOCK", retained=True)
    assert not outcome.accepted and doors.pulsed == []
    assert "retained" in journal.records[0][2]


@pytest.mark.parametrize(
    ("payload", "why"),
    [(b"LOCK", "locks by itself"), (b"\xff garbage", "payload is not")],
)
def test_a_pulse_with_another_payload_is_refused(payload: bytes, why: str) -> None:
    commands, doors, journal = handler("pulse")
    assert not commands.handle("front", "pulse", payload, retained=False).accepted
    assert doors.pulsed == [] and why in journal.records[0][2]


def test_lockdown_on_and_off_and_a_pulse_refused_in_lockdown() -> None:
    commands, doors, journal = handler("pulse", "lockdown")
    commands.handle("back", "lockdown", b"ON", retained=False)
    assert doors.lockdown["back"]
    refused = commands.handle("back", "pulse", b"OPEN", retained=False)
    assert not refused.accepted and "lockdown" in refused.detail
    commands.handle("back", "lockdown", b"OFF", retained=False)
    assert not doors.lockdown["back"]
    assert journal.reasons() == [ACCEPTED_REASON, REFUSED_REASON, ACCEPTED_REASON]


def test_unknown_doors_commands_and_long_payloads_are_refused_and_shown_cut_short() -> None:
    commands, doors, journal = handler("pulse", "lockdown", "acknowledge")
    assert not commands.handle("garage", "acknowledge", b"", retained=False).accepted
    assert not commands.handle("front", "explode", b"", retained=False).accepted
    assert not commands.handle("front", "lockdown", b"X" * 1000, retained=False).accepted
    assert journal.reasons() == [REFUSED_REASON] * 3
    assert "unknown door" in journal.records[0][2]
    assert "unknown command" in journal.records[1][2]
    assert len(journal.records[2][2]) < 120  # the payload is cut to 32 characters
    assert commands.handle("front", "acknowledge", b"", retained=False).accepted
    assert doors.acknowledged == ["front"]
