"""[mqtt]: what an installer may write, and the mistakes check-config names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from tests.config.helpers import MINIMAL_SIMULATED, errors_of, write


def test_mqtt_is_off_by_default_with_every_command_refused(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_SIMULATED))
    assert settings.mqtt.url == "" and settings.mqtt.commands == ()
    assert settings.mqtt.discovery_prefix == "homeassistant"


def test_a_full_mqtt_section_loads(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    text = MINIMAL_SIMULATED + (
        f'[mqtt]\nurl = "mqtts://broker.example.com:8883"\nusername = "gw"\n'
        f'password = "secret"\nca_file = "{pem}"\ncert_file = "{pem}"\nkey_file = "{pem}"\n'
        'topic_prefix = "site/lobby/"\ncommands = ["pulse", "acknowledge"]\n'
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.mqtt.commands == ("pulse", "acknowledge")
    assert settings.mqtt.topic_prefix == "site/lobby/"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('url = "http://broker"', 'mqtt.url: expected empty (no MQTT) or an "mqtt://"'),
        ('url = "mqtt://user:pw@broker"', "mqtt.url: expected"),
        ('url = "mqtt://broker"\ntopic_prefix = "a/#/"', "mqtt.topic_prefix: expected"),
        ('url = "mqtt://broker"\ntopic_prefix = "no-slash"', "mqtt.topic_prefix: expected"),
        ('url = "mqtt://broker"\ncommands = ["open-all"]', "mqtt.commands[0]: expected one of"),
        ('url = "mqtt://broker"\ncommands = ["pulse", "pulse"]', "mqtt.commands: expected"),
        ('url = "mqtt://broker"\npassword = "x"', "mqtt.password: only used with a username"),
        ('url = "mqtt://b"\nretry_initial_s = 30\nretry_max_s = 5', "mqtt.retry_max_s"),
    ],
)
def test_mistakes_are_named_with_their_key(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path, MINIMAL_SIMULATED + f"[mqtt]\n{section}\n")
    errors = errors_of(path)
    assert any(message in error for error in errors), errors


def test_tls_files_need_mqtts_and_a_certificate_its_key(tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(
        tmp_path,
        MINIMAL_SIMULATED + f'[mqtt]\nurl = "mqtt://broker"\ncert_file = "{pem}"\n',
    )
    errors = " ".join(errors_of(path))
    assert 'mqtt.cert_file: only used with an "mqtts://" url' in errors
    assert "mqtt.cert_file: needs key_file" in errors
