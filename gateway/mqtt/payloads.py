"""What is published, as bytes: events, and the retained state of doors, readers and the
upstream server. Pure functions.

What a payload may contain follows the API: an event is the journal row as the native
API shows it (`StoredEvent.as_dict`: a PIN is never stored, a QR code is masked), less
the raw reader frame (the API shows frames only to a role that may read them); reader
health leaves out the recent frames for the same reason, and the upstream state shows
the server's origin only (a path or query may carry a token).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.model import StoredEvent

LOCKED, UNLOCKED = "LOCKED", "UNLOCKED"
READER_HEALTH_KEYS = (
    "kind",
    "door",
    "direction",
    "online",
    "last_seen",
    "offline_reason",
    "warning",
)
UPSTREAM_KEYS = ("configured", "server", "mode", "breaker", "offline_grant_doors")


def encode(value: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys (the same state gives the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_payload(event: StoredEvent, device_id: str) -> bytes:
    """One journal event, with the gateway's id; `seq` lets a subscriber de-duplicate. The
    raw reader frame is left out: a broker reaches more people than the event log."""
    fields = {key: value for key, value in event.as_dict().items() if key != "raw"}
    return encode({**fields, "device": device_id})


def door_state(status: Mapping[str, Any]) -> dict[str, Any]:
    """A door's status with `state` in Home Assistant's words (LOCKED / UNLOCKED)."""
    state = UNLOCKED if status.get("lock") == "unlocked" else LOCKED
    return {**status, "state": state}


def reader_health(status: Mapping[str, Any]) -> dict[str, Any]:
    """A reader's health without its recent frames."""
    return {key: status[key] for key in READER_HEALTH_KEYS if key in status}


def upstream_state(status: Mapping[str, Any]) -> dict[str, Any]:
    """The verify server's state: configured, its origin, its breaker."""
    return {key: status[key] for key in UPSTREAM_KEYS if key in status}
