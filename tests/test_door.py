"""The door controller wired as the app wires it: a real event loop, edges from a thread.

Behaviour is tested on the manual clock in tests/doors/; this file checks the real seam.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

from gateway.clock import SystemClock
from gateway.doors.controller import DoorController
from gateway.doors.timers import LoopTimers
from gateway.hw.factory import SimulatedHardware
from gateway.hw.lines import InputLine
from gateway.model import Event
from gateway.settings import DoorSettings

RELAY, CONTACT, REX, TAMPER, ALARM = 17, 27, 22, 23, 24
SETTINGS = DoorSettings(name="front", relay_pin=RELAY, relay_pulse_s=5, contact_debounce_s=0)


def build(
    events: list[Event], settings: DoorSettings = SETTINGS
) -> tuple[DoorController, SimulatedHardware]:
    """The call the door builder makes: loop timers, then the lines as keywords."""
    hardware = SimulatedHardware()
    relay = hardware.output(RELAY, initial=True)  # a relay left energised by a crash
    lines: dict[str, InputLine | None] = {
        "contact": hardware.input(CONTACT, active_low=False),  # at rest: door shut
        "rex": hardware.input(REX),
        "tamper": hardware.input(TAMPER),
    }
    door = DoorController(
        settings,
        LoopTimers(asyncio.get_running_loop()),
        SystemClock(),
        events.append,
        relay,
        alarm=hardware.output(ALARM),
        **lines,
    )
    return door, hardware


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_built_locked_and_grant_unlocks_on_the_real_loop() -> None:
    events: list[Event] = []
    door, _ = build(events)
    assert not door.unlocked
    assert door.grant("1001") is True
    assert door.unlocked
    door.stop()
    assert not door.unlocked
    assert [(e.reason, e.trace) for e in events] == [
        ("locked", "startup"),  # the relay a crash left energised
        ("unlocked", "granted"),
        ("locked", "stopping"),
    ]


async def test_an_edge_from_a_gpio_thread_is_handled_on_the_loop() -> None:
    events: list[Event] = []
    handled_on: list[int] = []

    def record(event: Event) -> None:
        handled_on.append(threading.get_ident())
        events.append(event)

    door, hardware = build([])
    door._sink = record  # the same sink, watched for the thread it runs on
    thread = threading.Thread(target=hardware.drive, args=(CONTACT, True))
    thread.start()
    thread.join()
    assert events == []  # nothing ran on the GPIO thread
    await settle()
    assert [e.reason for e in events] == ["door_opened", "forced_open"]
    assert set(handled_on) == {threading.get_ident()}
    assert door.alarm_output
    door.stop()


async def test_loop_timers_end_the_pulse() -> None:
    events: list[Event] = []
    door, _ = build(events, dataclasses.replace(SETTINGS, relay_pulse_s=0.01))
    door.grant("1001")
    await asyncio.sleep(0.05)
    assert not door.unlocked
    assert [e.reason for e in events] == ["locked", "unlocked", "granted_not_opened", "locked"]
    door.stop()


async def test_loop_timers_spawn_keeps_a_reference_until_done() -> None:
    timers = LoopTimers(asyncio.get_running_loop())
    done: list[bool] = []

    async def work() -> None:
        done.append(True)

    timers.spawn(work())
    await settle()
    assert done == [True]
