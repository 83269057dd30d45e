"""Card numbers: the canonical form, how a reader's UID bytes become it, and the display
formats installers meet on Akuvox and similar devices (8HN, 10DN, W26, ...).

Canonical: uppercase hex, zero-padded to whole bytes. For a Wiegand frame it is the data
bits between the parity bits; for a UID, its bytes in reader order. A reader can be told
to reverse the UID and to keep only its last N bytes, so that, for example, an NFC reader
and a 26-bit Wiegand reader resolve the same card to the same number (docs/card-formats.md).

Display formats read the canonical number as the card's UID bytes in normal order (b0 is
the first byte a reader reports). `to_display` shows it the way a device configured with
that format shows it; `from_printed` turns a number printed on a card (or shown by such a
device) back into the canonical form, always in normal byte order. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ByteOrder = Literal["normal", "reversed"]
Style = Literal["hex", "decimal", "facility_card"]

_HEX = re.compile(r"(?:[0-9A-F]{2})+\Z")
_HEX_SEPARATORS = re.compile(r"[\s:\-]")
_FACILITY_CARD = re.compile(r"(\d{1,3})\s*[-/,:\s]\s*(\d{1,5})\Z")


def reader_canonical(uid: bytes, byte_order: ByteOrder = "normal", card_bytes: int = 0) -> str:
    """The canonical number for `uid` as read, after the reader's byte order and length."""
    ordered = uid[::-1] if byte_order == "reversed" else uid
    if card_bytes:
        ordered = ordered[-card_bytes:]
    return ordered.hex().upper()


@dataclass(frozen=True)
class DisplayFormat:
    """One way devices show a card number.

    `width` bytes are shown: the last `width` bytes of the canonical number, reversed when
    `reverse`. With `exact`, the canonical number must have exactly `width` bytes (a 3-byte
    number has no first byte to show as 8HN); otherwise it must have at least `width`.
    """

    name: str
    width: int
    reverse: bool
    style: Style
    exact: bool
    digits: int  # characters of the shown number (decimal: the most digits accepted)
    meaning: str

    def render(self, shown: bytes) -> str:
        """The shown bytes (already chosen and ordered) as text."""
        if self.style == "hex":
            return shown.hex().upper()
        if self.style == "decimal":
            return f"{int.from_bytes(shown, 'big'):0{self.digits}d}"
        facility, card = shown[0], int.from_bytes(shown[1:], "big")
        separator = "-" if self.name == "W26" else ""
        return f"{facility:03d}{separator}{card:05d}"

    def parse(self, text: str) -> bytes:
        """The bytes a printed number stands for, in the order shown (ValueError if bad)."""
        if self.style == "hex":
            return self._parse_hex(text)
        if self.style == "decimal":
            return self._parse_decimal(text)
        return self._parse_facility_card(text)

    def _parse_hex(self, text: str) -> bytes:
        digits = _HEX_SEPARATORS.sub("", text).upper()
        if len(digits) != self.width * 2 or not _HEX.match(digits):
            raise ValueError(
                f"{self.name} expects {self.width * 2} hex digits ({self.meaning}), got {text!r}"
            )
        return bytes.fromhex(digits)

    def _parse_decimal(self, text: str) -> bytes:
        limit = 256**self.width - 1
        if not (text.isascii() and text.isdigit()) or len(text) > self.digits:
            raise ValueError(
                f"{self.name} expects up to {self.digits} decimal digits ({self.meaning}), "
                f"got {text!r}"
            )
        value = int(text)
        if value > limit:
            raise ValueError(f"{self.name} numbers go up to {limit}, got {text!r}")
        return value.to_bytes(self.width, "big")

    def _parse_facility_card(self, text: str) -> bytes:
        if self.name == "W26":
            match = _FACILITY_CARD.match(text)
            parts = match.groups() if match else None
        else:  # 8DN: the separator is left out, so the digits must be all there
            parts = (text[:3], text[3:]) if len(text) == 8 and text.isascii() else None
        if parts is None or not all(part.isdigit() for part in parts):
            raise ValueError(f"{self.name} expects {self.meaning}, got {text!r}")
        facility, card = int(parts[0]), int(parts[1])
        if facility > 255 or card > 65535:
            raise ValueError(f"{self.name}: facility must be 0-255 and card 0-65535, got {text!r}")
        return bytes([facility]) + card.to_bytes(2, "big")


