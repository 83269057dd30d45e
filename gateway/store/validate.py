"""Pure checks and normalisation of what a person or a management system hands the store.

Nothing here touches the database: checks that need it (does group 3 exist, is this card
someone else's) live in the stores (`users.py`, `organisation.py`, `references.py`). Every
failure is a `ValidationError(field, message)` whose field is the public name used by the
API and the import/export files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from gateway.access.snapshot import PATTERN_DAYS, SLOTS_PER_DAY
from gateway.model import (
    ADMIN_LEVELS,
    MAX_PUBLIC_PINS,
    PRIVATE_PIN_DIGITS,
    PUBLIC_PIN_DIGITS,
    PlateWindow,
    User,
)
from gateway.store.errors import ValidationError

MAX_USER_ID = 32
MAX_CARDS = 5
MAX_PLATES = 5
MAX_QR_CODES = 5  # Akuvox gives one QR code per user; 5 mirrors the card and plate limit
MAX_QR_LENGTH = 256
MAX_PLATE_LENGTH = 32
MAX_NAME_LENGTH = 64
MAX_MESSAGE_LENGTH = 256
MAX_DOOR_LENGTH = 64
MAX_URL_LENGTH = 1024  # an agent's URL (`gateway.store.agents`)
# A user's web relay URLs (docs/web-relay.md): the guides give no count for "Web Relay";
# 10 is the Akuvox authentication device's limit for a user's HTTP URLs (reference 003).
MAX_WEB_RELAY_URLS = 10
MAX_WEB_RELAY_URL_LENGTH = 1024
MAX_FLOORS = 128  # floors per user: more than any lift a Pi's relays could drive
FLOOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as a [[floors]] name
CARD_HEX_DIGITS = (2, 20)
PIN_HASH_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PinLengths:
    """How many digits a PIN may have on this gateway (its `[access]` PIN settings), as
    (fewest, most): private PINs within 2-8, public PINs within 4-8 (the Akuvox limits)."""

    private: tuple[int, int] = PRIVATE_PIN_DIGITS
    public: tuple[int, int] = PUBLIC_PIN_DIGITS


AKUVOX_PIN_LENGTHS = PinLengths()  # the default: the widest ranges the Akuvox guides allow


# A person may type a card as "04:a1:b2 c3"; the separators carry no meaning.
_CARD_SEPARATORS = re.compile(r"[\s:]+")
_HEX = re.compile(r"[0-9A-F]+")
_CANONICAL_CARD = re.compile(
    rf"(?:[0-9A-F]{{2}}){{{CARD_HEX_DIGITS[0] // 2},{CARD_HEX_DIGITS[1] // 2}}}"
)
# Multi-valued fields are joined with ';' in CSV files, so a value cannot contain one.
LIST_SEPARATOR = ";"


def canonical_card(text: str) -> str:
    """The canonical form of a card number: uppercase hex, an even number of digits.

    Accepts lowercase, spaces and colons ("04:a1:b2:c3" -> "04A1B2C3"); anything else,
    an odd number of digits, or fewer than 2 / more than 20 digits is a `ValidationError`.
    """
    if _CANONICAL_CARD.fullmatch(text):
        return text  # the usual case (an export, a reader): one match instead of four steps
    digits = _CARD_SEPARATORS.sub("", text).upper()
    low, high = CARD_HEX_DIGITS
    if not digits or not _HEX.fullmatch(digits):
        raise ValidationError("cards", f"{text!r} is not a hexadecimal card number")
    if len(digits) % 2:
        raise ValidationError(
            "cards", f"{text!r} has an odd number of hex digits; pad it with a leading 0"
        )
    if not low <= len(digits) <= high:
        raise ValidationError("cards", f"{text!r} must have {low} to {high} hex digits")
    return digits


def check_user_id(user_id: str) -> None:
    """A user id is 1..32 printable characters, none of them a space."""
    if not user_id:
        raise ValidationError("user_id", "must not be empty")
    if len(user_id) > MAX_USER_ID:
        raise ValidationError("user_id", f"must be at most {MAX_USER_ID} characters")
    # Every other white space character is unprintable already.
    if not user_id.isprintable() or " " in user_id:
        raise ValidationError("user_id", "must be printable characters without spaces")


def check_pin(pin: str, field: str, digits: tuple[int, int]) -> None:
    """A PIN is only decimal digits, between `digits` long. The message never echoes it."""
    low, high = digits
    if not (pin.isascii() and pin.isdigit()):
        raise ValidationError(field, "must contain only the digits 0-9")
    if not low <= len(pin) <= high:
        raise ValidationError(field, f"must be {low} to {high} digits long")


def check_pin_hash(value: str) -> None:
    """A stored PIN hash is the 64 lowercase hex digits of an HMAC-SHA256."""
    if not PIN_HASH_RE.fullmatch(value):
        raise ValidationError("pin_hash", "must be 64 lowercase hex digits (an exported hash)")


def normalise_expiry(text: str | None) -> str | None:
    """Parse an ISO 8601 time with an explicit offset; return it as UTC `...Z` seconds.

    A time without an offset is refused: an expiry is a security boundary and must not
    depend on which time zone the person editing the file was in.
    """
    if text is None or text == "":
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "expiry", f"{text!r} is not an ISO 8601 time like 2027-01-31T00:00:00Z"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(
            "expiry", f"{text!r} has no time zone; write it in UTC, e.g. 2027-01-31T00:00:00Z"
        )
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_plate_windows(user: User) -> dict[str, PlateWindow]:
    """The user's plate windows with both times as UTC `...Z` (see `normalise_expiry`);
    a window with neither time is dropped (a long-term plate). `ValidationError` on
    "plate_windows" for a plate the user lacks or a window that ends before it starts."""
    windows: dict[str, PlateWindow] = {}
    for plate, (start, end) in user.plate_windows.items():
        if plate not in user.plates:
            raise ValidationError("plate_windows", f"{plate!r} is not one of the user's plates")
        window = (_window_time(start), _window_time(end))
        if window[0] is not None and window[1] is not None and window[1] <= window[0]:
            raise ValidationError("plate_windows", f"the window of {plate!r} ends before it starts")
        if window != (None, None):
            windows[plate] = window
    return windows


def _window_time(text: str | None) -> str | None:
    try:
        return normalise_expiry(text)
    except ValidationError as exc:
        raise ValidationError("plate_windows", exc.message.replace("expiry", "time")) from None


def expiry_epoch(text: str | None) -> float | None:
    """Epoch seconds of a normalised expiry (None stays None)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


