"""Wiegand frame formats: bit layouts, parity checks and the canonical card number.

Bits are numbered from 0, the first bit on the wire (HID's documents number from 1).
The canonical card number is the data bits between the parity bits (facility and card
number together) as uppercase hex, zero-padded to whole bytes: H10301 facility 12,
card 34567 -> `0C8707`. Facility and card-number fields are kept for display and for
keypads that send a whole PIN as the card-number field of one frame.

Pure: no I/O. `FormatRegistry` holds the built-in formats plus the site's custom ones
(`[[wiegand_formats]]` in the configuration), and decodes frames with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from gateway.settings import MAX_FRAME_BITS as MAX_FRAME_BITS  # longer bursts are noise
from gateway.settings import WiegandFormatSettings

MASK_SEPARATORS = "_ "  # allowed between groups of a parity mask, for readability


@dataclass(frozen=True)
class BitRange:
    """Bits `first`..`last` (inclusive) of a frame, read as an unsigned big-endian number."""

    first: int
    last: int

    @property
    def width(self) -> int:
        """How many bits the range holds."""
        return self.last - self.first + 1

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.first <= index <= self.last

    def within(self, other: BitRange) -> bool:
        """True when every bit of this range is also in `other`."""
        return other.first <= self.first and self.last <= other.last

    def overlaps(self, other: BitRange) -> bool:
        """True when the two ranges share a bit."""
        return self.first <= other.last and other.first <= self.last

    def read(self, bits: str) -> int:
        """The range's value in `bits`."""
        return int(bits[self.first : self.last + 1], 2)

    def write(self, bits: list[str], value: int, label: str) -> None:
        """Store `value` in the range, refusing a value that does not fit."""
        if not 0 <= value < 1 << self.width:
            raise ValueError(f"{label} {value} does not fit in {self.width} bits")
        bits[self.first : self.last + 1] = f"{value:0{self.width}b}"

    def __str__(self) -> str:
        return f"[{self.first}, {self.last}]"


@dataclass(frozen=True)
class ParityRule:
    """Parity bit `bit` makes the count of ones over itself and `covers` odd or even."""

    bit: int
    covers: tuple[int, ...]  # sorted, never containing `bit`
    odd: bool

    @classmethod
    def over(cls, bit: int, first: int, last: int, odd: bool) -> ParityRule:
        """A rule over the contiguous bits `first`..`last`."""
        return cls.of(bit, range(first, last + 1), odd)

    @classmethod
    def of(cls, bit: int, covers: Iterable[int], odd: bool) -> ParityRule:
        """A rule over any set of bits; the parity bit itself is dropped from the set."""
        return cls(bit, tuple(sorted(set(covers) - {bit})), odd)

    @classmethod
    def from_mask(cls, bit: int, mask: str, odd: bool) -> ParityRule:
        """A rule from a mask of '0'/'1', one per frame bit ('_' and spaces ignored)."""
        clean = mask_bits(mask)
        return cls.of(bit, (i for i, c in enumerate(clean) if c == "1"), odd)

    def expected(self, bits: str) -> str:
        """The value the parity bit must have for the covered bits in `bits`."""
        ones_odd = sum(bits[i] == "1" for i in self.covers) % 2 == 1
        return "0" if ones_odd == self.odd else "1"

    def holds(self, bits: str) -> bool:
        """True when the parity bit in `bits` matches its covered bits."""
        return bits[self.bit] == self.expected(bits)


def mask_bits(mask: str) -> str:
    """A parity mask without its group separators."""
    return "".join(c for c in mask if c not in MASK_SEPARATORS)


def parity_order(rules: Sequence[ParityRule]) -> tuple[ParityRule, ...]:
    """The rules ordered so each parity bit is set after every parity bit it covers.

    Corporate 1000 needs this: its bit 0 covers the other two parity bits. Raises
    ValueError when parity bits cover each other in a circle (nothing could be encoded).
    """
    pending, ordered = list(rules), []
    unset = {rule.bit for rule in rules}
    while pending:
        ready = [r for r in pending if not (unset - {r.bit}).intersection(r.covers)]
        if not ready:
            circle = ", ".join(str(r.bit) for r in pending)
            raise ValueError(f"parity bits {circle} cover each other in a circle")
        for rule in ready:
            pending.remove(rule)
            unset.discard(rule.bit)
            ordered.append(rule)
    return tuple(ordered)


