"""The words `gateway.settings` declares each configuration key with.

A key is declared once, as its settings dataclass field, with an `Annotated` type:

    relay_pulse_s: Annotated[float, number(1, 1800)] = 5.0

The type is what TOML value the key takes (`X | None`: the key may be left out), the
default is the dataclass default (no default: the key is required), and the metadata adds:

- a `Check`: what the value must be beyond its type, as a phrase for messages and a test;
- `SECRET`: the value is never echoed in a message;
- `UsedBy`: the reader kinds a `[[readers]]` key means something to;
- `NOT_A_KEY`: a field the loader fills in itself.

`gateway.config` walks these declarations and keeps no table of its own. Only the standard
library is imported here, so that every module may import the settings.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Check:
    """What a key's value must be beyond its type: `expected` completes "expected ...,
    found ..." in messages; `test` runs on a value of the right type (for an array: the
    tuple of its items, each already checked); `choices` feed "did you mean" hints."""

    expected: str
    test: Callable[[Any], bool]
    choices: Callable[[], Iterable[str]] | None = None


@dataclass(frozen=True)
class Secret:
    """Marks a key whose value is never echoed: messages give only its type."""


@dataclass(frozen=True)
class UsedBy:
    """The reader kinds a `[[readers]]` key is for (a reader key without one is for all).

    `required_on_gpio`: the kinds that cannot do without the key on real hardware;
    `required_text`: what the message then asks for ("" = the key's `Check.expected`)."""

    kinds: tuple[str, ...]
    required_on_gpio: tuple[str, ...] = ()
    required_text: str = ""


@dataclass(frozen=True)
class NotAKey:
    """Marks a field the loader fills in after the check; the file cannot set it."""

    placeholder: object = ""


SECRET = Secret()
NOT_A_KEY = NotAKey()


def fmt_number(value: float) -> str:
    """1800 as "1800", 0.1 as "0.1"."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def number(low: float, high: float) -> Check:
    """A number (an integer is accepted) within [low, high]."""
    text = f"a number from {fmt_number(low)} to {fmt_number(high)}"
    return Check(text, lambda v: low <= v <= high)


def integer(low: int, high: int) -> Check:
    """An integer within [low, high]."""
    return Check(f"an integer from {low} to {high}", lambda v: low <= v <= high)


def one_of(options: Iterable[str]) -> Check:
    """One of a fixed set of strings."""
    values = tuple(options)
    text = "one of " + ", ".join(json.dumps(v) for v in values)
    return Check(text, lambda v: v in values, lambda: values)


def matching(pattern: str, text: str) -> Check:
    """A string that `pattern` matches completely."""
    regex = re.compile(pattern)
    return Check(text, lambda v: regex.fullmatch(v) is not None)


def distinct(text: str, low: int, high: int) -> Check:
    """An array of `low` to `high` items, no item twice."""
    return Check(text, lambda v: low <= len(v) <= high and len(set(v)) == len(v))


def at_most(text: str, high: int) -> Check:
    """An array of at most `high` items."""
    return Check(text, lambda v: len(v) <= high)


# --------------------------------------------------------------------------- value tests


def is_line_pattern(pattern: str) -> bool:
    """True for a compilable regex with at most one capturing group."""
    try:
        return re.compile(pattern).groups <= 1
    except re.error:
        return False


def is_keymap(keys: str) -> bool:
    """True for 12 or 16 distinct keypad keys."""
    return (
        len(keys) in (12, 16)
        and len(set(keys)) == len(keys)
        and set(keys) <= set("0123456789*#ABCD")
    )


def is_timezone(name: str) -> bool:
    """True when zoneinfo knows the IANA zone `name`."""
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return False
    return True


def timezones() -> list[str]:
    """Every IANA zone name zoneinfo knows (for "did you mean" hints)."""
    return sorted(zoneinfo.available_timezones())


def is_http_url(url: str) -> bool:
    """Empty, or an http(s) URL with a host."""
    if url == "":
        return True
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def is_time_format(fmt: str) -> bool:
    """A strftime format of at most 64 characters that formats a date without error."""
    try:
        datetime(2000, 1, 2, 3, 4, 5).strftime(fmt)
    except ValueError:
        return False
    return len(fmt) <= 64


def is_readable_file(path: str) -> bool:
    """Empty, or a file this process can read (checked at start-up, not at each request)."""
    return path == "" or (os.path.isfile(path) and os.access(path, os.R_OK))


def is_header_token(token: str) -> bool:
    """Empty, or printable ASCII without spaces: safe inside an HTTP header."""
    return all(33 <= ord(char) <= 126 for char in token)


_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def is_hostname(host: str) -> bool:
    """An IPv4 address, or a DNS name made of RFC 1123 labels."""
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def split_listen(listen: str) -> tuple[str, int] | None:
    """`HOST:PORT` or `[IPV6]:PORT` -> (host, port); None when malformed."""
    if listen.startswith("["):
        host, sep, port = listen[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port = listen.rpartition(":")
        if not is_hostname(host):
            return None
    if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def is_bit_range(value: tuple[int, ...]) -> bool:
    """[first, last] with first <= last (each item is checked as a bit index on its own)."""
    return len(value) == 2 and value[0] <= value[1]


def is_loopback_listen(listen: str) -> bool:
    """True when `listen` names a loopback address ("127.0.0.1:8080", "[::1]:80",
    "localhost:8080"): reachable from this machine only."""
    parts = split_listen(listen)
    if parts is None:
        return False
    host = parts[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
