"""What a technician or a management client may do to the doors from outside: a remote
unlock pulse, lockdown of one door or of all, acknowledging latched alarms.

The native door endpoints and the ACTAtek relay/opendoor endpoints call these same
functions, so a door moves the same way whichever API asked. A remote pulse is journaled
as an `api` event naming who asked; lockdown and acknowledgement are journaled by the door
itself, with the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.doors.controller import DoorController
from gateway.doors.errors import UnknownDoor


class ApiRecord(Protocol):
    """Where a command that the door itself does not journal is recorded."""

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...


class DoorCommands:
    """The remote door commands over the running doors; `by` names who asked."""

    def __init__(self, doors: Mapping[str, DoorController], record: ApiRecord) -> None:
        self.doors = doors
        self._record = record

    def door(self, name: str) -> DoorController:
        """The door called `name`; `UnknownDoor` if there is none."""
        door = self.doors.get(name)
        if door is None:
            raise UnknownDoor(f"no door named {name!r}")
        return door

    def pulse_door(self, door: str, by: str) -> bool:
        """A remote unlock pulse; False (the door stays locked) in lockdown."""
        target = self.door(door)
        self._record.record_api("remote_pulse", by, f"door={door}")
        return target.pulse(by)

    def set_lockdown(self, door: str | None, on: bool, by: str) -> None:
        """Lockdown of one door, or of every door when `door` is None (each door saves
        its state as it changes)."""
        targets = [self.door(door)] if door is not None else list(self.doors.values())
        for target in targets:
            target.set_lockdown(on, by)

    def acknowledge_alarms(self, door: str, by: str) -> None:
        """Acknowledge the door's latched alarms (cleared if their cause has gone)."""
        self.door(door).acknowledge(by)
