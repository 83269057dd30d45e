"""Fixtures of the MQTT tests: a real mosquitto (skipped where the package is missing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.mosquitto import Mosquitto, available


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker, not started: the test starts it (and may stop it) when it wants."""
    if not available():
        pytest.skip("mosquitto is not installed (scripts/system-deps.sh installs it)")
    broker = Mosquitto(tmp_path / "broker")
    yield broker
    broker.stop()
