"""Configuration of the door keys: defaults, ranges and the rules between keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.settings import InputActionSettings
from tests.config.helpers import MINIMAL_GPIO, MINIMAL_SIMULATED, errors_of, variant, write

FRONT = 'name = "front"\nrelay_pin = 17\n'
REX_ACTION = 'rex_pin = 22\n[[doors.input_actions]]\ninput = "rex"\n'


def front(extra: str, base: str = MINIMAL_GPIO) -> str:
    """The minimal file with `extra` keys on the front door."""
    return variant(FRONT, FRONT + extra, base)


def test_door_defaults(tmp_path: Path) -> None:
    door = load_settings(write(tmp_path, MINIMAL_GPIO)).doors[0]
    assert door.lock_type == "fail_secure"
    assert door.contact_debounce_s == 0.05
    assert (door.button_debounce_s, door.button_stuck_s) == (0.05, 30)
    assert door.relock_on_close and door.rex_unlocks
    assert door.held_open_prealarm_s == 10
    assert (door.rex_action_delay_s, door.rex_only_if_still_pressed) == (0, False)
    assert (door.second_relay_mode, door.second_relay_pin) == ("disable", None)
    assert (door.unlock_schedule, door.unlock_schedule_first_person) == (None, False)
    assert door.input_actions == ()


def test_every_door_key_loads(tmp_path: Path) -> None:
    text = front(
        'lock_type = "fail_safe"\ncontact_pin = 27\ncontact_debounce_s = 0.1\n'
        "relock_on_close = false\nheld_open_prealarm_s = 0\nrex_pin = 22\n"
        "button_debounce_s = 0.1\nbutton_stuck_s = 60\n"
        "rex_unlocks = false\nrex_action_delay_s = 2\nrex_only_if_still_pressed = true\n"
        "second_relay_pin = 18\nsecond_relay_active_high = false\n"
        'second_relay_mode = "bell_schedule"\n'
        "second_relay_pulse_s = 0.5\nsecond_relay_schedule = 4\nrelay_pulse_s = 900\n"
        "unlock_schedule = 3\nunlock_schedule_first_person = true\n"
        '[[doors.input_actions]]\ninput = "contact"\nurl = "https://u:p@example.com/x?a=1"\n'
        "delay_s = 60\nonly_if_still_active = true\n"
    )
    door = load_settings(write(tmp_path, text)).doors[0]
    assert door.lock_type == "fail_safe" and door.relay_pulse_s == 900
    assert (door.button_debounce_s, door.button_stuck_s) == (0.1, 60)
    assert (door.second_relay_pin, door.second_relay_schedule, door.unlock_schedule) == (18, 4, 3)
    assert door.input_actions == (
        InputActionSettings("contact", "https://u:p@example.com/x?a=1", 60.0, True),
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "relay_pulse_s = 60\n",
            "doors[0].relay_pulse_s: expected a number from 1 to 20 (up to 1800 only with an "
            "unlock_schedule), found 60",
        ),
        (
            'lock_type = "maglock"\n',
            'doors[0].lock_type: expected one of "fail_secure", "fail_safe", found "maglock"',
        ),
        (
            "contact_debounce_s = 2\n",
            "doors[0].contact_debounce_s: expected a number from 0 to 1, found 2",
        ),
        (
            "button_debounce_s = -0.1\n",
            "doors[0].button_debounce_s: expected a number from 0 to 1, found -0.1",
        ),
        (
            "button_stuck_s = 1\n",
            "doors[0].button_stuck_s: expected a number from 5 to 3600, found 1",
        ),
        (
            "rex_action_delay_s = 40\nrex_only_if_still_pressed = true\n",
            "doors[0].button_stuck_s: expected a number greater than rex_action_delay_s (40) "
            "with rex_only_if_still_pressed, found nothing (the default is 30)",
        ),
        (
            "rex_action_delay_s = 10\nrex_only_if_still_pressed = true\nbutton_stuck_s = 10\n",
            "doors[0].button_stuck_s: expected a number greater than rex_action_delay_s (10) "
            "with rex_only_if_still_pressed, found 10",
        ),
        (
            "unlock_schedule = -1\n",
            "doors[0].unlock_schedule: expected an access right id (an integer from 0), found -1",
        ),
        (
            "unlock_schedule_first_person = true\n",
            "doors[0].unlock_schedule_first_person: only used with an unlock_schedule",
        ),
        (
            'second_relay_mode = "doorbell"\ndoorbell_pin = 26\n',
            "doors[0].second_relay_pin: expected a BCM GPIO number from 0 to 27 (required with "
            'second_relay_mode "doorbell"), found nothing',
        ),
        (
            'second_relay_pin = 18\nsecond_relay_mode = "doorbell"\n',
            "doors[0].doorbell_pin: expected a BCM GPIO number from 0 to 27 (required with "
            'second_relay_mode "doorbell": the doorbell button that pulses the relay), found '
            "nothing",
        ),
        (
            'second_relay_pin = 18\nsecond_relay_mode = "bell_schedule"\n',
            "doors[0].second_relay_schedule: expected an access right id (an integer from 0) "
            '(required with second_relay_mode "bell_schedule"), found nothing',
        ),
        (
            "second_relay_schedule = 2\n",
            'doors[0].second_relay_schedule: only used with second_relay_mode "bell_schedule"',
        ),
        (
            "second_relay_pin = 5\n",
            "readers[0].d0_pin: expected a GPIO not used elsewhere, found 5, already used by "
            "doors[0].second_relay_pin",
        ),
        (
            '[[doors.input_actions]]\ninput = "tamper"\nurl = "http://192.0.2.1/x"\n',
            "doors[0].input_actions[0].input: expected an input wired on this door (set "
            'tamper_pin), found "tamper"',
        ),
        (
            'contact_pin = 27\n[[doors.input_actions]]\ninput = "contact"\nurl = "ftp://192.0.2.1/x"\n',
            'doors[0].input_actions[0].url: expected empty (no HTTP action) or an "http://" or '
            '"https://" URL with a host, found "ftp://192.0.2.1/x"',
        ),
        (
            REX_ACTION,
            'doors[0].input_actions[0].url: expected a URL, a relay = "lock" or "second", an '
            "ftp_url or email = true (an action that does something), found nothing",
        ),
        (
            REX_ACTION + 'relay = "lock"\nrelay_door = "side"\n',
            "doors[0].input_actions[0].relay_door: expected the name of a [[doors]] entry, "
            'found "side"',
        ),
        (
            REX_ACTION + 'relay = "second"\n',
            "doors[0].second_relay_pin: expected a BCM GPIO number from 0 to 27 (required: an "
            "input action pulses this second relay), found nothing",
        ),
        (
            REX_ACTION + 'url = "http://192.0.2.1/x"\nrelay_door = "front"\n',
            'doors[0].input_actions[0].relay_door: only used with relay = "lock" or "second"',
        ),
        (
            REX_ACTION + 'relay = "lock"\ndelay_s = 30\nonly_if_still_active = true\n',
            "doors[0].input_actions[0].delay_s: expected a number smaller than button_stuck_s "
            "(30) with only_if_still_active: a button held longer counts as stuck and never "
            "acts, found 30",
        ),
        (
            'contact_pin = 27\n[[doors.input_actions]]\ninput = "door"\nurl = "http://192.0.2.1/x"\n',
            'doors[0].input_actions[0].input: expected one of "contact", "rex", "tamper", '
            '"doorbell", found "door" (did you mean "doorbell"?)',
        ),
    ],
)
def test_door_key_errors(tmp_path: Path, extra: str, message: str) -> None:
    path = write(tmp_path, front(extra))
    assert f"{path}: {message}" in errors_of(path)


def test_too_many_input_actions(tmp_path: Path) -> None:
    action = '[[doors.input_actions]]\ninput = "contact"\nurl = "http://192.0.2.1/x"\n'
    path = write(tmp_path, front("contact_pin = 27\n" + action * 9))
    assert any("at most 8 [[doors.input_actions]] entries" in e for e in errors_of(path))


def test_second_relay_needs_no_pin_on_the_simulated_backend(tmp_path: Path) -> None:
    text = front('second_relay_mode = "doorbell"\ndoorbell_pin = 26\n', MINIMAL_SIMULATED)
    door = load_settings(write(tmp_path, text)).doors[0]
    assert (door.second_relay_mode, door.doorbell_pin) == ("doorbell", 26)
