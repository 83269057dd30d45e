"""Every event a door controller emits: its reason and journal type.

The controller can only emit reasons listed here (a typo is a KeyError in the tests, not a
silent new event), and docs/wiring.md documents exactly this table.
"""

from __future__ import annotations

from gateway.model import EventType

DOOR_EVENTS: dict[str, EventType] = {
    # the lock relay
    "unlocked": "door",
    "locked": "door",
    "grant_refused": "door",
    "granted_not_opened": "door",
    # the door contact
    "door_opened": "door",
    "door_closed": "door",
    "door_open_at_startup": "door",
    "held_open_prealarm": "door",
    # the exit button
    "exit_button": "door",
    "exit_button_cancelled": "door",
    # schedules and lockdown
    "schedule_unlocked": "door",
    "schedule_locked": "door",
    "lockdown_on": "door",
    "lockdown_off": "door",
    # the second relay
    "doorbell": "door",
    "bell_on": "door",
    "bell_off": "door",
    # input actions
    "input_action_failed": "door",
    "input_action_email": "door",
    "input_relay": "door",
    # input faults: a chattering input, a stuck button
    "input_fault": "door",
    "input_ok": "door",
    # alarms
    "forced_open": "alarm",
    "held_open": "alarm",
    "held_open_cleared": "alarm",
    "tamper": "alarm",
    "tamper_cleared": "alarm",
    "alarm_acknowledged": "alarm",
}

# Alarms that stay on until someone acknowledges them (held_open clears itself on close).
LATCHED_ALARMS: frozenset[str] = frozenset({"forced_open", "tamper"})
