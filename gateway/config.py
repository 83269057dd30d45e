"""TOML configuration -> typed, validated `gateway.settings.Settings`.

`load_settings` reads the file with the standard library's `tomllib` and checks it in two
passes, collecting *every* problem rather than stopping at the first:

1. the schema pass walks the settings dataclasses (their field names, types and defaults
   are the schema) together with the per-key rules below: unknown keys, wrong types,
   values out of range;
2. the cross-check pass looks at relations between keys: unique names and GPIO pins,
   readers that name a door, keys a reader kind needs or cannot use, what the hardware
   backend allows.

Every message reads `FILE: dotted.key.path: what was expected, what was found`, e.g.
`config/gateway.toml: doors[0].relay_pulse_s: expected a number from 1 to 1800, found 0`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import json
import math
import os
import re
import sys
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.accounts import MIN_PASSWORD_LEN, SIMULATION_PASSWORD
from gateway.cardnumbers import CARD_FORMATS
from gateway.hw.formats import (
    FORMATS,
    MAX_FRAME_BITS,
    BitRange,
    format_from_settings,
    mask_bits,
)
from gateway.model import ADMIN_LEVELS, MAX_PUBLIC_PINS, PUBLIC_PIN_DIGITS
from gateway.passwords import weakness
from gateway.settings import (
    RELAY_PULSE_NORMAL_MAX_S,
    AccessSettings,
    AutoInOutSettings,
    DemoUser,
    DeviceSettings,
    DoorSettings,
    ForwardingSettings,
    HardwareSettings,
    HttpUnlockSettings,
    InputActionSettings,
    JournalSettings,
    LockoutSettings,
    ParityRuleSettings,
    ReaderSettings,
    Settings,
    TechnicianSettings,
    UpstreamSettings,
    WebSettings,
    WiegandFormatSettings,
)
from gateway.store.journal import ADMIN_SHARE_DIVISOR

__all__ = [
    "GPIO_MAX",
    "GPIO_MIN",
    "READER_COMMON_KEYS",
    "READER_GPIO_REQUIRED",
    "READER_KIND_KEYS",
    "UPSTREAM_METHODS",
    "UPSTREAM_PLACEHOLDERS",
    "ConfigError",
    "check_config_command",
    "load_settings",
    "summary",
]

GPIO_MIN, GPIO_MAX = 0, 27  # BCM numbers of the 40-pin header's GPIOs
UPSTREAM_METHODS: tuple[str, ...] = ("card", "pin", "qr", "face")
UPSTREAM_PLACEHOLDERS: tuple[str, ...] = (
    "QRCode",
    "Card",
    "CardCode",
    "Pin",
    "PINCode",
    "Face",
    "FaceData",
    "DeviceID",
    "Token",
    "Type",
    "Time",
    "Session",  # door-gateway extension: a random id shared by both two-factor requests
    "Step",  # door-gateway extension: 1 or 2 in a two-factor exchange
)
MAX_APB_URLS = 10  # the Akuvox authentication device's limit
KEYPAD_BURST_BITS: tuple[int, ...] = (4, 8)
WIEGAND_MIN_BITS = 16  # a custom format shorter than this would collide with keypad bursts

# Which reader keys each kind uses (besides the common ones), and which of them a real
# (gpio) backend cannot do without.
READER_COMMON_KEYS: tuple[str, ...] = (
    "name",
    "kind",
    "door",
    "direction",
    "led_green_pin",
    "led_red_pin",
    "beeper_pin",
    "apb_urls",
)
READER_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "wiegand": ("d0_pin", "d1_pin", "formats", "swap_d0_d1", "card_display_format"),
    "wiegand_keypad": (
        "d0_pin",
        "d1_pin",
        "formats",
        "swap_d0_d1",
        "keypad_burst_bits",
        "pin_frame_format",
        "pin_timeout_s",
        "card_display_format",
    ),
    "serial": (
        "port",
        "baudrate",
        "protocol",
        "credential_kind",
        "line_pattern",
        "card_byte_order",
        "card_bytes",
        "debounce_s",
        "card_display_format",
    ),
    "nfc": ("device", "card_byte_order", "card_bytes", "debounce_s", "card_display_format"),
    "pcsc": (
        "device",
        "card_byte_order",
        "card_bytes",
        "debounce_s",
        "mifare_sector",
        "mifare_block",
        "mifare_key",
        "mifare_key_type",
        "card_display_format",
    ),
    "matrix_keypad": ("row_pins", "col_pins", "keymap", "pin_timeout_s"),
}
READER_GPIO_REQUIRED: dict[str, tuple[str, ...]] = {
    "wiegand": ("d0_pin", "d1_pin"),
    "wiegand_keypad": ("d0_pin", "d1_pin"),
    "serial": ("port",),
    "nfc": ("device",),
    "matrix_keypad": ("row_pins", "col_pins"),
}

_REQUIRED_READER_TEXT: dict[str, str] = {
    "d0_pin": f"a BCM GPIO number from {GPIO_MIN} to {GPIO_MAX}",
    "d1_pin": f"a BCM GPIO number from {GPIO_MIN} to {GPIO_MAX}",
    "row_pins": "an array of 1 to 8 distinct BCM GPIO numbers",
    "col_pins": "an array of 1 to 8 distinct BCM GPIO numbers",
    "port": 'a serial port such as "/dev/ttyUSB0"',
    "device": 'an nfcpy device such as "usb" or "tty:AMA0:pn532"',
}
# Keys whose values are never echoed in messages.
_SECRET_KEYS = frozenset({"password", "pin", "mifare_key", "bearer_token", "public_pins"})
_NOT_IN_FILE: dict[tuple[type, str], object] = {(Settings, "path"): ""}  # set afterwards
_OPTIONAL_DEFAULTS: dict[tuple[type, str], object] = {(Settings, "readers"): ()}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]\Z")
_HEX_BYTES = re.compile(r"(?:[0-9A-Fa-f]{2}){1,16}\Z")
_PIN_DIGITS = re.compile(r"[0-9]{4,8}\Z")
_PUBLIC_PIN = re.compile(f"[0-9]{{{PUBLIC_PIN_DIGITS[0]},{PUBLIC_PIN_DIGITS[1]}}}\\Z")
_PUBLIC_PIN_TEXT = (
    f'a PIN of {PUBLIC_PIN_DIGITS[0]} to {PUBLIC_PIN_DIGITS[1]} digits in quotes ("0123")'
)
_MASK = re.compile(r"[01]([01_ ]*[01])?\Z")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*\Z")


class ConfigError(Exception):
    """The configuration cannot be used; `errors` holds one line per problem found."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))


# --------------------------------------------------------------------------- rules


class _Invalid:
    """Marker for a value that failed its check (the error is already reported)."""


_INVALID = _Invalid()
_NOTHING = object()  # "found nothing": a required key is missing


@dataclass(frozen=True)
class _Rule:
    """What a key's value must be, beyond its type: a phrase for messages and a test."""

    expected: str
    check: Callable[[Any], bool]
    choices: Callable[[], Iterable[str]] | None = None  # for "did you mean" hints


