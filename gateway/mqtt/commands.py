"""Door commands taken from the broker: pulse, lockdown, acknowledge.

Authorisation (docs/security.md, "MQTT commands"): the broker authenticates every client
and its topic ACL decides who may publish to `<prefix>command/#`; the gateway, which
cannot see who published a message, adds its own gate: every command is refused unless
`[mqtt] commands` lists it (none do by default). A retained message is refused too: a
retained pulse would open the door again at every reconnection. Every command, carried
out or refused, is a journal event (`mqtt_command`, `mqtt_command_refused`) naming the
command, the door and, when refused, why; the door journals what it then does as for any
API (`remote_pulse`, `lockdown`, `alarm_acknowledged`...).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from gateway.doors.errors import UnknownDoor

WHO = "mqtt"  # the `by` of a door command, the user of its journal event
ACCEPTED_REASON = "mqtt_command"
REFUSED_REASON = "mqtt_command_refused"
MAX_PAYLOAD_SHOWN = 32
PULSE_PAYLOADS = frozenset({"", "PULSE", "UNLOCK", "OPEN"})
LOCKDOWN_PAYLOADS = {"ON": True, "OFF": False, "true": True, "false": False}


class DoorControl(Protocol):
    """What the commands do to the doors (`gateway.doors.commands.DoorCommands`)."""

    def pulse_door(self, door: str, by: str) -> bool: ...

    def set_lockdown(self, door: str | None, on: bool, by: str) -> None: ...

    def acknowledge_alarms(self, door: str, by: str) -> None: ...


class CommandJournal(Protocol):
    """Where each command is journaled (`gateway.recorder.Recorder`)."""

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one command."""

    accepted: bool
    detail: str


class CommandHandler:
    """Carries out the enabled commands and journals every one."""

    def __init__(
        self, enabled: Collection[str], doors: DoorControl, journal: CommandJournal
    ) -> None:
        self._enabled = frozenset(enabled)
        self._doors = doors
        self._journal = journal
        self.accepted = 0
        self.refused = 0

    def handle(self, door: str, command: str, payload: bytes, retained: bool) -> Outcome:
        """One message on `command/<door>/<command>`."""
        text = _shown(payload)
        what = f"{command} door={door} payload={text!r}"
        outcome = self._decide(door, command, text, retained)
        if outcome.accepted:
            self.accepted += 1
            self._journal.record_api(ACCEPTED_REASON, WHO, f"{what}: {outcome.detail}")
        else:
            self.refused += 1
            self._journal.record_api(REFUSED_REASON, WHO, f"{what}: {outcome.detail}")
        return outcome

    def _decide(self, door: str, command: str, text: str, retained: bool) -> Outcome:
        if command not in ("pulse", "lockdown", "acknowledge"):
            return Outcome(False, "unknown command")
        if command not in self._enabled:
            return Outcome(False, "command not enabled ([mqtt] commands)")
        if retained:
            return Outcome(False, "retained message (a command is never replayed)")
        try:
            return self._carry_out(door, command, text)
        except UnknownDoor:
            return Outcome(False, "unknown door")

    def _carry_out(self, door: str, command: str, text: str) -> Outcome:
        if command == "pulse":
            if text == "LOCK":
                return Outcome(False, "the door locks by itself after a pulse")
            if text not in PULSE_PAYLOADS:
                return Outcome(False, "payload is not UNLOCK, OPEN or PULSE")
            if not self._doors.pulse_door(door, WHO):
                return Outcome(False, "the door is in lockdown")
            return Outcome(True, "pulsed")
        if command == "lockdown":
            on = LOCKDOWN_PAYLOADS.get(text)
            if on is None:
                return Outcome(False, "payload is not ON or OFF")
            self._doors.set_lockdown(door, on, WHO)
            return Outcome(True, "lockdown on" if on else "lockdown off")
        self._doors.acknowledge_alarms(door, WHO)
        return Outcome(True, "alarms acknowledged")

    def status(self) -> dict[str, object]:
        """Which commands are enabled and how many were carried out or refused."""
        return {
            "enabled": sorted(self._enabled),
            "accepted": self.accepted,
            "refused": self.refused,
        }


def _shown(payload: bytes) -> str:
    """The payload as text fit for the journal: decoded, stripped, cut short."""
    text = payload.decode("utf-8", errors="replace").strip()
    return text[:MAX_PAYLOAD_SHOWN]
