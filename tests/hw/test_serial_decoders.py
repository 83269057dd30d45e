"""Serial readers without a port: the RDM6300 and line decoders, debounce, back-off."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.hw.serial_rfid import (
    BACKOFF_MAX_S,
    Backoff,
    Debouncer,
    LineDecoder,
    Rdm6300Decoder,
    card_number_bytes,
    escape,
)
from gateway.hw.serial_sim import rdm6300_frame
from gateway.settings import ReaderSettings
from tests.fakes import ManualClock

CARD = bytes.fromhex("0100BC614E")


def _settings(**overrides: object) -> ReaderSettings:
    values: dict[str, object] = {"name": "r", "kind": "serial", "door": "front"}
    return ReaderSettings(**(values | overrides))  # type: ignore[arg-type]


def _feed(decoder: Rdm6300Decoder | LineDecoder, *chunks: bytes) -> list[tuple[str | None, str]]:
    return [(f.value, f.reason) for chunk in chunks for f in decoder.feed(chunk)]


def test_rdm6300_frame_is_stx_hex_checksum_etx() -> None:
    assert rdm6300_frame(CARD) == b"\x020100BC614E92\x03"


def test_a_valid_frame_gives_the_canonical_number() -> None:
    decoder = Rdm6300Decoder(_settings(protocol="rdm6300"))
    assert _feed(decoder, rdm6300_frame(CARD)) == [("0100BC614E", "accepted")]


@pytest.mark.parametrize(
    ("order", "size", "value"), [("normal", 4, "00BC614E"), ("reversed", 4, "61BC0001")]
)
def test_byte_order_and_length_apply_to_rdm6300_cards(order: str, size: int, value: str) -> None:
    decoder = Rdm6300Decoder(_settings(card_byte_order=order, card_bytes=size))
    assert _feed(decoder, rdm6300_frame(CARD)) == [(value, "accepted")]


def test_lower_case_hex_digits_are_accepted() -> None:
    decoder = Rdm6300Decoder(_settings())
    assert _feed(decoder, b"\x020100bc614e92\x03") == [("0100BC614E", "accepted")]


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"\x020100BC614E93\x03", "checksum"),
        (rdm6300_frame(b"\x00" * 5), "noise"),
        (rdm6300_frame(b"\xff" * 5), "noise"),
        (b"\x020100BC614EZZ\x03", "format"),
        (b"\x020100BC614E92X", "length"),
        (b"\x0201\x03\x02", "length"),
        (b"hello\x02", "garbage"),
        (b"\xff" * 64, "garbage"),
    ],
)
def test_bad_frames_are_rejected_with_the_reason(stream: bytes, reason: str) -> None:
    assert _feed(Rdm6300Decoder(_settings()), stream) == [(None, reason)]


def test_a_truncated_frame_does_not_swallow_the_next_one() -> None:
    stream = b"\x020100BC" + rdm6300_frame(CARD)
    assert _feed(Rdm6300Decoder(_settings()), stream) == [
        (None, "length"),
        ("0100BC614E", "accepted"),
    ]


@given(
    garbage=st.binary(max_size=40).map(lambda b: b.replace(b"\x02", b"")),
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=6),
)
def test_frames_survive_garbage_and_any_split(garbage: bytes, cuts: list[int]) -> None:
    stream = garbage + rdm6300_frame(CARD) + garbage + rdm6300_frame(CARD)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    chunks = [stream[a:b] for a, b in pairwise(bounds)]
    values = [v for v, _ in _feed(Rdm6300Decoder(_settings()), *chunks) if v is not None]
    assert values == ["0100BC614E", "0100BC614E"]


def test_lines_split_on_cr_lf_and_crlf() -> None:
    decoder = LineDecoder(_settings(credential_kind="qr"))
    got = _feed(decoder, b"one\r\ntwo\rthree\n  four  \r", b"\n\r\nfi", b"ve\n")
    assert got == [(v, "accepted") for v in ("one", "two", "three", "four", "five")]


def test_a_line_is_kept_until_its_end_arrives() -> None:
    assert _feed(LineDecoder(_settings(credential_kind="qr")), b"no end yet") == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"a\tb", "unprintable"), (b"x" * 257, "length"), (b"\xff\xfe", "encoding")],
)
def test_bad_lines_are_rejected(line: bytes, reason: str) -> None:
    decoder = LineDecoder(_settings(credential_kind="qr"))
    assert _feed(decoder, line + b"\r\n") == [(None, reason)]


def test_stx_etx_framing_around_a_line_is_dropped() -> None:
    decoder = LineDecoder(_settings(credential_kind="plate"))
    assert _feed(decoder, b"\x02AB-123\r\n\x03") == [("AB-123", "accepted")]


def test_line_pattern_group_is_the_value() -> None:
    decoder = LineDecoder(_settings(credential_kind="qr", line_pattern=r"QR:(\w+)"))
    got = _feed(decoder, b"QR:abc123\r\n", b"XX:abc\r\n", b"QR:abc!\r\n")
    assert got == [("abc123", "accepted"), (None, "pattern"), (None, "pattern")]


def test_line_pattern_without_group_keeps_the_whole_line() -> None:
    decoder = LineDecoder(_settings(credential_kind="qr", line_pattern=r"[A-Z]{3}\d{4}"))
    assert _feed(decoder, b"ABC1234\n") == [("ABC1234", "accepted")]


def test_garbage_counts_once_per_run_however_it_is_cut() -> None:
    decoder = Rdm6300Decoder(_settings())
    got = _feed(decoder, b"\xff", b"\x00ju", b"nk", rdm6300_frame(CARD))
    assert got == [(None, "garbage"), ("0100BC614E", "accepted")]


def test_an_overlong_line_arriving_whole_is_dropped() -> None:
    decoder = LineDecoder(_settings(credential_kind="qr"))
    assert _feed(decoder, b"A" * 1500 + b"\r\nok\n") == [(None, "overlong"), ("ok", "accepted")]


def test_an_overlong_line_is_dropped_with_its_tail() -> None:
    decoder = LineDecoder(_settings(credential_kind="qr"))
    got = _feed(decoder, b"A" * 1000, b"B" * 100, b"C" * 2000, b"tail\r\nok\r\n")
    assert got == [(None, "overlong"), ("ok", "accepted")]


@pytest.mark.parametrize(
    ("text", "base", "uid"),
    [
        ("0012345678", "auto", "00BC614E"),  # the 10 digits printed on a 125 kHz card
        ("12345678", "auto", "00BC614E"),
        ("4294967295", "auto", "FFFFFFFF"),
        ("1099511627775", "auto", "FFFFFFFFFF"),
        ("04a1b2c3", "auto", "04A1B2C3"),
        ("ABC", "auto", "0ABC"),
        ("12345678", "hex", "12345678"),
        ("99", "dec", "00000063"),
    ],
)
def test_card_numbers_from_lines(text: str, base: str, uid: str) -> None:
    number = card_number_bytes(text, base)
    assert number is not None and number.hex().upper() == uid


@pytest.mark.parametrize(
    ("text", "base"), [("hello", "auto"), ("1A", "dec"), ("1" * 30, "auto"), ("A" * 21, "hex")]
)
def test_not_card_numbers(text: str, base: str) -> None:
    assert card_number_bytes(text, base) is None


def test_a_named_group_forces_the_number_base() -> None:
    hex_reader = LineDecoder(_settings(line_pattern=r"(?P<hex>[0-9A-F]{8})"))
    dec_reader = LineDecoder(_settings())
    assert _feed(hex_reader, b"12345678\n") == [("12345678", "accepted")]
    assert _feed(dec_reader, b"12345678\n") == [("00BC614E", "accepted")]
    assert _feed(dec_reader, b"card?\n") == [(None, "card_number")]


def test_debounce_reports_a_held_card_once_and_again_after_it_was_away() -> None:
    clock = ManualClock()
    debounce = Debouncer(1.0, clock.monotonic)
    seen = []
    for _ in range(20):  # held for 2 s, a frame every 100 ms
        seen.append(debounce.fresh("A"))
        clock.advance(0.1)
    assert seen.count(True) == 1
    assert debounce.fresh("B") is True  # another card is not held back by the first
    clock.advance(1.0)
    assert debounce.fresh("A") is True


def test_debounce_forgets_each_card_a_hold_time_after_its_own_last_frame() -> None:
    clock = ManualClock()
    debounce = Debouncer(1.0, clock.monotonic)
    assert debounce.fresh("A") is True
    clock.advance(0.5)
    assert debounce.fresh("B") is True
    clock.advance(0.1)
    assert debounce.fresh("A") is False  # A still held: its time starts again
    clock.advance(0.95)  # B away for 1.05 s, A for 0.95 s
    assert debounce.fresh("B") is True
    assert debounce.fresh("A") is False
    for n in range(1000):  # a busy scanner: a new code per line
        assert debounce.fresh(f"code-{n}") is True
    clock.advance(1.0)
    assert debounce.fresh("code-0") is True
    assert debounce.fresh("A") is True


def test_backoff_doubles_to_the_maximum_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.next() for _ in range(9)]
    assert delays == [0.5, 1, 2, 4, 8, 16, BACKOFF_MAX_S, BACKOFF_MAX_S, BACKOFF_MAX_S]
    backoff.reset()
    assert backoff.next() == 0.5


def test_escape_shows_control_bytes_and_caps() -> None:
    assert escape(b"\x02AB\\\x03") == "\\x02AB\\x5c\\x03"
    capped = escape(b"x" * 100, 64)
    assert len(capped) == 64 and capped.endswith("…")