def _fmt_number(value: float) -> str:
    """1800 as "1800", 0.1 as "0.1"."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _number(low: float, high: float) -> _Rule:
    """A number (int or float) within [low, high]."""
    text = f"a number from {_fmt_number(low)} to {_fmt_number(high)}"
    return _Rule(text, lambda v: low <= v <= high)


def _integer(low: int, high: int) -> _Rule:
    """An integer within [low, high]."""
    return _Rule(f"an integer from {low} to {high}", lambda v: low <= v <= high)


def _choice(options: Iterable[str]) -> _Rule:
    """One of a fixed set of strings."""
    values = tuple(options)
    text = "one of " + ", ".join(json.dumps(v) for v in values)
    return _Rule(text, lambda v: v in values, lambda: values)


def _pattern(regex: re.Pattern[str], text: str) -> _Rule:
    """A string matching `regex` completely."""
    return _Rule(text, lambda v: regex.match(v) is not None)


def _distinct(text: str, low: int, high: int) -> _Rule:
    """An array of `low`..`high` items, no item twice."""
    return _Rule(text, lambda v: low <= len(v) <= high and len(set(v)) == len(v))


def _is_line_pattern(pattern: str) -> bool:
    """True for a compilable regex with at most one capturing group."""
    try:
        return re.compile(pattern).groups <= 1
    except re.error:
        return False


def _is_keymap(keys: str) -> bool:
    """True for 12 or 16 distinct keypad keys."""
    return (
        len(keys) in (12, 16)
        and len(set(keys)) == len(keys)
        and set(keys) <= set("0123456789*#ABCD")
    )


def _is_timezone(name: str) -> bool:
    """True when zoneinfo knows the IANA zone `name`."""
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return False
    return True


def _is_upstream_url(url: str) -> bool:
    """Empty, or an http(s) URL with a host."""
    if url == "":
        return True
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _is_time_format(fmt: str) -> bool:
    """A strftime format of at most 64 characters that formats a date without error."""
    try:
        datetime(2000, 1, 2, 3, 4, 5).strftime(fmt)
    except ValueError:
        return False
    return len(fmt) <= 64


def _is_readable_file(path: str) -> bool:
    """Empty, or a file this process can read (checked at start-up, not at each request)."""
    return path == "" or (os.path.isfile(path) and os.access(path, os.R_OK))


def _is_header_token(token: str) -> bool:
    """Empty, or printable ASCII without spaces: safe inside an HTTP header."""
    return all(33 <= ord(char) <= 126 for char in token)


def _is_hostname(host: str) -> bool:
    """An IPv4 address, or a DNS name made of RFC 1123 labels."""
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def _split_listen(listen: str) -> tuple[str, int] | None:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port); None when malformed."""
    if listen.startswith("["):
        host, sep, port = listen[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port = listen.rpartition(":")
        if not _is_hostname(host):
            return None
    if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


_NAME_TEXT = "a name of 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_PIN_RULE = _Rule(
    f"a BCM GPIO number from {GPIO_MIN} to {GPIO_MAX}", lambda v: GPIO_MIN <= v <= GPIO_MAX
)
_PINS_RULE = _distinct("an array of 1 to 8 distinct BCM GPIO numbers", 1, 8)
_POSITIVE = _Rule("a number greater than 0", lambda v: v > 0)
_NON_EMPTY = _Rule("a non-empty string", lambda v: v != "")
_NAME_RULE = _pattern(_NAME, _NAME_TEXT)
_RIGHT_ID = _integer(0, 2**31 - 1)
_RIGHT_ID_TEXT = "an access right id (an integer from 0)"
MAX_INPUT_ACTIONS = 8
# Which key wires each input an input action can watch.
_ACTION_INPUT_PINS: dict[str, str] = {
    "contact": "contact_pin",
    "rex": "rex_pin",
    "tamper": "tamper_pin",
    "doorbell": "doorbell_pin",
}
_BIT_INDEX_RULE = _integer(0, MAX_FRAME_BITS - 1)


def _is_bit_range(value: Any) -> bool:
    """[first, last] with first <= last (items are checked as bit indices on their own)."""
    return len(value) == 2 and value[0] <= value[1]


_BIT_RANGE_RULE = _Rule("[first, last], two bit indices with first <= last", _is_bit_range)