def _uid(size: int, reverse: bool) -> DisplayFormat:
    order = "reversed" if reverse else "in reader order"
    name = f"UID{size}{'R' if reverse else 'N'}"
    return DisplayFormat(
        name, size, reverse, "hex", True, size * 2, f"the {size} UID bytes {order}"
    )


DISPLAY_FORMATS: dict[str, DisplayFormat] = {
    fmt.name: fmt
    for fmt in (
        DisplayFormat("8HN", 4, False, "hex", True, 8, "the 4 bytes as 8 hex digits"),
        DisplayFormat("8HR", 4, True, "hex", True, 8, "the 4 bytes reversed, 8 hex digits"),
        DisplayFormat("6HN", 3, False, "hex", False, 6, "the last 3 bytes as 6 hex digits"),
        DisplayFormat("6HR", 3, True, "hex", False, 6, "the last 3 bytes reversed, 6 hex digits"),
        DisplayFormat("10DN", 4, False, "decimal", True, 10, "the 4 bytes as one decimal number"),
        DisplayFormat("10DR", 4, True, "decimal", True, 10, "the 4 bytes reversed, in decimal"),
        DisplayFormat(
            "8DN", 3, False, "facility_card", False, 8,
            "8 digits: facility (3rd-last byte, 3 digits) then card (last 2 bytes, 5 digits)",
        ),
        DisplayFormat(
            "W26", 3, False, "facility_card", False, 9,
            'facility-card as "FFF-CCCCC" (3rd-last byte, then the last 2 bytes)',
        ),
        _uid(4, False), _uid(4, True), _uid(7, False), _uid(7, True),
        _uid(10, False), _uid(10, True),
    )
}  # fmt: skip
CARD_FORMATS: tuple[str, ...] = tuple(DISPLAY_FORMATS)


def _format(fmt: str) -> DisplayFormat:
    spec = DISPLAY_FORMATS.get(fmt.strip().upper())
    if spec is None:
        raise ValueError(f"unknown card number format {fmt!r}; known: {', '.join(CARD_FORMATS)}")
    return spec


def canonical_bytes(canonical: str) -> bytes:
    """The bytes of a canonical number (ValueError unless whole bytes of hex)."""
    text = canonical.strip().upper()
    if not _HEX.match(text):
        raise ValueError(f"a card number is whole bytes of hex (e.g. 0C8707), got {canonical!r}")
    return bytes.fromhex(text)


def to_display(canonical: str, fmt: str) -> str:
    """`canonical` as a device set to display format `fmt` shows it.

    Raises ValueError when the number has too few bytes for the format (or, for the
    4-byte and UID formats, not exactly their size).
    """
    spec = _format(fmt)
    data = canonical_bytes(canonical)
    if len(data) < spec.width or (spec.exact and len(data) != spec.width):
        need = f"exactly {spec.width}" if spec.exact else f"at least {spec.width}"
        raise ValueError(
            f"{spec.name} shows {spec.meaning}: it needs {need} bytes, "
            f"and {canonical.strip().upper()} has {len(data)}"
        )
    shown = data[-spec.width :]
    return spec.render(shown[::-1] if spec.reverse else shown)


def from_printed(text: str, fmt: str) -> str:
    """The canonical number (normal byte order) for `text` printed in format `fmt`.

    The result has the format's width: 4 bytes for 8HN/8HR/10DN/10DR, 3 for
    6HN/6HR/8DN/W26, N for UIDnN/UIDnR. Raises ValueError for text that does not fit.
    """
    spec = _format(fmt)
    shown = spec.parse(text.strip())
    data = shown[::-1] if spec.reverse else shown
    return data.hex().upper()


def displays(canonical: str) -> dict[str, str]:
    """`canonical` in every display format that can show it (for diagnostics pages)."""
    shown: dict[str, str] = {}
    for name in CARD_FORMATS:
        try:
            shown[name] = to_display(canonical, name)
        except ValueError:
            continue
    return shown
