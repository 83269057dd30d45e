"""The two files Super Mode shares with the main daemon, both in the state directory.

- the rescue list (`rescue-list.json`, 0600), written atomically by the main daemon: the
  door's wiring (reader lines and formats, relay) and the keyed hashes of at most
  `MAX_RESCUE_CARDS` administrator card numbers, never the numbers themselves;
- the rescue log (`rescue-log.jsonl`, 0600), appended by the rescue: one JSON line per
  start, stop, opening and refusal; the main daemon moves it into its journal and clears it.

Pure helpers and small file reads only: the rescue process imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

LIST_FILE = "rescue-list.json"
LOG_FILE = "rescue-log.jsonl"
DEVICE_KEY_FILE = "device.key"  # gateway.store.secrets.DEVICE_KEY_FILE: the same key
DEVICE_KEY_BYTES = 32
LIST_VERSION = 1
MAX_RESCUE_CARDS = 20
MAX_LIST_BYTES = 64 * 1024  # a list of 20 hashes and a door is about 2 KiB
MAX_LOG_BYTES = 256 * 1024  # about 2,000 entries; past it the rescue writes no more
# Domain separation: a card's rescue hash never equals a PIN hash of the same digits.
_CARD_DOMAIN = b"door-gateway rescue card\0"

LockType = Literal["fail_secure", "fail_safe"]
LogKind = Literal["started", "stopped", "granted", "denied"]
_LOG_KINDS: tuple[LogKind, ...] = ("started", "stopped", "granted", "denied")


class RescueListError(ValueError):
    """The rescue list is missing or cannot be trusted: the rescue opens nothing."""


def card_hash(key: bytes, card: str) -> str:
    """The keyed hash (HMAC-SHA256 with the device key) of a canonical hex card number."""
    return hmac.digest(key, _CARD_DOMAIN + card.upper().encode("ascii"), hashlib.sha256).hex()


@dataclass(frozen=True)
class CustomFormat:
    """A site's `[[wiegand_formats]]` entry, as the reader's formats need it."""

    name: str
    length: int
    data_bits: tuple[int, ...]
    card_bits: tuple[int, ...]
    facility_bits: tuple[int, ...] = ()
    parity_rules: tuple[tuple[int, str, str], ...] = ()  # (bit, mask, "even"/"odd")


@dataclass(frozen=True)
class RescuePlan:
    """What the rescue needs to run one door: its wiring and the admitted card hashes."""

    door: str
    reader: str
    simulated: bool  # mock pins (the simulated backend), not the GPIO chip
    d0_pin: int | None
    d1_pin: int | None
    formats: tuple[str, ...]
    relay_pin: int | None
    relay_active_high: bool = True
    lock_type: LockType = "fail_secure"
    pulse_s: float = 5.0
    swap_d0_d1: bool = False
    custom_formats: tuple[CustomFormat, ...] = ()
    cards: frozenset[str] = field(default_factory=frozenset)

    @property
    def unlocked_level(self) -> bool:
        """The relay's logical state that unlocks: energised for a fail-secure strike,
        released for a fail-safe (magnetic) lock."""
        return self.lock_type == "fail_secure"

    def admits(self, key: bytes, card: str) -> bool:
        """Whether the canonical card number `card` is one of the listed cards."""
        wanted = card_hash(key, card)
        return any(hmac.compare_digest(wanted, listed) for listed in self.cards)


def encode_plan(plan: RescuePlan) -> bytes:
    """The rescue list file's bytes (sorted, so an unchanged list writes the same bytes)."""
    data = asdict(plan)
    data["cards"] = sorted(plan.cards)
    return json.dumps({"version": LIST_VERSION, **data}, sort_keys=True, indent=1).encode()