_RULES: dict[tuple[type, str], _Rule] = {
    (DeviceSettings, "id"): _NAME_RULE,
    (DeviceSettings, "timezone"): _Rule(
        'an IANA time zone name such as "Europe/London"',
        _is_timezone,
        lambda: sorted(zoneinfo.available_timezones()),
    ),
    (DeviceSettings, "state_dir"): _NON_EMPTY,
    (DoorSettings, "name"): _NAME_RULE,
    (DoorSettings, "relay_pulse_s"): _number(1, 1800),
    (DoorSettings, "door_open_timeout_s"): _number(1, 3600),
    (DoorSettings, "contact_debounce_s"): _number(0, 1),
    (DoorSettings, "button_debounce_s"): _number(0, 1),
    (DoorSettings, "button_stuck_s"): _number(5, 3600),
    (DoorSettings, "held_open_prealarm_s"): _number(0, 3600),
    (DoorSettings, "rex_action_delay_s"): _number(0, 60),
    (DoorSettings, "second_relay_pulse_s"): _number(0.1, 60),
    (DoorSettings, "second_relay_schedule"): _Rule(_RIGHT_ID_TEXT, _RIGHT_ID.check),
    (DoorSettings, "unlock_schedule"): _Rule(_RIGHT_ID_TEXT, _RIGHT_ID.check),
    (DoorSettings, "input_actions"): _Rule(
        f"at most {MAX_INPUT_ACTIONS} [[doors.input_actions]] entries",
        lambda v: len(v) <= MAX_INPUT_ACTIONS,
    ),
    (InputActionSettings, "url"): _Rule(
        'an "http://" or "https://" URL with a host', lambda v: v != "" and _is_upstream_url(v)
    ),
    (InputActionSettings, "delay_s"): _number(0, 3600),
    (ReaderSettings, "name"): _NAME_RULE,
    (ReaderSettings, "door"): _Rule("the name of a [[doors]] entry", _NAME_RULE.check),
    (ReaderSettings, "formats"): _distinct("an array of 1 to 8 distinct Wiegand formats", 1, 8),
    (ReaderSettings, "formats[]"): _Rule("the name of a Wiegand format", _NAME_RULE.check),
    (ReaderSettings, "pin_frame_format"): _Rule(
        "empty or the name of a Wiegand format", lambda v: v == "" or _NAME_RULE.check(v)
    ),
    (ReaderSettings, "keypad_burst_bits"): _distinct("an array of distinct bit counts", 1, 2),
    (ReaderSettings, "keypad_burst_bits[]"): _Rule(
        "4 or 8 (bits per key press)", lambda v: v in KEYPAD_BURST_BITS
    ),
    (ReaderSettings, "baudrate"): _integer(50, 4_000_000),
    (ReaderSettings, "line_pattern"): _Rule(
        "a regular expression with at most one group", _is_line_pattern
    ),
    (ReaderSettings, "card_bytes"): _integer(0, 10),
    (ReaderSettings, "debounce_s"): _number(0, 60),
    (ReaderSettings, "mifare_sector"): _integer(0, 15),
    (ReaderSettings, "mifare_block"): _integer(0, 3),
    (ReaderSettings, "mifare_key"): _pattern(
        re.compile(r"^$|^[0-9A-Fa-f]{12}$"), "empty or 12 hex digits (a 6-byte MIFARE key)"
    ),
    (ReaderSettings, "keymap"): _Rule("12 or 16 distinct keys from 0-9, *, #, A-D", _is_keymap),
    (ReaderSettings, "pin_timeout_s"): _number(1, 300),
    (ReaderSettings, "card_display_format"): _Rule(
        "empty (the canonical hex) or a card display format ("
        + ", ".join(json.dumps(name) for name in CARD_FORMATS)
        + ")",
        lambda v: v == "" or v in CARD_FORMATS,
        lambda: CARD_FORMATS,
    ),
    (ReaderSettings, "apb_urls"): _Rule(
        f"an array of at most {MAX_APB_URLS} URLs", lambda v: len(v) <= MAX_APB_URLS
    ),
    (ReaderSettings, "apb_urls[]"): _Rule(
        'an "http://" or "https://" URL with a host', lambda v: v != "" and _is_upstream_url(v)
    ),
    (UpstreamSettings, "url"): _Rule(
        'empty (no upstream) or an "http://" or "https://" URL', _is_upstream_url
    ),
    (UpstreamSettings, "timeout_s"): _number(0.1, 30),
    (UpstreamSettings, "methods"): _distinct(
        "an array of 1 to 4 distinct verification methods", 1, 4
    ),
    (UpstreamSettings, "methods[]"): _choice(UPSTREAM_METHODS),
    (UpstreamSettings, "time_format"): _Rule(
        'empty (ISO 8601) or a strftime format of at most 64 characters such as "%Y%m%d%H%M%S"',
        _is_time_format,
    ),
    (UpstreamSettings, "ca_file"): _Rule("empty or a readable PEM file", _is_readable_file),
    (UpstreamSettings, "username"): _Rule(
        "a user name without ':' or control characters",
        lambda v: ":" not in v and v.isprintable(),
    ),
    (UpstreamSettings, "bearer_token"): _Rule(
        "empty or printable ASCII without spaces", _is_header_token
    ),
    (UpstreamSettings, "max_body_bytes"): _integer(1024, 1_048_576),
    (UpstreamSettings, "breaker_failures"): _integer(1, 100),
    (UpstreamSettings, "breaker_open_s"): _number(1, 300),
    (UpstreamSettings, "breaker_max_open_s"): _number(1, 3600),
    (UpstreamSettings, "cache_grants_s"): _number(0, 86400),
    (UpstreamSettings, "cache_max_entries"): _integer(1, 1_000_000),
    (TechnicianSettings, "username"): _pattern(
        _USERNAME, "a user name of 1 to 64 letters, digits, '.', '_', '@' or '-'"
    ),
    (TechnicianSettings, "level"): _choice(ADMIN_LEVELS),
    (WebSettings, "listen"): _Rule(
        'HOST:PORT such as "127.0.0.1:8080", "[::1]:8080" or "gateway.local:8080" '
        "(port 1 to 65535)",
        lambda v: _split_listen(v) is not None,
    ),
    (WebSettings, "token_idle_s"): _number(60, 86400),
    (HttpUnlockSettings, "username"): _Rule(
        "a user name of at most 64 characters without ':' or control characters",
        lambda v: len(v) <= 64 and ":" not in v and v.isprintable(),
    ),
    (HttpUnlockSettings, "password"): _Rule(
        "a password of at most 128 printable characters",
        lambda v: len(v) <= 128 and v.isprintable(),
    ),
    (HttpUnlockSettings, "card_format"): _Rule(
        "empty (canonical hex) or a card display format ("
        + ", ".join(json.dumps(name) for name in CARD_FORMATS)
        + ")",
        lambda v: v == "" or v in CARD_FORMATS,
        lambda: CARD_FORMATS,
    ),
    (JournalSettings, "max_events"): _integer(10_000, 1_000_000),
    (ForwardingSettings, "batch_size"): _integer(1, 1000),
    (ForwardingSettings, "timeout_s"): _number(1, 120),
    (ForwardingSettings, "retry_initial_s"): _number(0.1, 60),
    (ForwardingSettings, "retry_max_s"): _number(1, 3600),
    (ForwardingSettings, "idle_poll_s"): _number(0.5, 60),
    (ForwardingSettings, "backlog_alarm"): _integer(1, 1_000_000),
    (LockoutSettings, "max_failures"): _integer(1, 1000),
    (LockoutSettings, "window_s"): _POSITIVE,
    (LockoutSettings, "lock_s"): _POSITIVE,
    (LockoutSettings, "max_lock_s"): _POSITIVE,
    (LockoutSettings, "reset_after_s"): _POSITIVE,
    (AutoInOutSettings, "reject_repeat_s"): _integer(1, 86400),
    (AutoInOutSettings, "lunch_break_min"): _integer(1, 120),
    (AutoInOutSettings, "crowd_limit"): _integer(1, 65535),
    (AutoInOutSettings, "crowd_reset"): _pattern(_HHMM, 'a local time "HH:MM" (00:00 to 23:59)'),
    (AccessSettings, "two_factor_timeout_s"): _number(1, 300),
    # Explicit rules: the `_pins` suffix would otherwise make these GPIO numbers.
    (AccessSettings, "public_pins"): _Rule(
        f"an array of at most {MAX_PUBLIC_PINS} public PINs", lambda v: len(v) <= MAX_PUBLIC_PINS
    ),
    (AccessSettings, "public_pins[]"): _pattern(_PUBLIC_PIN, _PUBLIC_PIN_TEXT),
    (WiegandFormatSettings, "name"): _NAME_RULE,
    (WiegandFormatSettings, "length"): _integer(WIEGAND_MIN_BITS, MAX_FRAME_BITS),
    (WiegandFormatSettings, "data_bits"): _BIT_RANGE_RULE,
    (WiegandFormatSettings, "data_bits[]"): _BIT_INDEX_RULE,
    (WiegandFormatSettings, "card_bits"): _BIT_RANGE_RULE,
    (WiegandFormatSettings, "card_bits[]"): _BIT_INDEX_RULE,
    (WiegandFormatSettings, "facility_bits"): _Rule(
        f"[] (no facility) or {_BIT_RANGE_RULE.expected}", lambda v: v == [] or _is_bit_range(v)
    ),
    (WiegandFormatSettings, "facility_bits[]"): _BIT_INDEX_RULE,
    (ParityRuleSettings, "bit"): _BIT_INDEX_RULE,
    (ParityRuleSettings, "mask"): _pattern(
        _MASK, "a string of 0 and 1, one per frame bit (1 = covered; '_' or spaces may group)"
    ),
    (DemoUser, "user_id"): _NAME_RULE,
    (DemoUser, "cards[]"): _pattern(
        _HEX_BYTES, "a card number of 1 to 16 whole bytes in hex (2, 4, ... 32 hex digits)"
    ),
    (DemoUser, "pin"): _Rule(
        "empty or a PIN of 4 to 8 digits", lambda v: v == "" or bool(_PIN_DIGITS.match(v))
    ),
    (Settings, "doors"): _Rule("at least one [[doors]] entry", lambda v: len(v) > 0),
}


def _rule_for(cls: type, name: str) -> _Rule | None:
    """The rule of `cls.name` ("name[]" for array items); GPIO keys are found by name."""
    rule = _RULES.get((cls, name))
    if rule is not None:
        return rule
    if name.endswith("_pin") or name.endswith("_pins[]"):
        return _PIN_RULE
    if name.endswith("_pins"):
        return _PINS_RULE
    return None


# --------------------------------------------------------------------------- messages


def _join(path: str, key: str) -> str:
    """`doors[0]` + `relay_pin` -> `doors[0].relay_pin`, quoting keys that need it."""
    part = key if _BARE_KEY.match(key) else json.dumps(key)
    return f"{path}.{part}" if path else part


def _render(value: object, secret: bool = False) -> str:
    """A found value as it would be written in TOML (secrets only by their type)."""
    if value is _NOTHING:
        return "nothing"
    if isinstance(value, dict):
        return "a table"
    if secret:
        if isinstance(value, list):
            return f"an array of {len(value)} values that are not shown"
        return "a value that is not shown" if isinstance(value, str) else _type_name(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 80 else value[:77] + "...", ensure_ascii=False)
    if isinstance(value, list):
        text = "[" + ", ".join(_render(item) for item in value) + "]"
        return text if len(text) <= 80 else f"an array of {len(value)} items"
    if isinstance(value, (datetime, date, time)):
        return f"{value.isoformat()} (a date/time)"
    return repr(value)


def _type_name(value: object) -> str:
    """ "a string", "an integer", ... for a TOML value."""
    names = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return "an array" if isinstance(value, list) else "a value"


def _hint(found: object, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when `found` is close to one of `choices`."""
    if not isinstance(found, str):
        return ""
    close = difflib.get_close_matches(found, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class _Report:
    """Collects messages for one file; remembers which key paths were already reported."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[str] = []
        self.bad_paths: set[str] = set()

    def add(self, path: str, message: str) -> None:
        """Record `FILE: path: message`."""
        self.bad_paths.add(path)
        where = f"{path}: " if path else ""
        self.errors.append(f"{self.label}: {where}{message}")

    def expected(self, path: str, expected: str, found: object, hint: str = "") -> None:
        """Record `FILE: path: expected X, found Y`."""
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]  # "public_pins[1]" -> "public_pins"
        secret = key in _SECRET_KEYS
        self.add(path, f"expected {expected}, found {_render(found, secret)}{hint}")


