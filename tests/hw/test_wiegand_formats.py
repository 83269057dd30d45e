"""Wiegand formats: layouts, parity, canonical numbers, crossed lines, custom formats."""

from __future__ import annotations

import pytest

from gateway.hw.formats import (
    BUILTIN,
    FORMATS,
    BitRange,
    FormatRegistry,
    ParityRule,
    WiegandFormat,
    decode_card_frame,
    encode,
    encode_h10301,
    format_from_settings,
    invert,
)
from gateway.settings import ParityRuleSettings, WiegandFormatSettings

# (format, facility, card, canonical): the canonical number is the data bits as hex.
VECTORS = [
    ("H10301", 12, 34567, "0C8707"),
    ("H10306", 1234, 56789, "04D2DDD5"),
    ("C1000-35", 4000, 1_000_000, "FA0F4240"),
    ("H10302", None, 34_359_738_367, "07FFFFFFFF"),
    ("H10304", 65535, 1, "07FFF80001"),
    ("UID32", None, 0x04A1B2C3, "04A1B2C3"),
    ("UID56", None, 0x04523AB2C15E80, "04523AB2C15E80"),
    ("UID58", None, 0x04523AB2C15E80, "04523AB2C15E80"),
]


@pytest.mark.parametrize(("name", "facility", "card", "canonical"), VECTORS)
def test_encode_then_decode_gives_fields_and_canonical(
    name: str, facility: int | None, card: int, canonical: str
) -> None:
    bits = encode(name, facility, card)
    assert len(bits) == FORMATS[name].length
    result = decode_card_frame(bits, (name,))
    assert (result.format, result.card, result.reason) == (name, canonical, "accepted")
    assert (result.facility, result.number) == (facility, card)


def test_h10301_known_frame() -> None:
    # Facility 12, card 34567: even parity over 0000 1100 1000 (3 ones) -> 1,
    # odd parity over 0111 0000 0111 (6 ones) -> 1.
    assert encode_h10301(12, 34567) == "1" + "00001100" + "1000011100000111" + "1"


def _c1000_like_proxmark(facility: int, card: int) -> str:
    """Corporate 1000 packed the way the Proxmark3 client does it (32+3 bit words with the
    last bit sent as bit 0 of `bot`): an independent check of our mask-based rules."""
    bot = (card & 0xFFFFF) << 1 | (facility & 0x7FF) << 21
    mid = (facility & 0x800) >> 11
    parity = bin((mid & 0x1) | ((bot & 0xB6DB6DB6) << 1)).count("1") % 2
    mid |= parity << 1  # even parity
    bot |= 1 - bin((mid & 0x3) | ((bot & 0x6DB6DB6C) << 2)).count("1") % 2  # odd parity
    mid |= (1 - bin((mid & 0x3) | (bot << 2)).count("1") % 2) << 2  # odd over everything
    return f"{mid:03b}{bot:032b}"


@pytest.mark.parametrize(("facility", "card"), [(0, 0), (1, 1), (4095, 1048575), (2749, 12345)])
def test_corporate_1000_matches_an_independent_packer(facility: int, card: int) -> None:
    assert encode("C1000-35", facility, card) == _c1000_like_proxmark(facility, card)


def test_the_two_37_bit_formats_share_the_canonical_number() -> None:
    bits = encode("H10304", 300, 400_000)
    h10302 = decode_card_frame(bits, ("H10302",))
    h10304 = decode_card_frame(bits, ("H10304",))
    assert h10302.card == h10304.card and h10302.reason == h10304.reason == "accepted"
    assert (h10304.facility, h10304.number) == (300, 400_000)
    assert (h10302.facility, h10302.number) == (None, (300 << 19) | 400_000)


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.parity])
def test_every_single_bit_flip_fails(name: str) -> None:
    fmt = FORMATS[name]
    good = fmt.encode_data(0x5A5A5A5A5A5A5A % (1 << fmt.data.width))
    for index in range(fmt.length):
        bits = good[:index] + ("1" if good[index] == "0" else "0") + good[index + 1 :]
        result = decode_card_frame(bits, (name,))
        assert result.card is None, f"{name}: flipping bit {index} still parsed"
        # Where parity groups overlap (the 37-bit middle bit, Corporate 1000) one flipped
        # bit can look like crossed lines; it is rejected either way.
        assert result.reason in ("parity", "swapped_lines")


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.parity])
def test_inverted_frames_say_the_lines_are_swapped(name: str) -> None:
    fmt = FORMATS[name]
    for value in (0, 1, (1 << fmt.data.width) - 1, 0x123456789 % (1 << fmt.data.width)):
        result = decode_card_frame(invert(fmt.encode_data(value)), (name,))
        assert (result.card, result.reason) == (None, "swapped_lines")