def decode_plan(raw: bytes) -> RescuePlan:
    """The plan in a rescue list file; RescueListError for anything else (fail closed)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.pop("version", None) != LIST_VERSION:
            raise RescueListError("not a rescue list of this version")
        return _plan(data)
    except RescueListError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise RescueListError(f"the rescue list is damaged ({exc})") from exc


def _plan(data: dict[str, Any]) -> RescuePlan:
    cards = data.pop("cards")
    if not isinstance(cards, list) or len(cards) > MAX_RESCUE_CARDS:
        raise RescueListError(f"expected at most {MAX_RESCUE_CARDS} card hashes")
    if not all(isinstance(c, str) and len(c) == 64 and _is_hex(c) for c in cards):
        raise RescueListError("a card entry is not a keyed hash")
    formats = data.pop("formats")
    if not isinstance(formats, list):
        raise RescueListError("formats is not a list")
    customs = tuple(_custom_format(entry) for entry in data.pop("custom_formats"))
    plan = RescuePlan(
        **data, formats=tuple(formats), cards=frozenset(cards), custom_formats=customs
    )
    _check_types(plan)
    return plan


def _custom_format(entry: dict[str, Any]) -> CustomFormat:
    def bits(name: str) -> tuple[int, ...]:
        return tuple(int(v) for v in entry[name])

    rules = tuple((int(b), str(m), str(p)) for b, m, p in entry["parity_rules"])
    return CustomFormat(
        name=str(entry["name"]),
        length=int(entry["length"]),
        data_bits=bits("data_bits"),
        card_bits=bits("card_bits"),
        facility_bits=bits("facility_bits"),
        parity_rules=rules,
    )


def _check_types(plan: RescuePlan) -> None:
    pins = (plan.d0_pin, plan.d1_pin, plan.relay_pin)
    if not all(pin is None or (type(pin) is int and 0 <= pin <= 27) for pin in pins):
        raise RescueListError("a pin is not a BCM GPIO number")
    if not plan.simulated and None in pins:
        raise RescueListError("the reader lines and the relay must be wired")
    texts = (plan.door, plan.reader, *plan.formats)
    if not all(isinstance(text, str) and text for text in texts) or not plan.formats:
        raise RescueListError("a name is missing")
    if plan.lock_type not in ("fail_secure", "fail_safe"):
        raise RescueListError(f"unknown lock type {plan.lock_type!r}")
    flags = (plan.simulated, plan.relay_active_high, plan.swap_d0_d1)
    if not all(isinstance(flag, bool) for flag in flags):
        raise RescueListError("a switch is not true or false")
    pulse = plan.pulse_s
    if not isinstance(pulse, int | float) or not math.isfinite(pulse) or not 0.1 <= pulse <= 60:
        raise RescueListError("the relay pulse is not 0.1 to 60 s")


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def read_plan(state_dir: Path) -> RescuePlan:
    """The rescue list of `state_dir`; RescueListError when it is missing or damaged."""
    path = state_dir / LIST_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise RescueListError(f"{path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_LIST_BYTES:
        raise RescueListError(f"{path}: larger than {MAX_LIST_BYTES} bytes")
    return decode_plan(raw)


def read_device_key(state_dir: Path) -> bytes:
    """The device key the list's hashes were made with; RescueListError if unusable."""
    path = state_dir / DEVICE_KEY_FILE
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise RescueListError(f"{path}: {exc.strerror or exc}") from exc
    if len(key) < DEVICE_KEY_BYTES:
        raise RescueListError(f"{path}: not a device key")
    return key


@dataclass(frozen=True)
class LogEntry:
    """One line of the rescue log. `time` is wall-clock UTC seconds."""

    kind: LogKind
    time: float
    card: str = ""  # the canonical card number of an opening or a refusal
    door: str = ""
    reader: str = ""
    detail: str = ""

    def line(self) -> bytes:
        """The entry as one JSON line."""
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode()


def append_log(state_dir: Path, entry: LogEntry) -> bool:
    """Append `entry` to the rescue log and sync it; False (nothing written) once the log
    holds `MAX_LOG_BYTES`, so a reader stuck sending frames cannot fill the disk."""
    path = state_dir / LOG_FILE
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_size >= MAX_LOG_BYTES:
            return False
        os.write(fd, entry.line())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def parse_log(raw: bytes) -> tuple[list[LogEntry], int]:
    """The entries of a rescue log, and how many lines could not be read (a power cut can
    leave the last one half written)."""
    entries: list[LogEntry] = []
    unreadable = 0
    for line in raw.splitlines():
        entry = _log_entry(line)
        if entry is None:
            unreadable += 1
        else:
            entries.append(entry)
    return entries, unreadable


def _log_entry(line: bytes) -> LogEntry | None:
    try:
        data = json.loads(line)
        kind, when = data["kind"], float(data["time"])
        texts = [str(data.get(name, "")) for name in ("card", "door", "reader", "detail")]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if kind not in _LOG_KINDS or not math.isfinite(when):
        return None
    return LogEntry(kind, when, *texts)