# --------------------------------------------------------------------------- reading


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    """Parse the file; an unreadable file or a syntax error raises ConfigError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"{label}: cannot read the configuration file: {reason}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        message = (
            f"{label}: line {line}, column {column}: not UTF-8 text (byte 0x{raw[exc.start]:02X})"
        )
        raise ConfigError([message]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_message(label, str(exc), text)]) from None


def _syntax_message(label: str, message: str, text: str) -> str:
    """tomllib's "msg (at line L, column C)" as "FILE: line L, column C: msg"."""
    match = _POSITION.search(message)
    if match is None:
        return f"{label}: {message}"
    reason = message[: match.start()]
    if match.group(1) is not None:
        line, column = int(match.group(1)), int(match.group(2))
    else:  # "at end of document": point just past the last character
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"{label}: line {line}, column {column}: {reason}"


# --------------------------------------------------------------------------- schema pass


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a settings dataclass."""
    return typing.get_type_hints(cls)


def _file_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The dataclass fields that are keys in the file."""
    return [f for f in dataclasses.fields(cls) if (cls, f.name) not in _NOT_IN_FILE]


def _is_required(cls: type, fld: dataclasses.Field[Any]) -> bool:
    """A field with no default (and no default in `_OPTIONAL_DEFAULTS`) must be given."""
    has_default = fld.default is not dataclasses.MISSING
    has_factory = fld.default_factory is not dataclasses.MISSING
    return not (has_default or has_factory or (cls, fld.name) in _OPTIONAL_DEFAULTS)


def _strip_optional(tp: Any) -> Any:
    """`int | None` -> `int` (TOML has no null: a missing key is the None)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _describe(tp: Any, path: str) -> str:
    """What a value of type `tp` looks like, for messages."""
    tp = _strip_optional(tp)
    if dataclasses.is_dataclass(tp):
        return f"a [{path}] section"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return _describe_array(typing.get_args(tp)[0], path)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, "a value")


def _describe_array(item: Any, path: str) -> str:
    """What an array of `item` values looks like, for messages."""
    if dataclasses.is_dataclass(item):
        return f"an array of tables ([[{path}]])"
    return {str: "an array of strings", int: "an array of integers"}.get(item, "an array")


def _scalar(tp: Any, raw: object) -> object:
    """`raw` as a value of scalar type `tp`, or _INVALID (bool is never an int)."""
    if tp is bool:
        return raw if isinstance(raw, bool) else _INVALID
    if isinstance(raw, bool):
        return _INVALID
    if tp is int:
        return raw if isinstance(raw, int) else _INVALID
    if tp is float:
        if isinstance(raw, (int, float)) and math.isfinite(raw):
            return float(raw)
        return _INVALID
    if tp is str:
        return raw if isinstance(raw, str) else _INVALID
    if typing.get_origin(tp) is Literal:
        return raw if isinstance(raw, str) and raw in typing.get_args(tp) else _INVALID
    raise TypeError(f"settings type {tp!r} has no TOML conversion")


class _Schema:
    """The schema pass: raw TOML values -> settings dataclasses, reporting every problem."""

    def __init__(self, report: _Report) -> None:
        self.report = report

    def table(self, cls: type, raw: object, path: str) -> Any:
        """A TOML table as an instance of dataclass `cls`, or _INVALID."""
        if not isinstance(raw, dict):
            self.report.expected(path, _describe(cls, path), raw)
            return _INVALID
        fields = _file_fields(cls)
        self.unknown_keys(raw, [f.name for f in fields], path)
        values = {name: value for (c, name), value in _NOT_IN_FILE.items() if c is cls}
        for fld in fields:
            values[fld.name] = self.field(cls, fld, raw, _join(path, fld.name))
        if any(value is _INVALID for value in values.values()):
            return _INVALID
        return cls(**values)

    def field(self, cls: type, fld: dataclasses.Field[Any], raw: dict[str, Any], path: str) -> Any:
        """One key of a table: its converted value, its default, or _INVALID."""
        if fld.name in raw:
            return self.value(cls, fld.name, _hints(cls)[fld.name], raw[fld.name], path)
        if (cls, fld.name) in _OPTIONAL_DEFAULTS:
            return _OPTIONAL_DEFAULTS[(cls, fld.name)]
        if _is_required(cls, fld):
            rule = _rule_for(cls, fld.name)
            tp = _hints(cls)[fld.name]
            self.report.expected(path, rule.expected if rule else _describe(tp, path), _NOTHING)
            return _INVALID
        return self.default(fld)

    @staticmethod
    def default(fld: dataclasses.Field[Any]) -> Any:
        """The dataclass default of a field that is not in the file."""
        if fld.default_factory is not dataclasses.MISSING:
            return fld.default_factory()
        return fld.default

    def value(self, cls: type, name: str, tp: Any, raw: object, path: str) -> Any:
        """Convert and check one value of type `tp` (key `name` of `cls`)."""
        tp = _strip_optional(tp)
        if dataclasses.is_dataclass(tp):
            return self.table(typing.cast(type, tp), raw, path)
        if typing.get_origin(tp) is tuple:
            return self.array(cls, name, typing.get_args(tp)[0], raw, path)
        rule = _rule_for(cls, name)
        value = _scalar(tp, raw)
        if value is _INVALID or (rule is not None and not rule.check(value)):
            self.mismatch(tp, rule, raw, path)
            return _INVALID
        return value

    def array(self, cls: type, name: str, item_tp: Any, raw: object, path: str) -> Any:
        """A TOML array as a tuple, each item checked; then the rule on the whole."""
        rule = _rule_for(cls, name)
        if not isinstance(raw, list):
            expected = rule.expected if rule else _describe_array(item_tp, path)
            tables = isinstance(raw, dict) and dataclasses.is_dataclass(item_tp)
            hint = f" (write [[{path}]] for each entry, not [{path}])" if tables else ""
            self.report.expected(path, expected, raw, hint)
            return _INVALID
        items = [
            self.value(cls, f"{name}[]", item_tp, item, f"{path}[{index}]")
            for index, item in enumerate(raw)
        ]
        if any(item is _INVALID for item in items):
            return _INVALID
        if rule is not None and not rule.check(items):
            self.report.expected(path, rule.expected, raw)
            return _INVALID
        return tuple(items)

    def mismatch(self, tp: Any, rule: _Rule | None, raw: object, path: str) -> None:
        """Report a value of the wrong type or outside its rule, with a hint if close."""
        if rule is not None:
            choices = rule.choices() if rule.choices else ()
            self.report.expected(path, rule.expected, raw, _hint(raw, choices))
            return
        choices = typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
        self.report.expected(path, _describe(tp, path), raw, _hint(raw, choices))

    def unknown_keys(self, raw: dict[str, Any], allowed: list[str], path: str) -> None:
        """Report every key of `raw` that is not in `allowed`, suggesting a close one."""
        for key in raw:
            if key not in allowed:
                hint = _hint(key, allowed)
                listing = ", ".join(allowed)
                self.report.add(_join(path, key), f"unknown key{hint}; expected one of: {listing}")


# --------------------------------------------------------------------------- cross checks


def _entries(data: dict[str, Any], dotted: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """("doors[0]", table) for each table of the array of tables at `dotted`."""
    node: object = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, dict):
                yield f"{dotted}[{index}]", item


def _backend(data: dict[str, Any]) -> str | None:
    """The valid hardware backend of the file, or None when it is missing or wrong."""
    hardware = data.get("hardware")
    if not isinstance(hardware, dict):
        return None
    backend = hardware.get("backend", HardwareSettings.backend)
    return backend if backend in ("gpio", "simulated") else None


def _check_unique(data: dict[str, Any], dotted: str, key: str, report: _Report) -> None:
    """No two entries of the array of tables `dotted` share the same `key`."""
    seen: dict[str, str] = {}
    for where, entry in _entries(data, dotted):
        value, path = entry.get(key), f"{where}.{key}"
        if not isinstance(value, str) or path in report.bad_paths:
            continue
        if value in seen:
            report.expected(
                path, f"a {key} not used before", value, f", already used by {seen[value]}"
            )
        else:
            seen[value] = path


def _pin_uses(data: dict[str, Any], report: _Report) -> Iterator[tuple[str, object]]:
    """(key path, value) of every GPIO key of every door and reader."""
    for dotted in ("doors", "readers"):
        for where, entry in _entries(data, dotted):
            for key, value in entry.items():
                if key.endswith("_pin"):
                    yield f"{where}.{key}", value
                elif key.endswith("_pins") and isinstance(value, list):
                    if f"{where}.{key}" in report.bad_paths:
                        continue  # already reported (e.g. a pin listed twice)
                    for index, item in enumerate(value):
                        yield f"{where}.{key}[{index}]", item


def _check_pins(data: dict[str, Any], report: _Report) -> None:
    """No GPIO is used twice anywhere in the file; the message names both users."""
    users: dict[int, str] = {}
    for path, pin in _pin_uses(data, report):
        if not isinstance(pin, int) or isinstance(pin, bool) or not _PIN_RULE.check(pin):
            continue
        if path in report.bad_paths:
            continue
        if pin in users:
            report.expected(
                path, "a GPIO not used elsewhere", pin, f", already used by {users[pin]}"
            )
        else:
            users[pin] = path


def _check_reader_doors(data: dict[str, Any], report: _Report) -> None:
    """Every reader's `door` names a [[doors]] entry."""
    found = (e.get("name") for _, e in _entries(data, "doors"))
    names = list(dict.fromkeys(name for name in found if isinstance(name, str)))
    for where, reader in _entries(data, "readers"):
        door, path = reader.get("door"), f"{where}.door"
        if isinstance(door, str) and path not in report.bad_paths and door not in names:
            known = ", ".join(json.dumps(n) for n in names) or "none"
            expected = f"the name of a [[doors]] entry ({known})"
            report.expected(path, expected, door, _hint(door, names))


