"""The door controller on mock pins: locked first, pulses, relock on close, alarms."""

from __future__ import annotations

import asyncio

from gateway.door import DoorController
from gateway.hw.gpio import GpioBackend
from gateway.model import Event
from gateway.settings import DoorSettings
from tests.fakes import ManualClock

RELAY, CONTACT, REX, TAMPER, ALARM = 17, 27, 22, 23, 24


def build(events: list[Event]) -> tuple[DoorController, GpioBackend]:
    backend = GpioBackend(simulated=True)
    relay = backend.output(RELAY, initial=True)  # a relay left energised by a crash
    contact = backend.input(CONTACT, active_low=False)  # NC contact to ground: high = open
    backend.drive(CONTACT, False)  # door shut
    door = DoorController(
        DoorSettings(name="front", relay_pin=RELAY, relay_pulse_s=5),
        asyncio.get_running_loop(),
        ManualClock(),
        events.append,
        relay,
        contact=contact,
        rex=backend.input(REX),
        tamper=backend.input(TAMPER),
        alarm=backend.output(ALARM),
    )
    return door, backend


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_door_is_locked_when_built_and_unlocks_on_grant() -> None:
    events: list[Event] = []
    door, _ = build(events)
    assert not door.unlocked
    door.grant("1001")
    assert door.unlocked
    assert [e.reason for e in events] == ["unlocked"]
    door.stop()


async def test_opening_and_closing_relocks_before_the_pulse_ends() -> None:
    events: list[Event] = []
    door, backend = build(events)
    door.grant("1001")
    backend.drive(CONTACT, True)
    await settle()
    backend.drive(CONTACT, False)
    await settle()
    assert not door.unlocked
    assert [e.reason for e in events] == ["unlocked", "door_opened", "door_closed", "locked"]
    door.stop()


async def test_forced_open_latches_the_alarm_until_acknowledged() -> None:
    events: list[Event] = []
    door, backend = build(events)
    backend.drive(CONTACT, True)
    await settle()
    backend.drive(CONTACT, False)
    await settle()
    assert door.alarm_output and "forced_open" in door.alarms
    door.acknowledge()
    assert not door.alarm_output
    assert [e.reason for e in events if e.type == "alarm"] == ["forced_open", "alarm_acknowledged"]
    door.stop()


async def test_exit_button_unlocks_and_stop_locks() -> None:
    events: list[Event] = []
    door, backend = build(events)
    backend.drive(REX, False)
    await settle()
    assert door.unlocked
    door.stop()
    assert not door.unlocked
    assert events[-1].reason == "locked" and events[-1].trace == "stopping"
