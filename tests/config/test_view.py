"""The configuration view of the status page: the effective settings with no secret in
them, and the check-config result as data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.config.command import check_config_command
from gateway.config.report import ConfigError
from gateway.config.schema import key_specs, unpack
from gateway.config.view import check_file, masked_settings
from gateway.settings import Settings
from gateway.urls import MASK, masked_url
from tests.config.helpers import MINIMAL_SIMULATED, write

# Every secret a file can hold, each with a value found nowhere else in the file.
SECRETS = {
    "upstream.password": "Upstream-Pass-7781",
    "upstream.bearer_token": "Bearer-Token-4411",
    "web.technicians.password": "Technician-Pass-9931",
    "http_unlock.password": "OpenDoor-Pass-2207",
    "access.public_pins": "80551234",
    "simulation.demo_users.pin": "66071",
    "readers.mifare_key": "A1B2C3D4E5F6",
    "readers.desfire_key": "5EC2E7DE5F12E000AA55AA55AA55D00E",
    "readers.mfp_keys": "3FB0C7A1E5D2964810ABCDEF2468ACE1",
    "smtp.password": "Smtp-Pass-6402",
    "mqtt.password": "Mqtt-Pass-3141",
}
# Credentials inside URLs, which are not secrets as a whole.
URL_SECRETS = {
    "upstream url password": "UrlPass-5150",
    "upstream url token": "QueryToken-3033",
    "input action password": "ActionPass-8118",
    "apb url key": "ApbKey-6226",
}

BASE = (
    MINIMAL_SIMULATED.replace(
        '[[readers]]\nname = "front-card"',
        f"""doorbell_pin = 3

[[doors.input_actions]]
input = "doorbell"
url = "http://bell:{URL_SECRETS["input action password"]}@10.0.0.9/ring"

[[readers]]
name = "back-card"
kind = "pcsc"
door = "back"
mifare_sector = 1
mifare_key = "{SECRETS["readers.mifare_key"]}"

[[readers]]
name = "front-card\"""",
    )
    + f"""apb_urls = ["http://10.0.0.7/apb?door=1&api_key={URL_SECRETS["apb url key"]}"]

[[web.technicians]]
username = "admin"
password = "{SECRETS["web.technicians.password"]}"

[http_unlock]
enabled = true
username = "opendoor"
password = "{SECRETS["http_unlock.password"]}"

[access]
public_pins = ["{SECRETS["access.public_pins"]}"]

[smtp]
host = "mail.example.com"
username = "gw"
password = "{SECRETS["smtp.password"]}"

[[simulation.demo_users]]
user_id = "1001"
pin = "{SECRETS["simulation.demo_users.pin"]}"

[[readers]]
name = "side-card"
kind = "pcsc"
door = "back"
desfire_app_id = "F51230"
desfire_key = "{SECRETS["readers.desfire_key"]}"

[[readers]]
name = "plus-card"
kind = "pcsc"
door = "back"
mfp_block = 9
mfp_keys = ["{SECRETS["readers.mfp_keys"]}"]

[mqtt]
url = "mqtt://127.0.0.1"
username = "gw"
password = "{SECRETS["mqtt.password"]}"
"""
)


# An upstream server takes one of three kinds of credential; a file gives one.
UPSTREAMS = {
    "url": f"""[upstream]
url = "https://gw:{URL_SECRETS["upstream url password"]}@verify.example/check?token={
        URL_SECRETS["upstream url token"]
    }&card={{Card}}"
""",
    "basic": f"""[upstream]
url = "https://verify.example/check"
username = "gw"
password = "{SECRETS["upstream.password"]}"
""",
    "bearer": f"""[upstream]
url = "https://verify.example/check"
bearer_token = "{SECRETS["upstream.bearer_token"]}"
""",
}
FILE = BASE + UPSTREAMS["url"]


def loaded(tmp_path: Path, upstream: str = "url") -> Settings:
    return load_settings(write(tmp_path, BASE + UPSTREAMS[upstream]))


def declared_secrets(cls: type, prefix: str = "") -> set[str]:
    """Every key the settings declare SECRET, as dotted paths (arrays without an index)."""
    found = set()
    for spec in key_specs(cls):
        path = f"{prefix}{spec.name}"
        if spec.secret:
            found.add(path)
        table = spec.item_type if spec.item_type is not None else spec.type
        table, _ = unpack(table)
        if dataclasses.is_dataclass(table):
            found |= declared_secrets(table, f"{path}.")
    return found