def _check_reader_kinds(data: dict[str, Any], backend: str | None, report: _Report) -> None:
    """Keys a reader's kind cannot use, and keys the gpio backend needs for that kind."""
    for where, reader in _entries(data, "readers"):
        kind = reader.get("kind")
        if kind not in READER_KIND_KEYS:
            continue
        usable = READER_COMMON_KEYS + READER_KIND_KEYS[kind]
        for key in reader:
            if key not in usable and key in _hints(ReaderSettings):
                listing = ", ".join(READER_KIND_KEYS[kind])
                report.add(f"{where}.{key}", f'not used by a "{kind}" reader (its keys: {listing})')
        if backend == "gpio":
            _check_required_reader_keys(where, reader, kind, report)


def _check_required_reader_keys(
    where: str, reader: dict[str, Any], kind: str, report: _Report
) -> None:
    """Report the keys a reader of `kind` needs on real hardware but lacks (or has empty)."""
    for key in READER_GPIO_REQUIRED.get(kind, ()):
        value = reader.get(key, _NOTHING)
        if value is _NOTHING or value in ("", []):
            what = _REQUIRED_READER_TEXT[key]
            expected = f'{what} (required for a "{kind}" reader with backend "gpio")'
            report.expected(f"{where}.{key}", expected, value)


def _check_door_relays(data: dict[str, Any], backend: str | None, report: _Report) -> None:
    """On real hardware every door needs its strike relay."""
    if backend != "gpio":
        return
    for where, door in _entries(data, "doors"):
        if "relay_pin" not in door:
            expected = f'{_PIN_RULE.expected} (required with backend "gpio")'
            report.expected(f"{where}.relay_pin", expected, _NOTHING)


def _number_at(door: dict[str, Any], key: str, path: str, report: _Report) -> float | None:
    """A door's numeric value that passed the schema pass, else None."""
    value = door.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or path in report.bad_paths:
        return None
    return float(value)


def _check_door_options(data: dict[str, Any], backend: str | None, report: _Report) -> None:
    """Door keys that depend on each other: long pulses, the second relay, input actions."""
    for where, door in _entries(data, "doors"):
        _check_pulse_length(where, door, report)
        _check_stuck_time(where, door, report)
        _check_second_relay(where, door, backend, report)
        _check_input_actions(where, door, report)
        if door.get("unlock_schedule_first_person") is True and "unlock_schedule" not in door:
            report.add(f"{where}.unlock_schedule_first_person", "only used with an unlock_schedule")


def _check_pulse_length(where: str, door: dict[str, Any], report: _Report) -> None:
    """Pulses over 20 s only with an unlock schedule (the ACTAtek relay "delay" rule)."""
    path = f"{where}.relay_pulse_s"
    pulse = _number_at(door, "relay_pulse_s", path, report)
    if pulse is not None and pulse > RELAY_PULSE_NORMAL_MAX_S and "unlock_schedule" not in door:
        limit = _fmt_number(RELAY_PULSE_NORMAL_MAX_S)
        expected = f"a number from 1 to {limit} (up to 1800 only with an unlock_schedule)"
        report.expected(path, expected, door["relay_pulse_s"])


def _check_stuck_time(where: str, door: dict[str, Any], report: _Report) -> None:
    """A button held through the action delay must not count as stuck before the action
    checks that it is still pressed (`rex_only_if_still_pressed`)."""
    if door.get("rex_only_if_still_pressed") is not True:
        return
    path = f"{where}.button_stuck_s"
    delay = _number_at(door, "rex_action_delay_s", f"{where}.rex_action_delay_s", report)
    if "button_stuck_s" in door:
        stuck, hint = _number_at(door, "button_stuck_s", path, report), ""
    else:
        stuck = DoorSettings.button_stuck_s
        hint = f" (the default is {_fmt_number(stuck)})"
    if stuck is not None and delay is not None and stuck <= delay:
        expected = (
            f"a number greater than rex_action_delay_s ({_fmt_number(delay)}) "
            "with rex_only_if_still_pressed"
        )
        report.expected(path, expected, door.get("button_stuck_s", _NOTHING), hint)


def _check_second_relay(
    where: str, door: dict[str, Any], backend: str | None, report: _Report
) -> None:
    """A bell schedule needs its access right, the doorbell mode its button; on real
    hardware a mode needs its relay pin."""
    mode = door.get("second_relay_mode", DoorSettings.second_relay_mode)
    if not isinstance(mode, str) or f"{where}.second_relay_mode" in report.bad_paths:
        return
    if mode == "bell_schedule" and "second_relay_schedule" not in door:
        expected = f'{_RIGHT_ID_TEXT} (required with second_relay_mode "bell_schedule")'
        report.expected(f"{where}.second_relay_schedule", expected, _NOTHING)
    if mode != "bell_schedule" and "second_relay_schedule" in door:
        report.add(
            f"{where}.second_relay_schedule", 'only used with second_relay_mode "bell_schedule"'
        )
    if mode != "disable" and backend == "gpio" and "second_relay_pin" not in door:
        expected = f'{_PIN_RULE.expected} (required with second_relay_mode "{mode}")'
        report.expected(f"{where}.second_relay_pin", expected, _NOTHING)
    if mode == "doorbell" and "doorbell_pin" not in door:
        # On any backend: without the button nothing could ever pulse the relay.
        expected = (
            f'{_PIN_RULE.expected} (required with second_relay_mode "doorbell": '
            "the doorbell button that pulses the relay)"
        )
        report.expected(f"{where}.doorbell_pin", expected, _NOTHING)


def _check_input_actions(where: str, door: dict[str, Any], report: _Report) -> None:
    """An input action watches an input that this door has wired."""
    actions = door.get("input_actions")
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        path = f"{where}.input_actions[{index}].input"
        name = action.get("input") if isinstance(action, dict) else None
        if not isinstance(name, str) or path in report.bad_paths:
            continue
        pin_key = _ACTION_INPUT_PINS.get(name)
        if pin_key is not None and pin_key not in door:
            report.expected(path, f"an input wired on this door (set {pin_key})", name)