def check_text(field: str, value: str, max_length: int) -> None:
    """Free text: printable (no control characters, no newlines), bounded length."""
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters")
    if not value.isprintable():
        raise ValidationError(field, "must not contain control characters or line breaks")


def check_list_item(field: str, value: str, max_length: int) -> None:
    """One value of a multi-valued field: non-empty, trimmed, no ';', printable."""
    if not value:
        raise ValidationError(field, "must not contain an empty value")
    if value != value.strip():
        raise ValidationError(field, f"{value!r} must not start or end with a space")
    if LIST_SEPARATOR in value:
        raise ValidationError(field, f"{value!r} must not contain {LIST_SEPARATOR!r}")
    check_text(field, value, max_length)


def _unique(field: str, values: list[str] | list[int]) -> None:
    if len(values) < 2 or len(set(values)) == len(values):  # the usual case, no loop
        return
    seen: set[str | int] = set()
    for value in values:
        if value in seen:
            raise ValidationError(field, f"{value!r} is listed twice")
        seen.add(value)


def _bounded(field: str, values: list[str], limit: int, max_length: int) -> None:
    if not values:
        return  # most users have no QR code, plate or door list
    if len(values) > limit:
        raise ValidationError(field, f"at most {limit} per user, got {len(values)}")
    for value in values:
        check_list_item(field, value, max_length)
    _unique(field, values)


def _check_ids(field: str, ids: list[int]) -> None:
    if not ids:
        raise ValidationError(
            field, "must list at least one id (0 is the default); set active=false to suspend"
        )
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(field, f"{value!r} is not a non-negative integer id")
    _unique(field, ids)


