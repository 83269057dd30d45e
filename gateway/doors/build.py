"""Builds one door's controller from its settings: lines on the hardware, the second
relay, schedules read from the live rules snapshot, input actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from gateway.access.snapshot import RulesSnapshot
from gateway.clock import Clock
from gateway.doors.actions import ftp_put, http_get
from gateway.doors.controller import DoorController, DoorLinks, RelayTarget
from gateway.doors.outputs import relay_initial
from gateway.doors.schedule import right_schedule
from gateway.doors.state import DoorState
from gateway.doors.timers import LoopTimers
from gateway.hw.lines import InputLine, LineFactory, MemoryOutput, OutputLine
from gateway.model import Event
from gateway.settings import DoorSettings

# (pin, active_low) of each wired input, for the simulation API.
DoorInputs = dict[str, tuple[int, bool]]


def output_line(
    lines: LineFactory, pin: int | None, active_high: bool, initial: bool = False
) -> OutputLine:
    """An output on the hardware, or a memory-only one when the line is not wired."""
    if pin is None:
        return MemoryOutput(initial)
    return lines.output(pin, active_high=active_high, initial=initial)


def build_door(
    door: DoorSettings,
    lines: LineFactory,
    loop: asyncio.AbstractEventLoop,
    clock: Clock,
    emit: Callable[[Event], None],
    snapshot: Callable[[], RulesSnapshot],
    tz: ZoneInfo,
    state_changed: Callable[[DoorState], None],
    doors: Mapping[str, RelayTarget] | None = None,
) -> tuple[DoorController, DoorInputs]:
    """The controller, its relay driven to the locked level from the first instant;
    `doors` (every door by name, filled as they are built) for input actions that pulse
    another door's relay."""
    relay = output_line(lines, door.relay_pin, door.relay_active_high, relay_initial(door))
    alarm = output_line(lines, door.alarm_pin, True) if door.alarm_pin is not None else None
    second = (
        output_line(lines, door.second_relay_pin, door.second_relay_active_high)
        if door.second_relay_pin is not None
        else None
    )
    inputs, wired = input_lines(door, lines)
    links = DoorLinks(
        second_relay=second,
        schedule_active=_schedule(snapshot, door.unlock_schedule, tz),
        bell_active=_schedule(snapshot, door.second_relay_schedule, tz),
        http_get=http_get,
        ftp_put=ftp_put,
        state_changed=state_changed,
        doors=doors,
    )
    controller = DoorController(
        door, LoopTimers(loop), clock, emit, relay, links, alarm=alarm, **inputs
    )
    return controller, wired


def _schedule(
    snapshot: Callable[[], RulesSnapshot], right_id: int | None, tz: ZoneInfo
) -> Callable[[float], bool] | None:
    return None if right_id is None else right_schedule(snapshot, right_id, tz)


def input_lines(
    door: DoorSettings, lines: LineFactory
) -> tuple[dict[str, InputLine | None], DoorInputs]:
    """The door's wired inputs as lines at their trigger levels, and (pin, active_low) of
    each for the simulation API."""
    inputs: dict[str, InputLine | None] = {}
    wired: DoorInputs = {}
    for name, pin, active_low in (
        ("contact", door.contact_pin, not door.contact_normally_closed),
        # Push buttons to GND: "low" = normally open (pressed pulls low), "high" = closed.
        ("rex", door.rex_pin, door.rex_trigger_level == "low"),
        ("doorbell", door.doorbell_pin, door.doorbell_trigger_level == "low"),
        ("tamper", door.tamper_pin, not door.tamper_normally_closed),
    ):
        if pin is None:
            inputs[name] = None
            continue
        inputs[name] = lines.input(pin, active_low)
        wired[name] = (pin, active_low)
    return inputs, wired