def test_the_file_above_sets_every_declared_secret() -> None:
    assert declared_secrets(Settings) == set(SECRETS)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_no_secret_value_appears_in_the_configuration_view(tmp_path: Path, upstream: str) -> None:
    shown = json.dumps(masked_settings(loaded(tmp_path, upstream)))
    for name, value in {**SECRETS, **URL_SECRETS}.items():
        assert value not in shown, f"{name} leaks"
        assert value.lower() not in shown.lower(), f"{name} leaks"


def test_secrets_show_as_set_or_empty_and_the_rest_as_configured(tmp_path: Path) -> None:
    shown = masked_settings(loaded(tmp_path))
    assert shown["upstream"]["password"] == ""  # not set: nothing to hide
    basic = masked_settings(loaded(tmp_path, "basic"))["upstream"]
    assert (basic["username"], basic["password"]) == ("gw", MASK)  # a user name is no secret
    assert shown["access"]["public_pins"] == [MASK]
    assert shown["http_unlock"]["username"] == "opendoor"
    assert shown["doors"][0]["relay_pin"] == 17
    assert shown["readers"][0]["mifare_key"] == MASK
    assert "mifare_key" not in shown["readers"][1]  # a Wiegand reader has none
    assert shown["readers"][2]["desfire_key"] == MASK
    assert shown["readers"][1]["d0_pin"] == 5 and "d0_pin" not in shown["readers"][0]
    assert shown["upstream"]["url"] == (
        f"https://gw:{MASK}@verify.example/check?token={MASK}&card={{Card}}"
    )
    assert shown["readers"][1]["apb_urls"] == [f"http://10.0.0.7/apb?door=1&api_key={MASK}"]
    assert shown["doors"][1]["input_actions"][0]["url"] == f"http://bell:{MASK}@10.0.0.9/ring"


def test_urls_without_credentials_and_other_text_are_left_alone() -> None:
    for text in ("http://10.0.0.7/apb?door=1", "Europe/London", "", "tty:AMA0:pn532"):
        assert masked_url(text) == text


def test_check_file_gives_the_summary_and_warnings_of_a_valid_file(tmp_path: Path) -> None:
    risky = FILE.replace('name = "back"\n', 'name = "back"\noffline_policy = "grant"\n', 1)
    result = check_file(write(tmp_path, risky))
    assert result.valid and result.errors == ()
    assert "back" in result.summary
    assert len(result.warnings) == 1 and "offline_policy" in result.warnings[0]
    shown = json.dumps(result.as_dict())
    for name, value in {**SECRETS, **URL_SECRETS}.items():
        assert value not in shown, f"{name} leaks"


def test_check_file_gives_every_error_of_a_broken_file(tmp_path: Path) -> None:
    broken = FILE.replace("relay_pin = 17", "relay_pin = 99").replace(
        f'password = "{SECRETS["http_unlock.password"]}"', "password = 5"
    )
    result = check_file(write(tmp_path, broken))
    assert not result.valid and result.summary == ""
    assert any("doors[0].relay_pin" in line for line in result.errors)
    assert any("http_unlock.password" in line for line in result.errors)
    shown = json.dumps(result.as_dict())
    for name, value in {**SECRETS, **URL_SECRETS}.items():
        assert value not in shown, f"{name} leaks"


def test_a_refused_url_is_quoted_without_its_password(tmp_path: Path) -> None:
    broken = BASE + '[upstream]\nurl = "ftp://gw:Ftp-Secret-4040@verify.example/x?token=T0k3n-77"\n'
    result = check_file(write(tmp_path, broken))
    assert not result.valid
    quoted = [line for line in result.errors if "upstream.url" in line]
    assert len(quoted) == 1 and "verify.example" in quoted[0], result.errors
    shown = json.dumps(result.as_dict())
    assert "Ftp-Secret-4040" not in shown and "T0k3n-77" not in shown


def test_check_config_on_the_command_line_quotes_a_refused_url_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = BASE + '[upstream]\nurl = "ftp://gw:Ftp-Secret-4040@verify.example/x?token=T0k3n-77"\n'
    assert check_config_command(str(write(tmp_path, broken))) == 2
    printed = capsys.readouterr()
    assert "upstream.url" in printed.err and "verify.example" in printed.err
    assert "Ftp-Secret-4040" not in printed.err + printed.out
    assert "T0k3n-77" not in printed.err + printed.out
    with pytest.raises(ConfigError) as refused:  # what the daemon logs at start or reload
        load_settings(write(tmp_path, broken))
    assert "Ftp-Secret-4040" not in str(refused.value)