def validate_user(user: User) -> User:
    """Check every field that needs no database; return a normalised copy.

    Normalised: cards in canonical form, expiry as UTC `...Z`. The PIN is checked but left
    in clear: the caller hashes it.
    """
    cards, expiry = check_user(user)
    return replace(
        user,
        cards=cards,
        expiry=expiry,
        active=bool(user.active),
        departments=list(user.departments),
        groups=list(user.groups),
        doors=list(user.doors),
        qr_codes=list(user.qr_codes),
        plates=list(user.plates),
        plate_windows=normalise_plate_windows(user) if user.plate_windows else {},
        floors=list(user.floors),
        web_relay_urls=list(user.web_relay_urls),
    )


def check_user(user: User) -> tuple[list[str], str | None]:
    """`validate_user`'s checks without the copy: the user's cards in canonical form and
    its expiry normalised, for a caller that built the `User` itself and sets them on it
    (an import, where a copy per row is a good part of the time)."""
    check_user_id(user.user_id)
    check_text("first_name", user.first_name, MAX_NAME_LENGTH)
    check_text("last_name", user.last_name, MAX_NAME_LENGTH)
    check_text("other_name", user.other_name, MAX_NAME_LENGTH)
    check_text("message", user.message, MAX_MESSAGE_LENGTH)
    if user.admin_level not in ADMIN_LEVELS:
        raise ValidationError("admin_level", f"must be one of {', '.join(ADMIN_LEVELS)}")
    _check_ids("departments", user.departments)
    _check_ids("groups", user.groups)
    _bounded("doors", user.doors, 1000, MAX_DOOR_LENGTH)
    if len(user.cards) > MAX_CARDS:
        raise ValidationError("cards", f"at most {MAX_CARDS} per user, got {len(user.cards)}")
    cards = [canonical_card(card) for card in user.cards]
    _unique("cards", cards)
    _bounded("qr_codes", user.qr_codes, MAX_QR_CODES, MAX_QR_LENGTH)
    _bounded("plates", user.plates, MAX_PLATES, MAX_PLATE_LENGTH)
    if user.pin is not None:
        check_pin(user.pin, "pin", PRIVATE_PIN_DIGITS)
    if user.floors:
        check_floors(user.floors)
    if user.web_relay_urls:
        check_web_relay_urls(user.web_relay_urls)
    return cards, normalise_expiry(user.expiry)


def check_floors(floors: list[str]) -> None:
    """A user's elevator floors: at most `MAX_FLOORS` distinct floor names."""
    if len(floors) > MAX_FLOORS:
        raise ValidationError("floors", f"at most {MAX_FLOORS} per user, got {len(floors)}")
    for floor in floors:
        if not isinstance(floor, str) or not FLOOR_NAME.fullmatch(floor):
            raise ValidationError(
                "floors",
                f"{floor!r} is not a floor name (1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit)",
            )
    _unique("floors", floors)


def check_web_relay_urls(urls: list[str]) -> None:
    """A user's web relay URLs: at most `MAX_WEB_RELAY_URLS` http(s) URLs with a host, of
    at most `MAX_WEB_RELAY_URL_LENGTH` characters each. A message names the URL by its
    position (1 = the first), never by its text: it may hold a password."""
    field = "web_relay_urls"
    if len(urls) > MAX_WEB_RELAY_URLS:
        raise ValidationError(field, f"at most {MAX_WEB_RELAY_URLS} per user, got {len(urls)}")
    for number, url in enumerate(urls, start=1):
        if not isinstance(url, str) or not url:
            raise ValidationError(field, f"URL {number} is empty")
        if len(url) > MAX_WEB_RELAY_URL_LENGTH:
            raise ValidationError(
                field, f"URL {number} is longer than {MAX_WEB_RELAY_URL_LENGTH} characters"
            )
        if not url.isprintable() or any(c.isspace() for c in url) or LIST_SEPARATOR in url:
            raise ValidationError(
                field,
                f"URL {number} must not contain spaces, control characters or "
                f"{LIST_SEPARATOR!r} (percent-encode them)",
            )
        if not _is_http_url(url):
            raise ValidationError(field, f"URL {number} is not an http:// or https:// URL")
    if len(set(urls)) != len(urls):
        raise ValidationError(field, "the same URL is listed twice")


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def check_public_pins(pins: list[str], digits: tuple[int, int] = PUBLIC_PIN_DIGITS) -> None:
    """At most 3 public PINs, `digits` (4..8) long each, all different."""
    if len(pins) > MAX_PUBLIC_PINS:
        raise ValidationError("public_pins", f"at most {MAX_PUBLIC_PINS}, got {len(pins)}")
    for pin in pins:
        check_pin(pin, "public_pins", digits)
    if len(set(pins)) != len(pins):
        raise ValidationError("public_pins", "the same PIN is listed twice")


