"""What the loader produces for valid files, the summary, and `check_config_command`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import check_config_command, load_settings, summary
from tests.config.helpers import (
    GATEWAY_TOML,
    MINIMAL_GPIO,
    MINIMAL_SIMULATED,
    SIMULATE_TOML,
    variant,
    write,
)


def test_defaults_and_types(tmp_path: Path) -> None:
    text = variant('name = "back"\n', 'name = "back"\nrelay_pulse_s = 7\n')
    settings = load_settings(write(tmp_path, text))
    back = settings.doors[1]
    assert back.relay_pulse_s == 7.0 and isinstance(back.relay_pulse_s, float)
    assert back.auth_mode == "any" and back.offline_policy == "deny"
    assert settings.readers[0].formats == ("H10301",)
    assert settings.readers[0].direction == "in"
    assert settings.journal.max_events == 100_000
    assert settings.access.auto_in_out.mode == "disable"


def test_long_relay_pulse_is_allowed_with_an_unlock_schedule(tmp_path: Path) -> None:
    text = variant('name = "back"\n', 'name = "back"\nrelay_pulse_s = 1800\nunlock_schedule = 2\n')
    assert load_settings(write(tmp_path, text)).doors[1].relay_pulse_s == 1800.0


def test_readers_are_optional(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.split("[[readers]]")[0]
    assert load_settings(write(tmp_path, text)).readers == ()


def test_simulated_backend_needs_no_pins(tmp_path: Path) -> None:
    text = '[device]\n[hardware]\nbackend = "simulated"\n[[doors]]\nname = "front"\n'
    text += '[[readers]]\nname = "r"\nkind = "wiegand"\ndoor = "front"\n'
    text += '[[readers]]\nname = "s"\nkind = "serial"\ndoor = "front"\n'
    settings = load_settings(write(tmp_path, text))
    assert settings.doors[0].relay_pin is None
    assert settings.readers[0].d0_pin is None


def test_relative_state_dir_resolves_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = write(config_dir, variant('id = "gw"', 'id = "gw"\nstate_dir = "data/gw"'))
    monkeypatch.chdir(tmp_path)
    assert load_settings(path).device.state_dir == str(tmp_path / "data" / "gw")


def test_derived_values(tmp_path: Path) -> None:
    text = MINIMAL_SIMULATED + (
        '[simulation]\n[[simulation.demo_users]]\nuser_id = "1001"\ncards = ["0c8707"]\n'
    )
    path = write(tmp_path, text)
    settings = load_settings(str(path))
    assert settings.path == str(path)
    assert settings.upstream.device_id == "gw"  # empty: the device id
    assert settings.simulation.demo_users[0].cards == ("0C8707",)


def test_summary_of_gateway_toml() -> None:
    text = summary(load_settings(GATEWAY_TOML))
    for expected in (
        "gw-hq-ground",
        "gpio backend",
        "front",
        "relay GPIO17",
        "pulse 5 s",
        "auth any",
        "front-wiegand",
        "wiegand_keypad",
        "back-exit",
        "out",
        "Upstream    off",
        "HTTPS (self-signed) on 127.0.0.1:8080",
        "100000 events",
        "0 technicians",
    ):
        assert expected in text
    assert len(text.splitlines()) <= 40


def test_summary_hides_the_upstream_query(tmp_path: Path) -> None:
    url = "https://access.example.com/verify?card={Card}&token=s3cret"
    settings = load_settings(write(tmp_path, MINIMAL_GPIO + f'[upstream]\nurl = "{url}"\n'))
    text = summary(settings)
    assert "Upstream    on: https://access.example.com" in text
    assert "s3cret" not in text


def test_check_config_command_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config_command(str(SIMULATE_TOML)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "configuration OK" in out
    assert "front-wiegand" in out and "1 technician" in out and "3 demo users" in out


def test_check_config_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = variant("d0_pin = 5", "d0_pin = 17")
    text = variant('door = "front"', 'door = "nowhere"', text)
    path = write(tmp_path, text)
    assert check_config_command(str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[-1] == f"2 errors in {path}"
    assert lines[0].startswith(f"{path}: readers[0].d0_pin: ")
    assert lines[1].startswith(f"{path}: readers[0].door: ")


def test_check_config_command_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_config_command(str(tmp_path / "absent.toml")) == 2
    assert "No such file or directory" in capsys.readouterr().err
