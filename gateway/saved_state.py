"""What must survive a restart, in one row of the store: the engine's lockouts and
anti-passback state, each door's lockdown and latched alarms, and the in/out state of
HTTP unlocks (Akuvox OpenDoor).

Saved whenever one of them changes (the engine's after each decision that moved it, once
the door has moved), restored at start-up before any door starts. A damaged saved part is
logged, journaled as `state_discarded` and ignored: it must never keep a door shut or stop
the daemon. A save that fails (a full disk) is logged and tried again at the next change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.clock import Clock, Stamp
from gateway.doors.state import DoorState
from gateway.model import Event

log = logging.getLogger(__name__)


class StateRow(Protocol):
    """Where the state is kept (the store's engine_state table)."""

    def load_engine_state(self) -> dict[str, object]: ...

    def save_engine_state(self, state: Mapping[str, object]) -> None: ...


class Persistent(Protocol):
    """A part that exports its state as JSON values and imports it back after a restart;
    durations are carried relative to a `Stamp`, so a wall clock step cannot stretch them."""

    def export_state(self, now: Stamp) -> dict[str, Any]: ...

    def import_state(self, state: dict[str, Any], now: Stamp) -> None: ...


class RestorableDoor(Protocol):
    """A door that takes its saved lockdown and latched alarms back."""

    def restore(self, state: DoorState) -> None: ...


class VersionedState(Persistent, Protocol):
    """A part whose `state_version` moves when its state changes (the engine)."""

    @property
    def state_version(self) -> int: ...


@dataclass(frozen=True)
class _Parts:
    row: StateRow
    engine: VersionedState
    http_unlock: Persistent


class SavedState:
    """Loads, restores and saves the state of the engine, the doors and HTTP unlocks."""

    def __init__(self, clock: Clock, boot_id: str, emit: Callable[[Event], None]) -> None:
        self._clock, self._boot_id, self._emit = clock, boot_id, emit
        self._parts: _Parts | None = None  # None until the saved state is restored
        self._doors: dict[str, Any] = {}
        self._saved_version = -1

    def stamp(self) -> Stamp:
        """Now, with the kernel boot it was read in."""
        return Stamp.read(self._clock, self._boot_id)

    def restore(self, row: StateRow, engine: VersionedState, http_unlock: Persistent) -> None:
        """Read the saved row and give the engine and HTTP unlocks their state back; the
        doors get theirs with `restore_doors`. From here on, changes are saved to `row`."""
        saved = row.load_engine_state()
        doors = saved.get("doors")
        self._doors = dict(doors) if isinstance(doors, dict) else {}
        self._import(engine, saved.get("engine"), "lockout/anti-passback")
        self._import(http_unlock, saved.get("http_unlock"), "HTTP unlock in/out")
        self._parts = _Parts(row, engine, http_unlock)
        self._saved_version = engine.state_version

    def _import(self, part: Persistent, state: object, what: str) -> None:
        if not isinstance(state, dict):
            return
        try:
            part.import_state(state, self.stamp())
        except ValueError as exc:  # a damaged row must not keep the doors shut
            log.error("saved %s state ignored: %s", what, exc)
            self._emit(Event("system", self._clock.time(), reason="state_discarded"))

    def restore_doors(self, doors: Mapping[str, RestorableDoor]) -> None:
        """Give each door its saved lockdown and latched alarms back."""
        for name, door in doors.items():
            saved = self._doors.get(name)
            if not saved:
                continue
            try:
                door.restore(DoorState.from_dict(saved))
            except ValueError as exc:
                log.error("saved state of door %s ignored: %s", name, exc)

    def door_saver(self, name: str) -> Callable[[DoorState], None]:
        """The `state_changed` callback of door `name`."""

        def save(state: DoorState) -> None:
            self._doors[name] = state.as_dict()
            self.save()

        return save

    def engine_changed(self) -> None:
        """After a decision: save if the engine's state moved since the last save."""
        if self._parts is not None and self._parts.engine.state_version != self._saved_version:
            self.save()

    def save(self) -> None:
        """Write the whole state now (a failure is logged; the next change tries again)."""
        parts = self._parts
        if parts is None:
            return  # restoring at start-up: the state being restored is already saved
        try:
            now = self.stamp()
            version = parts.engine.state_version
            state = {
                "engine": parts.engine.export_state(now),
                "doors": self._doors,
                "http_unlock": parts.http_unlock.export_state(now),
            }
            parts.row.save_engine_state(state)
        except Exception as exc:
            log.error("could not save engine and door state: %s", exc)
            return
        self._saved_version = version