@dataclass(frozen=True)
class WiegandFormat:
    """A frame layout: length, data bits, facility and card-number fields, parity rules."""

    name: str
    length: int
    data: BitRange
    card: BitRange
    facility: BitRange | None = None
    parity: tuple[ParityRule, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        for problem in self._problems():
            raise ValueError(f"Wiegand format {self.name}: {problem}")

    def _problems(self) -> Iterator[str]:
        """Every way the layout contradicts itself (the config loader checks these first)."""
        if not 1 <= self.length <= MAX_FRAME_BITS:
            yield f"length must be 1 to {MAX_FRAME_BITS} bits"
        if not (0 <= self.data.first <= self.data.last < self.length):
            yield f"data bits {self.data} must lie within the {self.length} bits"
        if not self.card.within(self.data):
            yield f"card bits {self.card} must lie within the data bits {self.data}"
        if self.facility is not None and not self.facility.within(self.data):
            yield f"facility bits {self.facility} must lie within the data bits {self.data}"
        if self.facility is not None and self.facility.overlaps(self.card):
            yield "facility and card bits overlap"
        bits = [rule.bit for rule in self.parity]
        if len(set(bits)) != len(bits):
            yield "two parity rules share a parity bit"
        for rule in self.parity:
            if not 0 <= rule.bit < self.length or rule.bit in self.data:
                yield f"parity bit {rule.bit} must lie within the frame, outside the data bits"
            if not rule.covers or not all(0 <= i < self.length for i in rule.covers):
                yield f"parity bit {rule.bit} must cover bits within the frame"
        parity_order(self.parity)  # raises on a circle

    @property
    def data_bytes(self) -> int:
        """How many bytes the canonical number has."""
        return (self.data.width + 7) // 8

    def parity_ok(self, bits: str) -> bool:
        """True when `bits` has this format's length and every parity bit matches."""
        return len(bits) == self.length and all(rule.holds(bits) for rule in self.parity)

    def canonical(self, bits: str) -> str:
        """The data bits as uppercase hex, zero-padded to whole bytes."""
        return f"{self.data.read(bits):0{self.data_bytes * 2}X}"

    def fields(self, bits: str) -> tuple[int | None, int]:
        """(facility, card number) of a frame; facility is None for formats without one."""
        facility = self.facility.read(bits) if self.facility is not None else None
        return facility, self.card.read(bits)

    def encode(self, facility: int | None, card: int) -> str:
        """The frame a reader sends for (facility, card); data bits outside both are 0."""
        bits = ["0"] * self.length
        if self.facility is not None:
            self.facility.write(bits, facility or 0, "facility")
        elif facility:
            raise ValueError(f"{self.name} has no facility field")
        self.card.write(bits, card, "card number")
        return self._with_parity(bits)

    def encode_data(self, value: int) -> str:
        """The frame whose data bits are `value` (a raw UID, say), parity filled in."""
        bits = ["0"] * self.length
        self.data.write(bits, value, "data")
        return self._with_parity(bits)

    def _with_parity(self, bits: list[str]) -> str:
        for rule in parity_order(self.parity):
            bits[rule.bit] = rule.expected("".join(bits))
        return "".join(bits)


def _halves(length: int, first: int, last: int) -> tuple[ParityRule, ParityRule]:
    """The common layout: leading even parity over the first half of `first`..`last`,
    trailing odd parity over the second half (the halves share the middle bit when the
    count is odd, as in the 37-bit formats)."""
    count = last - first + 1
    half = (count + 1) // 2
    return (
        ParityRule.over(0, first, first + half - 1, odd=False),
        ParityRule.over(length - 1, last - half + 1, last, odd=True),
    )


H10301 = WiegandFormat(
    "H10301", 26, BitRange(1, 24), BitRange(9, 24), BitRange(1, 8),
    (ParityRule.over(0, 1, 12, odd=False), ParityRule.over(25, 13, 24, odd=True)),
    "HID H10301 26-bit: 8-bit facility, 16-bit card",
)  # fmt: skip
H10306 = WiegandFormat(
    "H10306", 34, BitRange(1, 32), BitRange(17, 32), BitRange(1, 16), _halves(34, 1, 32),
    "HID H10306 34-bit: 16-bit facility, 16-bit card (also a 4-byte UID with parity)",
)  # fmt: skip
# Corporate 1000: bit 1 even over bits 2,3,5,6,...,32,33 (every bit from 2 but each third);
# bit 34 odd over 1,2,4,5,...,31,32; then bit 0 odd over the whole frame.
C1000_35 = WiegandFormat(
    "C1000-35", 35, BitRange(2, 33), BitRange(14, 33), BitRange(2, 13),
    (
        ParityRule.of(1, (i for i in range(2, 34) if i % 3 != 1), odd=False),
        ParityRule.of(34, (i for i in range(1, 34) if i % 3 != 0), odd=True),
        ParityRule.of(0, range(1, 35), odd=True),
    ),
    "HID Corporate 1000 35-bit: 12-bit company id, 20-bit card",
)  # fmt: skip
# H10302 and H10304 share the parity layout, so one frame has one canonical number under
# either; they differ only in how the 35 data bits split into facility and card.
H10302 = WiegandFormat(
    "H10302", 37, BitRange(1, 35), BitRange(1, 35), None, _halves(37, 1, 35),
    "HID H10302 37-bit: 35-bit card, no facility",
)  # fmt: skip
H10304 = WiegandFormat(
    "H10304", 37, BitRange(1, 35), BitRange(17, 35), BitRange(1, 16), _halves(37, 1, 35),
    "HID H10304 37-bit: 16-bit facility, 19-bit card",
)  # fmt: skip
UID32 = WiegandFormat(
    "UID32", 32, BitRange(0, 31), BitRange(0, 31), None, (),
    "32-bit raw UID (4 bytes), no parity",
)  # fmt: skip
UID56 = WiegandFormat(
    "UID56", 56, BitRange(0, 55), BitRange(0, 55), None, (),
    "56-bit raw UID (7 bytes), no parity",
)  # fmt: skip
UID58 = WiegandFormat(
    "UID58", 58, BitRange(1, 56), BitRange(1, 56), None, _halves(58, 1, 56),
    "58-bit: 7-byte UID with even/odd parity over its halves",
)  # fmt: skip

FORMATS: dict[str, WiegandFormat] = {
    fmt.name: fmt for fmt in (H10301, H10306, C1000_35, H10302, H10304, UID32, UID56, UID58)
}


def format_from_settings(settings: WiegandFormatSettings) -> WiegandFormat:
    """A custom format from its `[[wiegand_formats]]` entry (ValueError if inconsistent)."""
    facility = BitRange(*settings.facility_bits) if settings.facility_bits else None
    rules = tuple(
        ParityRule.from_mask(rule.bit, rule.mask, rule.parity == "odd")
        for rule in settings.parity_rules
    )
    return WiegandFormat(
        settings.name,
        settings.length,
        BitRange(*settings.data_bits),
        BitRange(*settings.card_bits),
        facility,
        rules,
        f"custom {settings.length}-bit",
    )


@dataclass(frozen=True)
class FrameResult:
    """What one frame turned into: a card number, or the reason it was rejected.

    `reason` is "accepted", "length" (no configured format has this many bits), "parity"
    or "swapped_lines" (the frame fails, but every bit inverted parses: DATA0/DATA1 are
    crossed). `facility` and `number` are the frame's fields when accepted.
    """

    format: str | None
    card: str | None
    reason: str
    facility: int | None = None
    number: int | None = None


def invert(bits: str) -> str:
    """Every bit flipped: what a reader with DATA0/DATA1 crossed delivers."""
    return bits.translate(str.maketrans("01", "10"))


class FormatRegistry:
    """The built-in formats plus a site's custom formats, looked up by name."""

    def __init__(self, custom: Iterable[WiegandFormat] = ()) -> None:
        self._formats = dict(FORMATS)
        for fmt in custom:
            if fmt.name in self._formats:
                raise ValueError(f"Wiegand format {fmt.name} is defined twice")
            self._formats[fmt.name] = fmt

    @classmethod
    def from_settings(cls, custom: Iterable[WiegandFormatSettings]) -> FormatRegistry:
        """The registry for a configuration's `[[wiegand_formats]]` entries."""
        return cls(format_from_settings(entry) for entry in custom)

    def __contains__(self, name: object) -> bool:
        return name in self._formats

    def __getitem__(self, name: str) -> WiegandFormat:
        return self._formats[name]

    def names(self) -> tuple[str, ...]:
        """Every known format name, built-ins first."""
        return tuple(self._formats)

    def decode(self, bits: str, names: Sequence[str]) -> FrameResult:
        """Decode `bits` with the first of the formats `names` whose length and parity fit."""
        matching = [self[n] for n in names if n in self and self[n].length == len(bits)]
        if not matching:
            return FrameResult(None, None, "length")
        for fmt in matching:
            if fmt.parity_ok(bits):
                facility, number = fmt.fields(bits)
                return FrameResult(fmt.name, fmt.canonical(bits), "accepted", facility, number)
        # Inverted bits only prove crossed lines for formats with parity (a frame without
        # parity always parses), and the parity of every built-in fails when inverted.
        flipped = invert(bits)
        for fmt in matching:
            if fmt.parity and fmt.parity_ok(flipped):
                return FrameResult(fmt.name, None, "swapped_lines")
        return FrameResult(matching[0].name, None, "parity")


BUILTIN = FormatRegistry()


def decode_card_frame(
    bits: str, formats: Sequence[str], registry: FormatRegistry = BUILTIN
) -> FrameResult:
    """Decode `bits` with the first configured format of matching length and parity."""
    return registry.decode(bits, formats)


def encode(
    fmt: str | WiegandFormat,
    facility: int | None,
    card: int,
    registry: FormatRegistry = BUILTIN,
) -> str:
    """The frame a reader of format `fmt` sends for (facility, card): tests, simulation."""
    layout = registry[fmt] if isinstance(fmt, str) else fmt
    return layout.encode(facility, card)


def encode_h10301(facility: int, card: int) -> str:
    """The 26 bits an H10301 reader sends for (facility, card): used by tests and simulation."""
    return H10301.encode(facility, card)


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
