"""A door's state that must survive a restart: lockdown and latched alarms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.doors.events import LATCHED_ALARMS


@dataclass(frozen=True)
class DoorState:
    """Saved by the app when it changes (`state_changed`), given back with `restore()`."""

    lockdown: bool = False
    lockdown_by: str | None = None
    alarms: tuple[str, ...] = ()  # latched alarms not yet acknowledged

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "lockdown": self.lockdown,
            "lockdown_by": self.lockdown_by,
            "alarms": list(self.alarms),
        }

    @classmethod
    def from_dict(cls, data: object) -> DoorState:
        """Parse `as_dict()` output; anything malformed raises ValueError (the caller
        decides, e.g. logs it and keeps the doors locked in their default state)."""
        if not isinstance(data, dict):
            raise ValueError("door state is not an object")
        lockdown, by, alarms = data.get("lockdown"), data.get("lockdown_by"), data.get("alarms")
        if not isinstance(lockdown, bool):
            raise ValueError("door state: lockdown is not true/false")
        if by is not None and not isinstance(by, str):
            raise ValueError("door state: lockdown_by is not a string")
        if not isinstance(alarms, list) or not all(a in LATCHED_ALARMS for a in alarms):
            raise ValueError("door state: alarms is not a list of latched alarm names")
        return cls(lockdown, by, tuple(alarms))
