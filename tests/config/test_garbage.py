"""Any value at any key is an error message, never a crash of `check-config` or the daemon.

Every key of a file that uses every section and every relation (and of the shipped real-Pi
file) is replaced, one at a time, by each of a small set of wrong TOML values (other
types, empty, nested). The loader must either accept the file or list errors.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_settings
from gateway.config.loader import settings_from_document
from tests.config.helpers import GATEWAY_TOML, write

# Every section and every relation between keys, on the simulated backend.
EVERYTHING = """
[device]
id = "gw"
[hardware]
backend = "simulated"
[[doors]]
name = "front"
relay_pin = 17
contact_pin = 27
rex_pin = 22
doorbell_pin = 3
tamper_pin = 23
rex_action_delay_s = 2
rex_only_if_still_pressed = true
button_stuck_s = 10
relay_pulse_s = 60
unlock_schedule = 2
unlock_schedule_first_person = true
second_relay_pin = 8
second_relay_mode = "bell_schedule"
second_relay_schedule = 3
[[doors.input_actions]]
input = "contact"
url = "http://192.0.2.1/x"
[[doors]]
name = "back"
second_relay_mode = "doorbell"
doorbell_pin = 4
[[readers]]
name = "card"
kind = "wiegand_keypad"
door = "front"
d0_pin = 5
d1_pin = 6
formats = ["H10301", "ATS30"]
pin_frame_format = "H10306"
apb_urls = ["http://192.0.2.2/apb"]
[[readers]]
name = "kp"
kind = "matrix_keypad"
door = "back"
row_pins = [9, 10]
col_pins = [11, 12]
[[readers]]
name = "pcsc"
kind = "pcsc"
door = "back"
mifare_sector = 1
mifare_key = "FFFFFFFFFFFF"
[[wiegand_formats]]
name = "ATS30"
length = 30
data_bits = [1, 28]
facility_bits = [1, 12]
card_bits = [13, 28]
[[wiegand_formats.parity_rules]]
bit = 0
mask = "0_111111111111_0000000000000000_0"
parity = "even"
[upstream]
url = "https://192.0.2.3/verify?card={Card}"
username = "u"
password = "p"
mode = "customize"
breaker_open_s = 10
breaker_max_open_s = 20
[web]
listen = "127.0.0.1:8080"
[[web.technicians]]
username = "admin"
password = "simulate"
[http_unlock]
enabled = true
username = "opendoor"
password = "long enough"
[forwarding]
retry_initial_s = 1
retry_max_s = 10
[access]
public_pins = ["9876"]
[access.lockout]
lock_s = 10
max_lock_s = 20
[access.auto_in_out]
crowd_reset = "01:00"
[simulation]
[[simulation.demo_users]]
user_id = "1001"
cards = ["0C8707"]
pin = "1234"
"""

# Wrong in type, shape or content for some key or other.
GARBAGE: list[object] = [
    "",
    "x",
    -1,
    3.5,
    True,
    [],
    ["x"],
    [0, 0],
    [{}],
    {},
    datetime(2024, 1, 2, 3, 4, 5),
]


def _toml(value: object) -> str:
    """`value` as a TOML value (tables inline, so one line holds a whole document key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {_toml(value)}\n" for key, value in data.items())


def _locations(node: object, trail: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    """The trail (keys and indices) of every value in a parsed document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*trail, key)
            yield from _locations(value, (*trail, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield (*trail, index)
                yield from _locations(value, (*trail, index))


def _replaced(data: Any, trail: tuple[object, ...], value: object) -> Any:
    """A deep copy of `data` with the value at `trail` replaced."""
    if not trail:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    head = trail[0]
    copy[head] = _replaced(data[head], trail[1:], value)  # type: ignore[index]
    return copy


def _bases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("everything", tomllib.loads(EVERYTHING)),  # simulated backend
        ("gateway.toml", tomllib.loads(GATEWAY_TOML.read_text())),  # gpio backend
    ]


def test_the_base_document_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, EVERYTHING))
    assert len(settings.doors[0].input_actions) == 1 and settings.wiegand_formats


@pytest.mark.parametrize(("name", "data"), _bases(), ids=[name for name, _ in _bases()])
def test_any_value_anywhere_is_an_error_not_a_crash(name: str, data: dict[str, Any]) -> None:
    crashes: list[str] = []
    for trail in _locations(data):
        for value in GARBAGE:
            try:
                settings_from_document(_replaced(data, trail, value), "gateway.toml")
            except ConfigError as exc:
                assert exc.errors and all(line.startswith("gateway.toml: ") for line in exc.errors)
            except Exception as exc:  # any other exception is the failure
                crashes.append(f"{trail} = {_toml(value)}: {type(exc).__name__}: {exc}")
    assert crashes == []


def test_the_documents_are_what_the_file_would_say(tmp_path: Path) -> None:
    """The garbage is given as parsed TOML: each value is one a file can hold."""
    data = _replaced(tomllib.loads(EVERYTHING), ("doors", 0, "relay_pin"), GARBAGE)
    assert tomllib.loads(_document(data)) == data
