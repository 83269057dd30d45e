"""Learning a card from a real frame and the number printed on the card, and explaining a
frame format by format (gateway/cardlearn.py). The frames are written out bit by bit as a
reader sends them; each comment says what is on the card."""

from __future__ import annotations

import pytest

from gateway.cardlearn import (
    CARD_MODE,
    FIELDS_MODE,
    LearnResult,
    explain_frame,
    learn,
    parse_printed,
)
from gateway.hw.formats import BUILTIN, invert

# HID H10301 26-bit, facility 12, card 34567.
H10301_12_34567 = "10000110010000111000001111"
# HID Corporate 1000 35-bit, company 123, card 456789.
C1000_123_456789 = "10000001111011011011111000010101011"
# 34-bit (H10306 layout) carrying the 4-byte UID 04:A1:B2:C3 of a MIFARE card.
H10306_UID_04A1B2C3 = "0000001001010000110110010110000111"
# HID H10302 37-bit, card 12345678901 (no facility).
H10302_12345678901 = "1010110111111101110000011100001101010"


def learned(bits: str, printed: str, configured: tuple[str, ...]) -> LearnResult:
    return learn(bits, parse_printed(printed), BUILTIN, configured)


def pairs(result: LearnResult) -> list[tuple[str, str]]:
    return [(c.format, c.mode) for c in result.candidates]


def test_h10301_printed_as_facility_and_card_is_the_best_match() -> None:
    result = learned(H10301_12_34567, "12/34567", ("H10301",))
    best = result.candidates[0]
    assert (best.format, best.mode, best.canonical) == ("H10301", FIELDS_MODE, "0C8707")
    assert best.whole and best.configured


def test_h10301_printed_as_w26_and_8dn_and_hex() -> None:
    assert pairs(learned(H10301_12_34567, "012-34567", ("H10301",))) == [
        ("H10301", FIELDS_MODE),
        ("H10301", "W26"),
    ]
    assert pairs(learned(H10301_12_34567, "01234567", ("H10301",))) == [("H10301", "8DN")]
    assert pairs(learned(H10301_12_34567, "0c8707", ("H10301",))) == [("H10301", "6HN")]


def test_h10301_printed_card_number_alone_matches_but_says_the_facility_is_unchecked() -> None:
    (only,) = learned(H10301_12_34567, "34567", ("H10301",)).candidates
    assert (only.format, only.mode, only.shown) == ("H10301", CARD_MODE, "34567")
    assert not only.whole
    assert "facility code (12)" in only.note


def test_corporate_1000_card_number_on_a_reader_not_set_up_for_it() -> None:
    (only,) = learned(C1000_123_456789, "456789", ("H10301",)).candidates
    assert (only.format, only.mode) == ("C1000-35", CARD_MODE)
    assert not only.configured  # the reader must be given C1000-35 before it reads this card
    assert "facility code (123)" in only.note


def test_a_34_bit_uid_frame_in_every_way_a_uid_is_printed() -> None:
    configured = ("H10306",)
    assert ("H10306", "10DN") in pairs(learned(H10306_UID_04A1B2C3, "0077705923", configured))
    assert pairs(learned(H10306_UID_04A1B2C3, "04:a1:b2:c3", configured))[:2] == [
        ("H10306", "8HN"),
        ("H10306", "UID4N"),
    ]
    assert ("H10306", "8HR") in pairs(learned(H10306_UID_04A1B2C3, "C3B2A104", configured))
    # The same frame, read as H10306's own fields: facility 0x04A1, card 0xB2C3.
    assert pairs(learned(H10306_UID_04A1B2C3, "1185 45763", configured)) == [
        ("H10306", FIELDS_MODE)
    ]


def test_37_bit_card_number_is_whole_under_h10302() -> None:
    result = learned(H10302_12345678901, "12345678901", ("H10302", "H10304"))
    best = result.candidates[0]
    assert (best.format, best.mode, best.whole) == ("H10302", CARD_MODE, True)
    assert best.canonical == f"{12345678901:010X}"


def test_whole_matches_rank_before_partial_ones() -> None:
    # 6HN shows only the last 3 of the 4 bytes: it agrees, but checks less of the card.
    result = learned(H10306_UID_04A1B2C3, "A1B2C3", ("H10306",))
    assert pairs(result) == [("H10306", "6HN")]
    assert not result.candidates[0].whole
    # A 34-bit UID printed as facility/card covers all 32 data bits: it ranks first.
    both = learned(H10306_UID_04A1B2C3, "1185/45763", ("H10306",))
    assert both.candidates[0].whole


def test_a_frame_with_bad_parity_matches_nothing_and_says_which_bit() -> None:
    damaged = H10301_12_34567[:24] + ("0" if H10301_12_34567[24] == "1" else "1") + "1"
    result = learned(damaged, "12/34567", ("H10301",))
    assert result.candidates == ()
    assert "bad parity" in result.reasons[0]
    assert any("bit 25 (odd over bits 13-24)" in reason for reason in result.reasons)


def test_crossed_data_lines_are_named_when_nothing_matches() -> None:
    result = learned(invert(H10301_12_34567), "12/34567", ("H10301",))
    assert result.candidates == ()
    assert any("DATA0/DATA1 look swapped" in reason for reason in result.reasons)


def test_a_facility_card_pair_against_a_format_without_facility() -> None:
    uid32 = f"{0x04A1B2C3:032b}"
    result = learned(uid32, "12/34567", ("UID32",))
    assert result.candidates == ()
    assert any("UID32 has no facility field" in reason for reason in result.reasons)
    # ... and what the frame does read as, so the technician can compare with the card.
    assert any("8HN 04A1B2C3" in reason for reason in result.reasons)


def test_a_pair_with_the_wrong_facility_says_what_the_frame_holds() -> None:
    result = learned(H10301_12_34567, "13/34567", ("H10301",))
    assert result.candidates == ()
    assert any("under H10301 the frame is facility 12, card 34567" in r for r in result.reasons)


def test_a_frame_of_no_known_length() -> None:
    result = learned("1" * 27, "12345", ("H10301",))
    assert result.candidates == ()
    assert "no known Wiegand format has 27 bits" in result.reasons[0]


@pytest.mark.parametrize("text", ["", "   ", "hello", "12;34", "1" * 65, "<script>", "١٢٣"])
def test_garbage_printed_numbers_are_refused_with_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="type the number printed on the card"):
        parse_printed(text)


def test_explain_lists_configured_formats_first_then_those_the_reader_would_need() -> None:
    bits = "1000001001101001000111100010010000001"  # H10304 facility 1234, card 123456
    explained = explain_frame(bits, BUILTIN, ("H10304", "H10301"))
    assert [(v.format, v.configured, v.result) for v in explained.verdicts] == [
        ("H10304", True, "accepted"),
        ("H10301", True, "length"),
        ("H10302", False, "accepted"),
    ]
    assert explained.verdicts[0].why == "facility 1234, card 123456 (parity checked)"
    assert explained.verdicts[1].why == "needs 26 bits, the frame has 37"
    assert (explained.parity, explained.swap_hint) == ("ok", None)


def test_explain_a_swapped_frame() -> None:
    explained = explain_frame(invert(H10301_12_34567), BUILTIN, ("H10301",))
    assert explained.parity == "bad"
    (verdict,) = explained.verdicts
    assert verdict.result == "parity" and "is wrong" in verdict.why
    assert explained.swap_hint is not None and "facility 12, card 34567" in explained.swap_hint


def test_explain_a_format_without_parity() -> None:
    explained = explain_frame("0" * 32, BUILTIN, ("UID32",))
    assert explained.parity == "none"
