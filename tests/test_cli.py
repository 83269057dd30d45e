"""The door-gateway command: passwd, and the rules on technician passwords."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.access.pins import PinHasher
from gateway.config import load_settings
from gateway.store.secrets import load_or_create_device_key
from gateway.store.stores import Stores

REPO = Path(__file__).resolve().parents[1]


def gpio_config(tmp_path: Path) -> Path:
    """config/gateway.toml (a real Pi) with its state dir moved under tmp_path."""
    text = (REPO / "config" / "gateway.toml").read_text()
    text = text.replace('state_dir = "/var/lib/door-gateway"', f'state_dir = "{tmp_path}"')
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def passwd(config: Path, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "passwd", "admin", "--config", str(config), *extra],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def open_store(tmp_path: Path) -> Stores:
    return Stores.open(tmp_path / "gateway.db", PinHasher(load_or_create_device_key(tmp_path)))


def test_passwd_stores_a_slow_salted_hash(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    result = passwd(config, "correct horse battery", "--level", "USERADMIN")
    assert result.returncode == 0, result.stderr
    with open_store(tmp_path) as stores:
        tech = stores.technicians.verify_technician("admin", "correct horse battery")
        assert tech is not None and tech.level == "USERADMIN"
        assert stores.technicians.verify_technician("admin", "wrong") is None
    assert b"correct horse battery" not in (tmp_path / "gateway.db").read_bytes()


def test_the_simulation_password_is_refused_on_real_hardware(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    result = passwd(config, "simulate")
    assert result.returncode == 1 and "reserved" in result.stderr
    from gateway.accounts import password_allowed

    assert not password_allowed(load_settings(config), "simulate")
    assert password_allowed(load_settings(REPO / "config" / "simulate.toml"), "simulate")


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    result = passwd(gpio_config(tmp_path), "short")
    assert result.returncode == 1 and "at least 8" in result.stderr


def test_a_broken_config_stops_every_command_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[device]\nid = 'x'\n[hardware]\nbackend = 'gpio'\n[[doors]]\nnmae = 'a'\n")
    result = passwd(config, "long enough password")
    assert result.returncode == 2
    assert "doors[0].nmae" in result.stderr


def test_a_damaged_device_key_is_one_clear_line_and_stays_as_it_was(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    key = tmp_path / "device.key"
    key.write_bytes(b"\x07" * 12)  # cut short by a power failure of an older version
    export = [sys.executable, "-m", "gateway", "users", "export", str(tmp_path / "u.csv")]
    results = [
        passwd(config, "correct horse battery"),
        subprocess.run(
            [*export, "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        ),
    ]
    for result in results:
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert f"{key}: the device key is damaged (12 of 32 bytes)" in result.stderr
    assert key.read_bytes() == b"\x07" * 12
    assert not (tmp_path / "u.csv").exists()
