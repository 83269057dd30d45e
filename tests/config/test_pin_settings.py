"""The Akuvox PIN settings and per-door credential switches in the configuration file:
their defaults, and the cross-checks that keep them consistent (never echoing a PIN)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.config.summary import summary
from tests.config.helpers import MINIMAL_GPIO, MINIMAL_SIMULATED, errors_of, write

SECRET_PIN = "7391"


def test_defaults_are_the_akuvox_ranges_and_every_kind_opens(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_GPIO))
    access = settings.access
    assert (access.public_pin_min_digits, access.public_pin_max_digits) == (4, 8)
    assert (access.pin_min_digits, access.pin_max_digits) == (2, 8)
    door = settings.doors[0]
    assert (door.cards_enabled, door.pins_enabled, door.qr_enabled) == (True, True, True)


def test_switches_and_lengths_load(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.replace(
        'name = "back"\nrelay_pin = 16\n', 'name = "back"\nrelay_pin = 16\nqr_enabled = false\n'
    )
    text += "[access]\npublic_pin_min_digits = 6\npublic_pin_max_digits = 6\npin_min_digits = 4\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.door("back").qr_enabled is False and settings.door("front").qr_enabled
    assert settings.access.public_pin_min_digits == 6 and settings.access.pin_min_digits == 4


@pytest.mark.parametrize(
    ("access", "message"),
    [
        (
            "public_pin_min_digits = 3\n",
            "access.public_pin_min_digits: expected an integer from 4 to 8, found 3",
        ),
        ("pin_max_digits = 9\n", "access.pin_max_digits: expected an integer from 2 to 8, found 9"),
        (
            "pin_min_digits = 6\npin_max_digits = 4\n",
            "access.pin_max_digits: expected a number not below pin_min_digits (6), found 4",
        ),
        (
            f'public_pin_min_digits = 6\npublic_pins = ["{SECRET_PIN}"]\n',
            "access.public_pins[0]: expected a PIN of 6 to 8 digits ([access] "
            "public_pin_min_digits and public_pin_max_digits), found one of 4 digits",
        ),
    ],
)
def test_pin_setting_errors(tmp_path: Path, access: str, message: str) -> None:
    path = write(tmp_path, MINIMAL_GPIO + "[access]\n" + access)
    errors = errors_of(path)
    assert f"{path}: {message}" in errors
    assert not any(SECRET_PIN in error for error in errors)


def test_a_demo_users_pin_keeps_to_the_private_length(tmp_path: Path) -> None:
    text = MINIMAL_SIMULATED + "[access]\npin_min_digits = 6\n"
    text += f'[[simulation.demo_users]]\nuser_id = "1"\npin = "{SECRET_PIN}"\n'
    path = write(tmp_path, text)
    message = (
        "simulation.demo_users[0].pin: expected a PIN of 6 to 8 digits ([access] "
        "pin_min_digits and pin_max_digits), found one of 4 digits"
    )
    assert errors_of(path) == [f"{path}: {message}"]


@pytest.mark.parametrize(
    ("door", "message"),
    [
        (
            'auth_mode = "card"\ncards_enabled = false\n',
            'doors[0].cards_enabled: expected true with auth_mode "card" (that mode asks for '
            "it), found false",
        ),
        (
            'auth_mode = "pin+card"\npins_enabled = false\n',
            'doors[0].pins_enabled: expected true with auth_mode "pin+card" (that mode asks for '
            "it), found false",
        ),
    ],
)
def test_an_auth_mode_cannot_ask_for_a_switched_off_kind(
    tmp_path: Path, door: str, message: str
) -> None:
    text = MINIMAL_GPIO.replace("relay_pin = 17\n", "relay_pin = 17\n" + door, 1)
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}: {message}"]


def test_the_summary_shows_trigger_levels_switched_off_kinds_and_relay_actions(
    tmp_path: Path,
) -> None:
    door = (
        'relay_pin = 17\nrex_pin = 22\nrex_trigger_level = "high"\nqr_enabled = false\n'
        "pins_enabled = false\n"
        '[[doors.input_actions]]\ninput = "rex"\nrelay = "lock"\nrelay_door = "back"\n'
    )
    text = MINIMAL_GPIO.replace("relay_pin = 17\n", door, 1)
    shown = summary(load_settings(write(tmp_path, text)))
    assert "exit button GPIO22 (triggers high)" in shown
    assert "refuses PINs, QR codes" in shown
    assert "1 input action(s) pulse a relay" in shown