def _check_backend(data: dict[str, Any], backend: str | None, report: _Report) -> None:
    """Clear-text passwords and [simulation] are for the simulated backend only."""
    if backend != "gpio":
        return
    for where, tech in _entries(data, "web.technicians"):
        if tech.get("password", "") != "":
            user = tech.get("username") if isinstance(tech.get("username"), str) else "NAME"
            report.add(
                f"{where}.password",
                "clear-text passwords are only accepted with the simulated backend; "
                f"use `door-gateway passwd {user}`",
            )
    if "simulation" in data:
        report.add(
            "simulation",
            'expected no [simulation] section with [hardware] backend = "gpio" '
            '(it is only accepted with backend = "simulated"), found one',
        )


def _check_upstream(data: dict[str, Any], report: _Report) -> None:
    """URL placeholders are known ones; general mode verifies QR codes only."""
    upstream = data.get("upstream")
    if not isinstance(upstream, dict):
        return
    url = upstream.get("url")
    if isinstance(url, str) and "upstream.url" not in report.bad_paths:
        for name in _PLACEHOLDER.findall(url):
            if name not in UPSTREAM_PLACEHOLDERS:
                known = ["{" + p + "}" for p in UPSTREAM_PLACEHOLDERS]
                hint = _hint(f"{{{name}}}", known)
                report.expected(
                    "upstream.url", f"placeholders among {' '.join(known)}", f"{{{name}}}", hint
                )
    methods = upstream.get("methods", list(UpstreamSettings.methods))
    bad = "upstream.methods" in report.bad_paths
    if upstream.get("mode") == "general" and methods != ["qr"] and not bad:
        expected = '["qr"] with mode "general" (General integration verifies QR codes only)'
        report.expected("upstream.methods", expected, methods)
    _check_upstream_auth(upstream, report)
    _check_upstream_tls_and_breaker(upstream, report)


def _check_upstream_auth(upstream: dict[str, Any], report: _Report) -> None:
    """One way of authenticating at most: basic auth (keys or URL) or a bearer token."""
    url = upstream.get("url")
    in_url = isinstance(url, str) and _url_has_userinfo(url)
    basic = upstream.get("username", "") != "" or upstream.get("password", "") != ""
    if upstream.get("password", "") != "" and upstream.get("username", "") == "":
        report.add("upstream.password", "only used with a username")
    if basic and in_url:
        report.add("upstream.username", "not used with user:password@ in the url (use one)")
    if upstream.get("bearer_token", "") != "" and (basic or in_url):
        report.add("upstream.bearer_token", "not used with basic auth (use one)")


def _url_has_userinfo(url: str) -> bool:
    """True when the URL carries user[:password]@ before its host."""
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def _check_upstream_tls_and_breaker(upstream: dict[str, Any], report: _Report) -> None:
    """A CA file needs verification on; the breaker's longest open period is not the shortest."""
    if upstream.get("ca_file", "") != "" and upstream.get("verify_tls") is False:
        report.add("upstream.ca_file", "only used with verify_tls = true")
    open_s = upstream.get("breaker_open_s", UpstreamSettings.breaker_open_s)
    max_s = upstream.get("breaker_max_open_s", UpstreamSettings.breaker_max_open_s)
    paths = {"upstream.breaker_open_s", "upstream.breaker_max_open_s"}
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (open_s, max_s))
    if numbers and not paths & report.bad_paths and max_s < open_s:
        expected = f"a number not below breaker_open_s ({_fmt_number(open_s)})"
        report.expected("upstream.breaker_max_open_s", expected, max_s)


def _check_http_unlock(data: dict[str, Any], backend: str | None, report: _Report) -> None:
    """Enabled needs both credentials; a real door never takes the simulation's password.

    Messages name the rule, never the value: the password is a secret."""
    section = data.get("http_unlock")
    if not isinstance(section, dict) or section.get("enabled") is not True:
        return
    for key in ("username", "password"):
        path = f"http_unlock.{key}"
        if section.get(key, "") == "" and path not in report.bad_paths:
            report.add(path, "required with enabled = true (the sending device's basic auth)")
    password = section.get("password", "")
    if not isinstance(password, str) or "http_unlock.password" in report.bad_paths:
        return
    if 0 < len(password) < MIN_PASSWORD_LEN:
        report.add(
            "http_unlock.password", f"expected at least {MIN_PASSWORD_LEN} characters, found fewer"
        )
    elif backend == "gpio" and password == SIMULATION_PASSWORD:
        report.add(
            "http_unlock.password",
            'the simulation\'s well-known password is refused with backend = "gpio"',
        )
    elif backend == "gpio" and password:
        problem = weakness(password, _known_names(data, section.get("username")))
        if problem is not None:
            report.add("http_unlock.password", f"too easy to guess: {problem}")


def _known_names(data: dict[str, Any], *more: object) -> list[str]:
    """The device's name and id (and `more`) as written: words a password must not use."""
    device = data.get("device")
    found = [device.get(key) for key in ("name", "id")] if isinstance(device, dict) else []
    return [name for name in (*found, *more) if isinstance(name, str)]


def _check_lockout(data: dict[str, Any], report: _Report) -> None:
    """The first lockout is not longer than the longest one."""
    access = data.get("access")
    lockout = access.get("lockout") if isinstance(access, dict) else None
    if not isinstance(lockout, dict):
        return
    lock_s = lockout.get("lock_s", LockoutSettings.lock_s)
    max_lock_s = lockout.get("max_lock_s", LockoutSettings.max_lock_s)
    paths = {"access.lockout.lock_s", "access.lockout.max_lock_s"}
    if paths & report.bad_paths or not all(
        isinstance(v, (int, float)) for v in (lock_s, max_lock_s)
    ):
        return
    if max_lock_s < lock_s:
        expected = f"a number not below lock_s ({_fmt_number(lock_s)})"
        report.expected("access.lockout.max_lock_s", expected, max_lock_s)


def _check_forwarding(data: dict[str, Any], report: _Report) -> None:
    """The back-off ceiling is not below the first back-off."""
    forwarding = data.get("forwarding")
    if not isinstance(forwarding, dict):
        return
    first = forwarding.get("retry_initial_s", ForwardingSettings.retry_initial_s)
    ceiling = forwarding.get("retry_max_s", ForwardingSettings.retry_max_s)
    paths = {"forwarding.retry_initial_s", "forwarding.retry_max_s"}
    if paths & report.bad_paths or not all(isinstance(v, (int, float)) for v in (first, ceiling)):
        return
    if ceiling < first:
        expected = f"a number not below retry_initial_s ({_fmt_number(first)})"
        report.expected("forwarding.retry_max_s", expected, ceiling)


def _cross_check(data: dict[str, Any], report: _Report) -> None:
    """Every check that relates keys to each other."""
    backend = _backend(data)
    _check_unique(data, "doors", "name", report)
    _check_unique(data, "readers", "name", report)
    _check_unique(data, "web.technicians", "username", report)
    _check_unique(data, "simulation.demo_users", "user_id", report)
    _check_pins(data, report)
    _check_reader_doors(data, report)
    _check_reader_kinds(data, backend, report)
    _check_door_relays(data, backend, report)
    _check_door_options(data, backend, report)
    _check_backend(data, backend, report)
    _check_upstream(data, report)
    _check_http_unlock(data, backend, report)
    _check_lockout(data, report)
    _check_forwarding(data, report)
    _check_demo_cards(data, report)
    _check_public_pins(data, report)
    _check_wiegand_formats(data, report)
    _check_unique(data, "wiegand_formats", "name", report)
    _check_reader_formats(data, report)


def _check_wiegand_formats(data: dict[str, Any], report: _Report) -> None:
    """Custom formats: not a built-in's name, bit ranges inside the frame, sound parity."""
    builtin = {name.casefold() for name in FORMATS}
    known = ", ".join(json.dumps(n) for n in FORMATS)
    for where, entry in _entries(data, "wiegand_formats"):
        if any(p == where or p.startswith(f"{where}.") for p in report.bad_paths):
            continue  # its keys already have errors: relations between them would mislead
        name = entry["name"]
        if name.casefold() in builtin:
            expected = f"a name other than the built-in formats ({known})"
            report.expected(f"{where}.name", expected, name)
        before = len(report.errors)
        if _check_format_ranges(where, entry, report):
            _check_parity_rules(where, entry, report)
        if len(report.errors) == before:
            _check_format_parity_order(where, entry, report)


