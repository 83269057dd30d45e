"""OpenDoor requests carried out like a card at a reader: the decision is journaled, then
the door moves; a door that is stopping or in lockdown says so."""

from __future__ import annotations

from gateway.access.http_unlock import HttpUnlockState
from gateway.model import Event, UnlockClaim
from gateway.opendoor import OpenDoorService
from gateway.settings import DeviceSettings, HardwareSettings, HttpUnlockSettings, Settings
from tests.access.rules import UTC, engine
from tests.doors.harness import FRONT, Rig, rig

CARD = UnlockClaim(direction="in", unlock_type="RF Card", code="CAFE01")


def service_for(door: Rig) -> tuple[OpenDoorService, HttpUnlockState, list[Event]]:
    """A service whose journal is the same list as the door's events."""
    unlock = HttpUnlockSettings(enabled=True, antipassback="hard")
    passages = HttpUnlockState(unlock, UTC, on_change=lambda: None)

    def record_api(reason: str, username: str, detail: str) -> None:
        door.events.append(Event("api", door.clock.time(), reason=reason, user_id=username))

    settings = Settings(
        "gateway.toml", DeviceSettings(), HardwareSettings(), (FRONT,), http_unlock=unlock
    )
    service = OpenDoorService(
        settings,
        door.clock,
        engine(),
        passages,
        {"front": door.door},
        door.events.append,
        record_api,
    )
    return service, passages, door.events


def journaled(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in events]


def test_the_grant_is_journaled_before_the_unlock_and_then_counts_as_a_passage() -> None:
    door = rig()
    service, passages, events = service_for(door)
    door.take()
    assert service.identified_unlock("front", CARD, "opendoor", "10.0.0.5") is None
    assert journaled(events)[:2] == [("access", "granted"), ("door", "unlocked")]
    assert door.relay_energised and passages.version == 1


def test_a_stopping_door_refuses_with_shutdown_and_records_no_passage() -> None:
    door = rig()
    service, passages, events = service_for(door)
    door.door.stop()
    door.take()
    assert service.identified_unlock("front", CARD, "opendoor", "10.0.0.5") == "shutdown"
    assert service.remote_unlock("front", "opendoor", "10.0.0.5") == "shutdown"
    assert journaled(events)[0] == ("access", "shutdown")
    assert ("api", "remote_unlock_refused") in journaled(events)
    assert not door.relay_energised and passages.version == 0


def test_a_remote_unlock_in_lockdown_is_journaled_refused_before_the_door_refuses() -> None:
    door = rig()
    service, _, events = service_for(door)
    door.door.set_lockdown(True, "admin")
    door.take()
    assert service.remote_unlock("front", "opendoor", "10.0.0.5") == "lockdown"
    assert journaled(events) == [("api", "remote_unlock_refused"), ("door", "grant_refused")]
    assert not door.relay_energised
