"""Door control: the state machine that moves locks, and its seams (timers, outputs)."""

from gateway.doors.controller import DoorController, DoorLinks, PrealarmSink
from gateway.doors.events import DOOR_EVENTS, LATCHED_ALARMS
from gateway.doors.outputs import LockRelay, PulsedOutput, locked_level, relay_initial
from gateway.doors.schedule import ScheduleCheck, next_boundary, right_schedule
from gateway.doors.state import DoorState
from gateway.doors.timers import Handle, LoopTimers, Timers

__all__ = [
    "DOOR_EVENTS",
    "LATCHED_ALARMS",
    "DoorController",
    "DoorLinks",
    "DoorState",
    "Handle",
    "LockRelay",
    "LoopTimers",
    "PrealarmSink",
    "PulsedOutput",
    "ScheduleCheck",
    "Timers",
    "locked_level",
    "next_boundary",
    "relay_initial",
    "right_schedule",
]