def _check_format_ranges(where: str, entry: dict[str, Any], report: _Report) -> bool:
    """data_bits inside the frame; card_bits and facility_bits inside data_bits, apart.

    False when data_bits itself is wrong (the parity bits cannot be judged against it).
    """
    length, data_bits = entry["length"], entry["data_bits"]
    if data_bits[1] >= length:
        expected = f"[first, last] within the frame's bits 0 to {length - 1}"
        report.expected(f"{where}.data_bits", expected, data_bits)
        return False
    data, card = BitRange(*data_bits), BitRange(*entry["card_bits"])
    if not card.within(data):
        expected = f"[first, last] within data_bits {data}"
        report.expected(f"{where}.card_bits", expected, entry["card_bits"])
    facility_bits = entry.get("facility_bits", [])
    if not facility_bits:
        return True
    facility = BitRange(*facility_bits)
    if not facility.within(data):
        expected = f"[] or [first, last] within data_bits {data}"
        report.expected(f"{where}.facility_bits", expected, facility_bits)
    elif facility.overlaps(card):
        expected = f"a range that does not overlap card_bits {card}"
        report.expected(f"{where}.facility_bits", expected, facility_bits)
    return True


def _check_parity_rules(where: str, entry: dict[str, Any], report: _Report) -> None:
    """Each parity bit outside the data bits and used once; each mask one bit per frame bit."""
    length, (first, last) = entry["length"], entry["data_bits"]
    owners: dict[int, str] = {}
    for index, rule in enumerate(entry.get("parity_rules", [])):
        path = f"{where}.parity_rules[{index}]"
        bit, mask = rule["bit"], mask_bits(rule["mask"])
        if bit >= length or first <= bit <= last:
            expected = f"a bit index below length {length} and outside data_bits [{first}, {last}]"
            report.expected(f"{path}.bit", expected, bit)
        elif bit in owners:
            hint = f", already used by {owners[bit]}"
            report.expected(f"{path}.bit", "a parity bit no other rule uses", bit, hint)
        else:
            owners[bit] = f"{path}.bit"
        if len(mask) != length:
            expected = f"a mask of {length} bits (one 0 or 1 per frame bit)"
            report.expected(f"{path}.mask", expected, rule["mask"], f" ({len(mask)} bits)")
        elif "1" not in mask[:bit] + mask[bit + 1 :]:
            expected = "a mask covering at least one bit besides the parity bit itself"
            report.expected(f"{path}.mask", expected, rule["mask"])


def _check_format_parity_order(where: str, entry: dict[str, Any], report: _Report) -> None:
    """Parity bits may cover each other only in an order they can be computed in."""
    rules = [ParityRuleSettings(**rule) for rule in entry.get("parity_rules", [])]
    settings = WiegandFormatSettings(
        entry["name"],
        entry["length"],
        tuple(entry["data_bits"]),
        tuple(entry["card_bits"]),
        tuple(entry.get("facility_bits", [])),
        tuple(rules),
    )
    try:
        format_from_settings(settings)
    except ValueError as exc:
        problem = str(exc).split(": ", 1)[-1]
        report.add(f"{where}.parity_rules", f"expected parity rules that can be met; {problem}")


def _check_reader_formats(data: dict[str, Any], report: _Report) -> None:
    """Readers' `formats` and `pin_frame_format` name built-in or [[wiegand_formats]] formats."""
    custom = [
        e["name"] for _, e in _entries(data, "wiegand_formats") if isinstance(e.get("name"), str)
    ]
    known = [*FORMATS, *custom]
    expected = "a built-in Wiegand format (" + ", ".join(json.dumps(n) for n in FORMATS) + ")"
    expected += " or the name of a [[wiegand_formats]] entry"
    if custom:
        expected += " (" + ", ".join(json.dumps(n) for n in custom) + ")"
    for where, reader in _entries(data, "readers"):
        names = reader.get("formats")
        names = names if isinstance(names, list) else []
        for index, name in enumerate(names):
            _check_format_name(f"{where}.formats[{index}]", name, known, expected, report)
        pin = reader.get("pin_frame_format", "")
        path = f"{where}.pin_frame_format"
        if pin == "" or not _check_format_name(path, pin, known, expected, report):
            continue
        if pin in names:
            expected_pin = "a format not also in formats (its frames are PINs on this keypad)"
            report.expected(path, expected_pin, pin)


def _check_format_name(
    path: str, name: object, known: list[str], expected: str, report: _Report
) -> bool:
    """Report `name` unless it is a known format; True when it is one."""
    if not isinstance(name, str) or path in report.bad_paths:
        return False
    if name not in known:
        report.expected(path, expected, name, _hint(name, known))
        return False
    return True


def _check_demo_cards(data: dict[str, Any], report: _Report) -> None:
    """No card belongs to two demo users."""
    owners: dict[str, str] = {}
    for where, user in _entries(data, "simulation.demo_users"):
        cards = user.get("cards")
        for index, card in enumerate(cards if isinstance(cards, list) else []):
            path = f"{where}.cards[{index}]"
            if not isinstance(card, str) or path in report.bad_paths:
                continue
            if card.upper() in owners:
                hint = f", already used by {owners[card.upper()]}"
                report.expected(path, "a card not given to another user", card, hint)
            else:
                owners[card.upper()] = path


def _check_public_pins(data: dict[str, Any], report: _Report) -> None:
    """No public PIN twice, none a demo user's PIN; messages point at keys, never at PINs."""
    access = data.get("access")
    pins = access.get("public_pins") if isinstance(access, dict) else None
    if not isinstance(pins, list) or "access.public_pins" in report.bad_paths:
        return
    demo_pins = {
        user["pin"]: f"{where}.pin"
        for where, user in _entries(data, "simulation.demo_users")
        if isinstance(user.get("pin"), str) and user["pin"]
    }
    seen: dict[str, str] = {}
    for index, pin in enumerate(pins):
        path = f"access.public_pins[{index}]"
        if not isinstance(pin, str) or path in report.bad_paths:
            continue
        if pin in seen:
            report.add(path, f"expected a PIN not listed before, found the same PIN as {seen[pin]}")
        elif pin in demo_pins:
            report.add(path, f"expected a PIN no user has, found the PIN of {demo_pins[pin]}")
        seen.setdefault(pin, path)


# --------------------------------------------------------------------------- public API


def load_settings(path: str | Path) -> Settings:
    """Read and check the TOML file at `path`.

    Raises ConfigError listing every problem found. A relative `[device] state_dir` is
    resolved against the current working directory, so the settings hold an absolute path.
    """
    label = str(path)
    data = _read_toml(Path(path), label)
    report = _Report(label)
    settings = _Schema(report).table(Settings, data, "")
    _cross_check(data, report)
    if report.errors or isinstance(settings, _Invalid):
        raise ConfigError(report.errors or [f"{label}: the configuration is not usable"])
    return _finish(typing.cast(Settings, settings), label)


def _finish(settings: Settings, label: str) -> Settings:
    """Fill in derived values: the file path, absolute state dir, upstream device id."""
    device = dataclasses.replace(
        settings.device, state_dir=os.path.abspath(settings.device.state_dir)
    )
    upstream = settings.upstream
    if upstream.device_id == "":
        upstream = dataclasses.replace(upstream, device_id=device.id)
    users = tuple(
        dataclasses.replace(user, cards=tuple(card.upper() for card in user.cards))
        for user in settings.simulation.demo_users
    )
    simulation = dataclasses.replace(settings.simulation, demo_users=users)
    return dataclasses.replace(
        settings, path=label, device=device, upstream=upstream, simulation=simulation
    )


def _seconds(value: float) -> str:
    """5.0 -> "5 s"."""
    return f"{_fmt_number(value)} s"


