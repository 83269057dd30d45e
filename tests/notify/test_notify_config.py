"""[notifications] and [smtp]: a bad mail configuration stops start-up with a clear error,
before any alarm could be lost to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from tests.config.helpers import MINIMAL_GPIO, errors_of, write

MAIL = """
[notifications]
enabled = true
sender = "gateway@example.com"
to = ["security@example.com"]

[smtp]
host = "mail.example.com"
username = "gateway"
password = "not-shown-anywhere"
"""


def test_a_complete_mail_configuration_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_GPIO + MAIL))
    assert settings.notifications.enabled
    assert settings.notifications.to == ("security@example.com",)
    assert settings.smtp.tls == "starttls"  # TLS unless told otherwise
    assert "not-shown-anywhere" not in repr(settings)


def test_enabled_without_a_server_sender_or_recipient_says_each(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + "[notifications]\nenabled = true\n"
    errors = errors_of(write(tmp_path, text))
    assert any("notifications.sender" in e and "From:" in e for e in errors), errors
    assert any("notifications.to" in e and "at least one address" in e for e in errors), errors
    assert any("smtp.host" in e and "mail server" in e for e in errors), errors


def test_a_bad_address_is_named(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + MAIL.replace('"security@example.com"', '"security at example"')
    (error,) = errors_of(write(tmp_path, text))
    assert "notifications.to[0]" in error and "e-mail address" in error


def test_plain_smtp_with_a_password_is_refused_and_the_password_never_echoed(
    tmp_path: Path,
) -> None:
    text = MINIMAL_GPIO + MAIL + 'tls = "off"\n'
    errors = errors_of(write(tmp_path, text))
    assert any("smtp.tls" in e and "in clear" in e for e in errors), errors
    assert not any("not-shown-anywhere" in e for e in errors)


def test_plain_smtp_is_only_for_a_relay_on_this_machine(tmp_path: Path) -> None:
    relay = MAIL.replace('username = "gateway"\npassword = "not-shown-anywhere"\n', "")
    lan = MINIMAL_GPIO + relay + 'tls = "off"\n'
    (error,) = errors_of(write(tmp_path, lan))
    assert "smtp.tls" in error and "mail.example.com" in error
    for loopback in ("127.0.0.1", "::1", "localhost"):
        local = lan.replace('host = "mail.example.com"', f'host = "{loopback}"')
        assert load_settings(write(tmp_path, local)).smtp.host == loopback


def test_a_password_without_a_username_is_refused(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + MAIL.replace('username = "gateway"\n', "")
    (error,) = errors_of(write(tmp_path, text))
    assert "smtp.password" in error and "username" in error
    assert "not-shown-anywhere" not in error


def test_an_unknown_reason_is_refused_with_a_hint(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + MAIL.replace("[smtp]", 'reasons = ["forced_opne"]\n\n[smtp]')
    (error,) = errors_of(write(tmp_path, text))
    assert "notifications.reasons[0]" in error and 'did you mean "forced_open"' in error


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_per_minute", "0", "an integer from 1 to 60"),
        ("gather_s", "61", "a number from 0 to 60"),
        ("event_types", '["alarms"]', "one of"),
    ],
)
def test_out_of_range_values_are_named(tmp_path: Path, key: str, value: str, expected: str) -> None:
    text = MINIMAL_GPIO + MAIL.replace("[smtp]", f"{key} = {value}\n\n[smtp]")
    (error,) = errors_of(write(tmp_path, text))
    assert f"notifications.{key}" in error and expected in error


def test_retry_ceiling_below_the_first_retry_is_refused(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + MAIL.replace("[smtp]", "retry_initial_s = 60\nretry_max_s = 30\n\n[smtp]")
    (error,) = errors_of(write(tmp_path, text))
    assert "notifications.retry_max_s" in error and "not below retry_initial_s" in error


EMAIL_ACTION = """
[[doors.input_actions]]
input = "contact"
email = true
delay_s = 60
only_if_still_active = true
"""


def test_an_email_input_action_needs_notifications(tmp_path: Path) -> None:
    base = MINIMAL_GPIO.replace("relay_pin = 17\n", "relay_pin = 17\ncontact_pin = 27\n")
    door = base.replace('\n[[doors]]\nname = "back"', EMAIL_ACTION + '\n[[doors]]\nname = "back"')
    (error,) = errors_of(write(tmp_path, door))
    assert "doors[0].input_actions[0].email" in error and "[notifications]" in error
    settings = load_settings(write(tmp_path, door + MAIL))
    (action,) = settings.doors[0].input_actions
    assert action.email and action.url == "" and action.only_if_still_active


def test_an_input_action_that_does_nothing_is_refused(tmp_path: Path) -> None:
    base = MINIMAL_GPIO.replace("relay_pin = 17\n", "relay_pin = 17\ncontact_pin = 27\n")
    action = '\n[[doors.input_actions]]\ninput = "contact"\n'
    text = base.replace('\n[[doors]]\nname = "back"', action + '\n[[doors]]\nname = "back"')
    (error,) = errors_of(write(tmp_path, text))
    assert "doors[0].input_actions[0]" in error and "an ftp_url or email = true" in error


def test_a_ca_file_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    text = MINIMAL_GPIO + MAIL + f'ca_file = "{garbage}"\n'
    (error,) = errors_of(write(tmp_path, text))
    assert "smtp.ca_file" in error and "not a usable PEM CA file" in error
