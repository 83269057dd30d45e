"""Builds one door's controller from its settings: lines on the pin factory, the second
relay, schedules read from the live rules snapshot, input actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from zoneinfo import ZoneInfo

from gateway.clock import Clock
from gateway.doors.actions import http_get
from gateway.doors.controller import DoorController, DoorLinks
from gateway.doors.outputs import relay_initial
from gateway.doors.schedule import right_schedule
from gateway.doors.state import DoorState
from gateway.doors.timers import LoopTimers
from gateway.hw.gpio import GpioBackend
from gateway.hw.lines import InputLine, MemoryOutput, OutputLine
from gateway.model import Event
from gateway.settings import DoorSettings
from gateway.store.index import RulesSnapshot

# (pin, active_low) of each wired input, for the simulation API.
DoorInputs = dict[str, tuple[int, bool]]


def output_line(
    backend: GpioBackend, pin: int | None, active_high: bool, initial: bool = False
) -> OutputLine:
    """A GPIO output, or a memory-only one when the line is not wired."""
    if pin is None:
        return MemoryOutput(initial)
    return backend.output(pin, active_high=active_high, initial=initial)


def build_door(
    door: DoorSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    clock: Clock,
    emit: Callable[[Event], None],
    snapshot: Callable[[], RulesSnapshot],
    tz: ZoneInfo,
    state_changed: Callable[[DoorState], None],
) -> tuple[DoorController, DoorInputs]:
    """The controller, its relay driven to the locked level from the first instant."""
    relay = output_line(backend, door.relay_pin, door.relay_active_high, relay_initial(door))
    alarm = output_line(backend, door.alarm_pin, True) if door.alarm_pin is not None else None
    second = (
        output_line(backend, door.second_relay_pin, door.second_relay_active_high)
        if door.second_relay_pin is not None
        else None
    )
    lines, inputs = _inputs(door, backend)
    links = DoorLinks(
        second_relay=second,
        schedule_active=_schedule(snapshot, door.unlock_schedule, tz),
        bell_active=_schedule(snapshot, door.second_relay_schedule, tz),
        http_get=http_get,
        state_changed=state_changed,
    )
    controller = DoorController(
        door, LoopTimers(loop), clock, emit, relay, links, alarm=alarm, **lines
    )
    return controller, inputs


def _schedule(
    snapshot: Callable[[], RulesSnapshot], right_id: int | None, tz: ZoneInfo
) -> Callable[[float], bool] | None:
    return None if right_id is None else right_schedule(snapshot, right_id, tz)


def _inputs(
    door: DoorSettings, backend: GpioBackend
) -> tuple[dict[str, InputLine | None], DoorInputs]:
    lines: dict[str, InputLine | None] = {}
    inputs: DoorInputs = {}
    for name, pin, active_low in (
        ("contact", door.contact_pin, not door.contact_normally_closed),
        ("rex", door.rex_pin, True),
        ("doorbell", door.doorbell_pin, True),  # a push button to GND, as the exit button
        ("tamper", door.tamper_pin, not door.tamper_normally_closed),
    ):
        if pin is None:
            lines[name] = None
            continue
        lines[name] = backend.input(pin, active_low)
        inputs[name] = (pin, active_low)
        if backend.simulated:  # simulated wiring starts at rest: door shut, nothing pressed
            backend.drive(pin, active_low)
    return lines, inputs