def test_formats_without_parity_cannot_detect_swapped_lines() -> None:
    frame = encode("UID32", None, 0x04A1B2C3)
    assert decode_card_frame(invert(frame), ("UID32",)).card == "FB5E4D3C"


def test_unknown_length_and_unconfigured_formats_are_rejected() -> None:
    assert decode_card_frame("1" * 30, ("H10301",)).reason == "length"
    assert decode_card_frame(encode("H10306", 1, 2), ("H10301",)).reason == "length"
    assert decode_card_frame(encode("H10301", 1, 2), ("NOPE",)).reason == "length"


def test_first_configured_format_of_a_length_wins() -> None:
    bits = encode("H10304", 5, 6)
    assert decode_card_frame(bits, ("H10304", "H10302")).format == "H10304"
    assert decode_card_frame(bits, ("H10302", "H10304")).format == "H10302"


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="facility 256 does not fit in 8 bits"):
        encode("H10301", 256, 1)
    with pytest.raises(ValueError, match="has no facility field"):
        encode("H10302", 1, 1)


def _ats30_settings() -> WiegandFormatSettings:
    return WiegandFormatSettings(
        "ATS30", 30, (1, 28), (13, 28), (1, 12),
        (
            ParityRuleSettings(0, "0_111111111111_0000000000000000_0", "even"),
            ParityRuleSettings(29, "0 000000000000 1111111111111111 0", "odd"),
        ),
    )  # fmt: skip


def test_custom_format_from_settings() -> None:
    fmt = format_from_settings(_ats30_settings())
    assert fmt.parity == (ParityRule.over(0, 1, 12, False), ParityRule.over(29, 13, 28, True))
    registry = FormatRegistry.from_settings([_ats30_settings()])
    bits = registry["ATS30"].encode(4095, 65535)
    result = registry.decode(bits, ("H10301", "ATS30"))
    assert (result.format, result.card, result.facility, result.number) == (
        "ATS30", "0FFFFFFF", 4095, 65535
    )  # fmt: skip
    assert "ATS30" not in BUILTIN  # custom formats live in their own registry


def test_registry_refuses_a_second_format_of_the_same_name() -> None:
    clash = WiegandFormat("H10301", 26, BitRange(1, 24), BitRange(1, 24))
    with pytest.raises(ValueError, match="defined twice"):
        FormatRegistry([clash])


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"data": BitRange(0, 30)}, "data bits"),
        ({"card": BitRange(0, 5)}, "card bits"),
        ({"facility": BitRange(5, 14)}, "overlap"),
        ({"parity": (ParityRule.over(3, 4, 5, False),)}, "outside the data bits"),
        (
            {"parity": (ParityRule.of(0, [1, 29], True), ParityRule.of(29, [0, 1], True))},
            "circle",
        ),
    ],
)
def test_inconsistent_layouts_are_refused(kwargs: dict[str, object], problem: str) -> None:
    layout: dict[str, object] = {
        "name": "X", "length": 30, "data": BitRange(1, 28), "card": BitRange(13, 28),
        "facility": BitRange(1, 12),
    }  # fmt: skip
    layout.update(kwargs)
    with pytest.raises(ValueError, match=problem):
        WiegandFormat(**layout)  # type: ignore[arg-type]
