"""Wiegand frame formats: parity checks and the canonical card number.

The canonical card number is the data bits between the parity bits (facility and card
number together) as uppercase hex, zero-padded to whole bytes: H10301 facility 12,
card 34567 -> `0C8707`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WiegandFormat:
    """A frame layout: total length, where the data bits are, and the parity rules.

    Each parity rule is (parity bit index, first covered index, last covered index
    inclusive, odd), the parity bit itself excluded from its range.
    """

    name: str
    length: int
    data_start: int
    data_end: int  # exclusive
    parity: tuple[tuple[int, int, int, bool], ...]

    def parity_ok(self, bits: str) -> bool:
        """True when every parity bit matches its covered bits."""
        for index, first, last, odd in self.parity:
            ones = bits[first : last + 1].count("1") + (bits[index] == "1")
            if (ones % 2 == 1) != odd:
                return False
        return True

    def canonical(self, bits: str) -> str:
        """The data bits as uppercase hex, zero-padded to whole bytes."""
        data = bits[self.data_start : self.data_end]
        width = (len(data) + 7) // 8 * 2
        return f"{int(data, 2):0{width}X}"


H10301 = WiegandFormat("H10301", 26, 1, 25, ((0, 1, 12, False), (25, 13, 24, True)))

FORMATS: dict[str, WiegandFormat] = {H10301.name: H10301}


@dataclass(frozen=True)
class FrameResult:
    """What one frame turned into: a card number, or the reason it was rejected."""

    format: str | None
    card: str | None
    reason: str  # "accepted", "parity", "length"


def decode_card_frame(bits: str, formats: tuple[str, ...]) -> FrameResult:
    """Decode `bits` with the first configured format of matching length."""
    candidates = [FORMATS[name] for name in formats if name in FORMATS]
    matching = [fmt for fmt in candidates if fmt.length == len(bits)]
    if not matching:
        return FrameResult(None, None, "length")
    for fmt in matching:
        if fmt.parity_ok(bits):
            return FrameResult(fmt.name, fmt.canonical(bits), "accepted")
    return FrameResult(matching[0].name, None, "parity")


KEY_NAMES = "0123456789*#"


def decode_key_burst(bits: str) -> str | None:
    """A keypad key from a 4-bit burst or an 8-bit burst (complement nibble, then key)."""
    if len(bits) == 4:
        value = int(bits, 2)
    elif len(bits) == 8:
        high, value = int(bits[:4], 2), int(bits[4:], 2)
        if high != 15 - value:
            return None
    else:
        return None
    return KEY_NAMES[value] if value < len(KEY_NAMES) else None


def encode_h10301(facility: int, card: int) -> str:
    """The 26 bits an H10301 reader sends for (facility, card): used by tests and simulation."""
    data = f"{facility:08b}{card:016b}"
    even = "1" if data[:12].count("1") % 2 else "0"
    odd = "0" if data[12:].count("1") % 2 else "1"
    return even + data + odd
