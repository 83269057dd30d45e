"""`door-gateway selftest` with [mqtt]: the broker's host must take a connection, and a
dead broker is a warning (the doors work without it), not a failure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gateway.selftest import run_selftest
from gateway.settings import MqttSettings
from tests.test_selftest import FakeWorld, by_name, simulated


def test_the_broker_must_take_a_connection(tmp_path: Path) -> None:
    world = FakeWorld()
    settings = simulated(tmp_path)
    assert "mqtt" not in by_name(run_selftest(settings, world.system(tmp_path)).checks)
    settings = dataclasses.replace(settings, mqtt=MqttSettings(url="mqtts://broker.example"))
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["mqtt"]
    assert check.status == "warn"
    assert check.detail == "cannot reach the broker broker.example:8883 (Connection refused)"
    world.answer("broker.example", 8883)
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["mqtt"]
    assert (check.status, check.detail) == ("ok", "broker broker.example:8883 takes connections")