def normalise_patterns(patterns: Mapping[str, str]) -> dict[str, str]:
    """Day name (any case) -> 48 chars of '0'/'1'; returns upper-case day names."""
    result: dict[str, str] = {}
    for day, pattern in patterns.items():
        name = day.upper()
        if name not in PATTERN_DAYS:
            raise ValidationError("patterns", f"{day!r} is not one of {', '.join(PATTERN_DAYS)}")
        if name in result:
            raise ValidationError("patterns", f"{name} is given twice")
        if len(pattern) != SLOTS_PER_DAY or set(pattern) - {"0", "1"}:
            raise ValidationError(
                "patterns", f"{name} must be {SLOTS_PER_DAY} characters of '0' or '1'"
            )
        result[name] = pattern
    return result


def check_record_id(field: str, value: int) -> None:
    """Department, access right and group ids are non-negative integers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(field, f"{value!r} is not a non-negative integer id")


def check_name(field: str, value: str) -> None:
    """A record name: non-empty printable text."""
    if not value.strip():
        raise ValidationError(field, "must not be empty")
    check_text(field, value, MAX_NAME_LENGTH)


def check_named_record(id: int, name: str, description: str) -> None:
    """A department or an access right: its id, a name, a description of at most four
    names' length."""
    check_record_id("id", id)
    check_name("name", name)
    check_text("description", description, MAX_NAME_LENGTH * 4)


def check_technician(username: str, password: str, level: str) -> None:
    """A technician account: a username of printable characters without spaces, a
    password (its strength is judged by `gateway.passwords`), an admin level."""
    if not username or len(username) > MAX_NAME_LENGTH:
        raise ValidationError("username", f"must be 1 to {MAX_NAME_LENGTH} characters")
    if not all(ch.isprintable() and not ch.isspace() for ch in username):
        raise ValidationError("username", "must be printable characters without spaces")
    if not password:
        raise ValidationError("password", "must not be empty")
    check_admin_level(level)


def check_admin_level(level: str) -> None:
    """One of the ACTAtek admin levels."""
    if level not in ADMIN_LEVELS:
        raise ValidationError("level", f"must be one of {', '.join(ADMIN_LEVELS)}")


def parse_date(value: str | date) -> date:
    """A calendar date from a `date` or `YYYY-MM-DD` text."""
    if isinstance(value, datetime):
        raise ValidationError("dates", f"{value!r} is a time, not a date")
    if isinstance(value, date):
        return value
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError("dates", f"{value!r} is not a YYYY-MM-DD date") from None


def check_doors(doors: list[str] | None) -> list[str] | None:
    """A group's doors: None = every door; otherwise a non-empty list of door names."""
    if doors is None:
        return None
    if not doors:
        raise ValidationError(
            "doors", "an empty list would match no door; leave doors out for every door"
        )
    for door in doors:
        check_list_item("doors", door, MAX_DOOR_LENGTH)
    _unique("doors", doors)
    return list(doors)


def split_dates(dates: Iterable[str | date]) -> tuple[list[date], list[str]]:
    """The dates that parse, and the inputs that do not (as text, to report back)."""
    valid: list[date] = []
    invalid: list[str] = []
    for value in dates:
        try:
            valid.append(parse_date(value))
        except ValidationError:
            invalid.append(str(value))
    return valid, invalid
