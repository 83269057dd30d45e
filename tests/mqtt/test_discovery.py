"""Home Assistant discovery: each door a lock with its binary sensors, each reader a
sensor, all on one device, greyed out when the gateway is offline."""

from __future__ import annotations

import json

from gateway.model import StoredEvent
from gateway.mqtt.discovery import DeviceInfo, all_configs
from gateway.mqtt.payloads import door_state, event_payload, reader_health, upstream_state
from gateway.mqtt.topics import Topics, default_prefix

TOPICS = Topics(default_prefix("gw-1"), "homeassistant", "gw-1")
DEVICE = DeviceInfo("gw-1", "Lobby gateway", "1.2.3")


def test_each_door_is_a_lock_with_contact_alarm_and_lockdown_sensors() -> None:
    configs = dict(all_configs(TOPICS, DEVICE, ["front", "back.door"], ["front-wiegand"]))
    lock = configs["homeassistant/lock/gw-1/door_front/config"]
    assert lock["command_topic"] == "door-gateway/gw-1/command/front/pulse"
    assert lock["state_topic"] == "door-gateway/gw-1/door/front/state"
    assert (lock["state_locked"], lock["state_unlocked"]) == ("LOCKED", "UNLOCKED")
    assert lock["payload_unlock"] == "UNLOCK" and lock["payload_open"] == "OPEN"
    classes = {
        topic.split("/")[3]: config.get("device_class")
        for topic, config in configs.items()
        if topic.startswith("homeassistant/binary_sensor/gw-1/door_front")
    }
    assert classes == {
        "door_front_contact": "door",
        "door_front_alarm": "problem",
        "door_front_lockdown": "safety",
    }
    # A name Home Assistant would not take in a topic level is made into one it takes.
    assert "homeassistant/lock/gw-1/door_back_door/config" in configs


def test_each_reader_is_a_sensor_of_its_last_event_and_a_connectivity_sensor() -> None:
    configs = dict(all_configs(TOPICS, DEVICE, [], ["front-wiegand"]))
    sensor = configs["homeassistant/sensor/gw-1/reader_front-wiegand/config"]
    assert sensor["state_topic"] == "door-gateway/gw-1/reader/front-wiegand/last_event"
    online = configs["homeassistant/binary_sensor/gw-1/reader_front-wiegand_online/config"]
    assert online["device_class"] == "connectivity"


def test_every_entity_is_unique_on_one_device_and_follows_the_availability() -> None:
    configs = all_configs(TOPICS, DEVICE, ["front", "back"], ["r1", "r2"])
    assert len(configs) == 2 * 4 + 2 * 2
    unique_ids = [config["unique_id"] for _, config in configs]
    assert len(set(unique_ids)) == len(unique_ids)
    for _, config in configs:
        assert config["availability_topic"] == "door-gateway/gw-1/availability"
        assert config["device"]["identifiers"] == ["door-gateway_gw-1"]
        assert config["device"]["sw_version"] == "1.2.3"
        json.dumps(config)  # a payload Home Assistant can read


def test_command_topics_are_parsed_and_nothing_else_is() -> None:
    assert TOPICS.parse_command("door-gateway/gw-1/command/front/pulse") == ("front", "pulse")
    assert TOPICS.parse_command("door-gateway/gw-1/command/front") is None
    assert TOPICS.parse_command("door-gateway/gw-1/command/front/pulse/x") is None
    assert TOPICS.parse_command("door-gateway/gw-2/command/front/pulse") is None


def test_payloads_keep_no_secret() -> None:
    qr = StoredEvent(
        seq=7, time="t", local_time="l", type="access", door="front", reader="qr",
        user_id="1001", credential_kind="qr", credential="****5678", granted=True,
        reason="granted", source="local", trace="", latency_ms=1.0, direction="in",
        raw="the frame",
    )  # fmt: skip
    body = json.loads(event_payload(qr, "gw-1"))
    assert body["seq"] == 7 and body["device"] == "gw-1" and "raw" not in body
    assert body["credential"] == "****5678"
    health = reader_health({"online": True, "recent": [{"value": "0C8707"}], "kind": "wiegand"})
    assert health == {"online": True, "kind": "wiegand"}
    upstream = upstream_state({"configured": True, "server": "https://x", "cache": {}})
    assert upstream == {"configured": True, "server": "https://x"}
    assert door_state({"lock": "unlocked", "alarms": []})["state"] == "UNLOCKED"
