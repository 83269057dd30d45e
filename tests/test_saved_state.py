"""What survives a restart: a damaged saved part is journaled and ignored (it never keeps
a door shut), and a save the disk refused is made again at the next change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.clock import Stamp
from gateway.doors.state import DoorState
from gateway.model import Event
from gateway.saved_state import SavedState
from tests.fakes import ManualClock


class Row:
    """The store's engine_state row, with a disk that can be full."""

    def __init__(self, saved: dict[str, object]) -> None:
        self.saved = saved
        self.full = False

    def load_engine_state(self) -> dict[str, object]:
        return dict(self.saved)

    def save_engine_state(self, state: Mapping[str, object]) -> None:
        if self.full:
            raise OSError("No space left on device")
        self.saved = dict(state)


class Part:
    """An engine-like part: a lockout count; `import_state` refuses what it cannot read."""

    def __init__(self) -> None:
        self.locked_out = 0
        self.state_version = 0

    def lock_out(self) -> None:
        self.locked_out += 1
        self.state_version += 1

    def export_state(self, now: Stamp) -> dict[str, Any]:
        return {"locked_out": self.locked_out}

    def import_state(self, state: dict[str, Any], now: Stamp) -> None:
        if not isinstance(state.get("locked_out"), int):
            raise ValueError("locked_out is not a number")
        self.locked_out = state["locked_out"]


def saved_state(journal: list[Event]) -> SavedState:
    return SavedState(ManualClock(), "boot-1", journal.append)


def test_a_damaged_part_is_journaled_ignored_and_saved_afresh_at_the_next_change() -> None:
    journal: list[Event] = []
    state = saved_state(journal)
    row = Row({"engine": {"locked_out": "garbage"}, "http_unlock": {"locked_out": 2}})
    engine, http_unlock = Part(), Part()
    state.restore(row, engine, http_unlock)
    assert (engine.locked_out, http_unlock.locked_out) == (0, 2)
    assert [e.reason for e in journal] == ["state_discarded"]
    engine.lock_out()
    state.engine_changed()
    assert row.saved["engine"] == {"locked_out": 1}


def test_a_save_the_disk_refused_is_made_at_the_next_decision() -> None:
    state = saved_state([])
    row, engine = Row({}), Part()
    state.restore(row, engine, Part())
    row.full = True
    engine.lock_out()
    state.engine_changed()  # logged, not raised: the door keeps deciding
    row.full = False
    state.engine_changed()  # nothing new happened, but the last change is not saved yet
    assert row.saved["engine"] == {"locked_out": 1}


def test_a_door_gets_its_saved_lockdown_back_and_its_changes_are_saved() -> None:
    state = saved_state([])
    row = Row({"doors": {"front": DoorState(True, "admin").as_dict()}})
    saver = state.door_saver("front")
    saver(DoorState())  # a change before the saved state is read must not overwrite it
    assert row.saved["doors"] == {"front": DoorState(True, "admin").as_dict()}
    state.restore(row, Part(), Part())
    restored: list[DoorState] = []

    class Door:
        def restore(self, saved: DoorState) -> None:
            restored.append(saved)

    state.restore_doors({"front": Door()})
    assert restored == [DoorState(True, "admin")]
    saver(DoorState(False))
    assert row.saved["doors"] == {"front": DoorState(False).as_dict()}