def _pins_text(*named: tuple[str, int | None]) -> list[str]:
    """["exit button GPIO22", ...] for the pins that are set."""
    return [f"{label} GPIO{pin}" for label, pin in named if pin is not None]


def _door_lines(door: DoorSettings, width: int) -> list[str]:
    """Two summary lines for a door: relay and policy, then its inputs and outputs."""
    level = "active high" if door.relay_active_high else "active low"
    relay = (
        f"relay GPIO{door.relay_pin} ({level}, {door.lock_type})"
        if door.relay_pin is not None
        else f"no relay ({door.lock_type})"
    )
    first = (
        f"  {door.name:<{width}}  {relay}, pulse {_seconds(door.relay_pulse_s)}, "
        f"open timeout {_seconds(door.door_open_timeout_s)}, auth {door.auth_mode}, "
        f"offline {door.offline_policy}"
    )
    parts = _pins_text(
        ("contact", door.contact_pin),
        ("exit button", door.rex_pin),
        ("doorbell", door.doorbell_pin),
        ("tamper", door.tamper_pin),
        ("alarm", door.alarm_pin),
        ("second relay", door.second_relay_pin),
    )
    if door.contact_pin is not None:
        parts[0] += " (NC)" if door.contact_normally_closed else " (NO)"
    if door.second_relay_mode != "disable":
        parts.append(f"second relay mode {door.second_relay_mode}")
    if door.unlock_schedule is not None:
        first_person = ", first person in" if door.unlock_schedule_first_person else ""
        parts.append(f"unlock schedule: access right {door.unlock_schedule}{first_person}")
    second = ", ".join(parts) or "no contact, exit button, doorbell, tamper or alarm pins"
    return [first, f"  {'':<{width}}  {second}"]


def _reader_detail(reader: ReaderSettings) -> str:
    """The kind-specific part of a reader's summary line, then its feedback outputs."""
    if reader.kind in ("wiegand", "wiegand_keypad"):
        formats = ", ".join(reader.formats)
        detail = f"D0 GPIO{reader.d0_pin}, D1 GPIO{reader.d1_pin}, formats {formats}"
    elif reader.kind == "serial":
        port = reader.port or "(no port)"
        detail = f"{port} {reader.baudrate} baud, {reader.protocol}, {reader.credential_kind}"
    elif reader.kind == "matrix_keypad":
        rows = ",".join(map(str, reader.row_pins)) or "-"
        cols = ",".join(map(str, reader.col_pins)) or "-"
        detail = f"rows GPIO {rows}, columns GPIO {cols}"
    else:
        detail = f"device {reader.device or '(first found)'}"
    outputs = _pins_text(
        ("green LED", reader.led_green_pin),
        ("red LED", reader.led_red_pin),
        ("beeper", reader.beeper_pin),
    )
    return ", ".join([detail, *outputs])


def _reader_lines(readers: tuple[ReaderSettings, ...]) -> list[str]:
    """One aligned summary line per reader."""
    name_w = max((len(r.name) for r in readers), default=0)
    kind_w = max((len(r.kind) for r in readers), default=0)
    door_w = max((len(r.door) for r in readers), default=0)
    return [
        f"  {r.name:<{name_w}}  {r.kind:<{kind_w}}  door {r.door:<{door_w}}  "
        f"{r.direction:<3}  {_reader_detail(r)}"
        for r in readers
    ]


def _upstream_line(settings: Settings) -> str:
    """ "off", or where verify requests go (host only: a query may carry a secret)."""
    upstream = settings.upstream
    if not upstream.url:
        return "Upstream    off (decisions from the local cache only)"
    parts = urlsplit(upstream.url)
    return (
        f"Upstream    on: {parts.scheme}://{parts.netloc} (mode {upstream.mode}, "
        f"timeout {_seconds(upstream.timeout_s)}, methods {', '.join(upstream.methods)}, "
        f"device id {upstream.device_id})"
    )


def _web_line(settings: Settings) -> str:
    """Where the web server listens and how many technicians the file defines."""
    count = len(settings.web.technicians)
    clear = sum(1 for tech in settings.web.technicians if tech.password)
    note = f", {clear} with a clear-text password (simulation)" if clear else ""
    plural = "" if count == 1 else "s"
    return f"Web         listen {settings.web.listen}, {count} technician{plural} in the file{note}"


def _public_pins_text(count: int) -> str:
    if count == 0:
        return "no public PINs"
    return f"{count} public PIN{'' if count == 1 else 's'} (not shown)"


def summary(settings: Settings) -> str:
    """A one-screen human summary, as printed by `door-gateway check-config FILE`."""
    device, access = settings.device, settings.access
    lines = [
        f"{settings.path}: configuration OK",
        f'Device      {device.id} "{device.name}", timezone {device.timezone}',
        f"State dir   {device.state_dir}",
        f"Hardware    {settings.hardware.backend} backend",
        f"Doors ({len(settings.doors)})",
    ]
    width = max(len(door.name) for door in settings.doors)
    for door in settings.doors:
        lines.extend(_door_lines(door, width))
    lines.append(f"Readers ({len(settings.readers)})")
    lines.extend(_reader_lines(settings.readers))
    if settings.wiegand_formats:
        custom = ", ".join(f"{f.name} ({f.length} bits)" for f in settings.wiegand_formats)
        lines.append(f"Formats     custom Wiegand formats: {custom}")
    auto = access.auto_in_out
    lines += [
        _upstream_line(settings),
        _web_line(settings),
        f"Journal     keeps the newest {settings.journal.max_events} events, and "
        f"{settings.journal.max_events // ADMIN_SHARE_DIVISOR} administrative ones beside them",
        f"Access      two-factor timeout {_seconds(access.two_factor_timeout_s)}, keypad lockout "
        f"after {access.lockout.max_failures} wrong PINs in {_seconds(access.lockout.window_s)}, "
        f"auto in/out {auto.mode}, {_public_pins_text(len(access.public_pins))}",
    ]
    if settings.simulated:
        lines.append(f"Simulation  {len(settings.simulation.demo_users)} demo users")
    return "\n".join(lines)


# What an upstream server is asked about, as a sentence names it.
_KIND_NAMES = {"card": "card", "pin": "PIN", "qr": "QR code", "plate": "licence plate"}


def _offline_kinds(upstream: UpstreamSettings) -> str:
    """ "card, PIN or QR code": what an offline grant lets in (what goes upstream)."""
    kinds = upstream.methods if upstream.mode == "customize" else ("qr",)
    names = [_KIND_NAMES.get(kind, kind) for kind in kinds]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _offline_grant_warning(door: DoorSettings, upstream: UpstreamSettings) -> str:
    """The warning for a door whose `offline_policy` is "grant" (docs/upstream.md)."""
    head = (
        f'warning: door "{door.name}": offline_policy = "grant" opens this door to ANY '
        f"{_offline_kinds(upstream)} the local cache does not know while the upstream "
        "server is unreachable"
    )
    if not upstream.url:
        return (
            f"{head}. It does nothing while [upstream] url is empty, and takes effect as "
            'soon as one is set: use "deny" unless the door must open for everyone then.'
        )
    return (
        f"{head} (after {upstream.breaker_failures} failed requests: pulling the network "
        'cable is enough). Use "deny" unless the door must open for everyone then.'
    )


def config_warnings(settings: Settings) -> list[str]:
    """Valid settings that weaken the site's security, one sentence each: check-config
    prints them, the daemon logs them at start."""
    return [
        _offline_grant_warning(door, settings.upstream)
        for door in settings.doors
        if door.offline_policy == "grant"
    ]


def check_config_command(path: str) -> int:
    """`door-gateway check-config FILE`: print the summary and any warnings to stderr (0),
    or every error to stderr (2)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        count = len(exc.errors)
        print(f"{count} error{'' if count == 1 else 's'} in {path}", file=sys.stderr)
        return 2
    print(summary(settings))
    for warning in config_warnings(settings):
        print(warning, file=sys.stderr)
    return 0
