"""Home Assistant MQTT discovery: each door a `lock` with `binary_sensor`s for its contact,
its alarms and lockdown, and each reader a `sensor` of its last event with a connectivity
`binary_sensor`, all on one device per gateway. Pure functions: (topic, config) pairs.

Each config names the gateway's availability topic, so Home Assistant greys the entities
out when the gateway goes offline (its last will), and a `unique_id` made of the device id
and the door or reader name, so the entities survive a restart of either side. The lock's
command topic is the door's `pulse` command: UNLOCK and OPEN pulse the door, LOCK is
refused (the door locks by itself after the pulse); the gateway refuses the command
unless `[mqtt] commands` lists "pulse" (docs/fleet.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.mqtt.payloads import LOCKED, UNLOCKED
from gateway.mqtt.topics import Topics, discovery_id

ONLINE, OFFLINE = "online", "offline"
MANUFACTURER = "door-gateway"


@dataclass(frozen=True)
class DeviceInfo:
    """The gateway as Home Assistant's device registry shows it."""

    device_id: str
    name: str
    version: str


def _common(topics: Topics, device: DeviceInfo, object_id: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "unique_id": discovery_id(f"{device.device_id}_{object_id}"),
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": {
            "identifiers": [f"door-gateway_{device.device_id}"],
            "name": device.name,
            "manufacturer": MANUFACTURER,
            "model": "door-gateway",
            "sw_version": device.version,
        },
    }


def door_configs(topics: Topics, device: DeviceInfo, door: str) -> list[tuple[str, dict[str, Any]]]:
    """A door's lock, contact, alarm and lockdown entities."""
    state = topics.door_state(door)
    lock = _common(topics, device, f"door_{door}", f"Door {door}") | {
        "state_topic": state,
        "value_template": "{{ value_json.state }}",
        "state_locked": LOCKED,
        "state_unlocked": UNLOCKED,
        "command_topic": topics.command(door, "pulse"),
        "payload_lock": "LOCK",
        "payload_unlock": "UNLOCK",
        "payload_open": "OPEN",
        "qos": 1,
        "retain": False,
        "optimistic": False,
        "json_attributes_topic": state,
        "json_attributes_template": (
            "{{ {'lockdown': value_json.lockdown, 'unlocked_by': value_json.unlocked_by}"
            " | tojson }}"
        ),
    }
    contact = _common(topics, device, f"door_{door}_contact", f"Door {door} contact") | {
        "state_topic": state,
        "device_class": "door",
        "value_template": "{{ 'ON' if value_json.contact == 'open' else 'OFF' }}",
    }
    alarm = _common(topics, device, f"door_{door}_alarm", f"Door {door} alarm") | {
        "state_topic": state,
        "device_class": "problem",
        "value_template": "{{ 'ON' if value_json.alarms else 'OFF' }}",
        "json_attributes_topic": state,
        "json_attributes_template": "{{ {'alarms': value_json.alarms} | tojson }}",
    }
    lockdown = _common(topics, device, f"door_{door}_lockdown", f"Door {door} lockdown") | {
        "state_topic": state,
        "device_class": "safety",
        "value_template": "{{ 'ON' if value_json.lockdown else 'OFF' }}",
    }
    return [
        (topics.discovery("lock", f"door_{door}"), lock),
        (topics.discovery("binary_sensor", f"door_{door}_contact"), contact),
        (topics.discovery("binary_sensor", f"door_{door}_alarm"), alarm),
        (topics.discovery("binary_sensor", f"door_{door}_lockdown"), lockdown),
    ]


def reader_configs(
    topics: Topics, device: DeviceInfo, reader: str
) -> list[tuple[str, dict[str, Any]]]:
    """A reader's last-event sensor and its connectivity."""
    last = topics.reader_last_event(reader)
    sensor = _common(topics, device, f"reader_{reader}", f"Reader {reader}") | {
        "state_topic": last,
        "value_template": "{{ value_json.reason }}",
        "json_attributes_topic": last,
        "icon": "mdi:card-account-details",
    }
    online = _common(topics, device, f"reader_{reader}_online", f"Reader {reader} online") | {
        "state_topic": topics.reader_health(reader),
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
    }
    return [
        (topics.discovery("sensor", f"reader_{reader}"), sensor),
        (topics.discovery("binary_sensor", f"reader_{reader}_online"), online),
    ]


def all_configs(
    topics: Topics, device: DeviceInfo, doors: Iterable[str], readers: Iterable[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Every discovery config of the gateway, doors first."""
    configs = [config for door in doors for config in door_configs(topics, device, door)]
    configs += [config for reader in readers for config in reader_configs(topics, device, reader)]
    return configs
