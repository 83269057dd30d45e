"""mqtts://: the gateway verifies the broker against `ca_file` and proves itself with its
client certificate; a broker it cannot verify, or that wants a certificate it lacks,
never gets its events, and the daemon goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.mosquitto import Mosquitto, available
from tests.mqtt.checker import retained
from tests.mqtt.pki import Authority
from tests.mqtt.test_broker import PREFIX, mqtt_settings, present_card, running_gateway, until


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Authority]]:
    if not available():
        pytest.skip("mosquitto is not installed (scripts/system-deps.sh installs it)")
    authority = Authority(tmp_path / "pki")
    cert, key = authority.issue("broker", server=True)
    broker = Mosquitto(tmp_path / "broker", tls=(authority.ca, cert, key))
    broker.start()
    yield broker, authority
    broker.stop()


async def test_the_gateway_verifies_the_broker_and_shows_its_certificate(
    tmp_path: Path, tls_broker: tuple[Mosquitto, Authority]
) -> None:
    broker, authority = tls_broker
    cert, key = authority.issue("sim-gateway")
    settings = mqtt_settings(
        broker, ca_file=str(authority.ca), cert_file=str(cert), key_file=str(key)
    )
    async with running_gateway(tmp_path, settings) as gateway:
        await until(lambda: gateway.mqtt is not None and gateway.mqtt.connected, 10)
        assert gateway.mqtt is not None
        assert gateway.mqtt.status()["broker"] == f"mqtts://127.0.0.1:{broker.port}"
        await present_card(gateway)
        await until(lambda: gateway.mqtt is not None and gateway.mqtt.publisher.backlog == 0, 10)
        # A reader of the broker sees the gateway online (the checker connects with TLS too).
        reader_cert, reader_key = authority.issue("reader")
        state = await retained(
            broker, f"{PREFIX}availability", tls=(authority.ca, reader_cert, reader_key)
        )
        assert state[f"{PREFIX}availability"] == b"online"


@pytest.mark.parametrize("mistake", ["another CA", "no client certificate"])
async def test_a_broker_that_does_not_verify_gets_nothing_and_the_door_still_opens(
    tmp_path: Path, tls_broker: tuple[Mosquitto, Authority], mistake: str
) -> None:
    broker, authority = tls_broker
    if mistake == "another CA":
        stranger = Authority(tmp_path / "other", "other CA")
        cert, key = authority.issue("sim-gateway")
        files = {"ca_file": str(stranger.ca), "cert_file": str(cert), "key_file": str(key)}
    else:
        files = {"ca_file": str(authority.ca)}
    async with running_gateway(tmp_path, mqtt_settings(broker, **files)) as gateway:
        assert gateway.mqtt is not None
        # Refused in the handshake, or after it (TLS 1.3): then at the CONNACK timeout.
        await until(lambda: gateway.mqtt is not None and gateway.mqtt.failures >= 1, 15)
        assert await present_card(gateway) < 1.0
        status = gateway.status_board.status()["mqtt"]
        assert status["connected"] is False and status["last_error"]
        json.dumps(status)
