"""Custom Wiegand formats in the configuration: loading, every check, the shipped example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config import load_settings, summary
from gateway.hw.formats import FormatRegistry
from gateway.settings import ParityRuleSettings, WiegandFormatSettings
from tests.config.helpers import GATEWAY_TOML, MINIMAL_GPIO, errors_of, variant, write

READER_PINS = "d0_pin = 5\nd1_pin = 6\n"

ATS30 = """
[[wiegand_formats]]
name = "ATS30"
length = 30
data_bits = [1, 28]
facility_bits = [1, 12]
card_bits = [13, 28]

[[wiegand_formats.parity_rules]]
bit = 0
mask = "0_111111111111_0000000000000000_0"
parity = "even"

[[wiegand_formats.parity_rules]]
bit = 29
mask = "0_000000000000_1111111111111111_0"
parity = "odd"
"""

WITH_ATS30 = variant(READER_PINS, READER_PINS + 'formats = ["H10301", "ATS30"]\n') + ATS30


def test_custom_format_loads_as_settings(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, WITH_ATS30))
    (fmt,) = settings.wiegand_formats
    assert fmt == WiegandFormatSettings(
        "ATS30", 30, (1, 28), (13, 28), (1, 12),
        (
            ParityRuleSettings(0, "0_111111111111_0000000000000000_0", "even"),
            ParityRuleSettings(29, "0_000000000000_1111111111111111_0", "odd"),
        ),
    )  # fmt: skip
    assert settings.readers[0].formats == ("H10301", "ATS30")
    assert "custom Wiegand formats: ATS30 (30 bits)" in summary(settings)


def test_loaded_custom_format_decodes(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, WITH_ATS30))
    registry = FormatRegistry.from_settings(settings.wiegand_formats)
    bits = registry["ATS30"].encode(1234, 56789)
    result = registry.decode(bits, settings.readers[0].formats)
    assert (result.reason, result.facility, result.number) == ("accepted", 1234, 56789)
    assert result.card == f"{(1234 << 16) | 56789:08X}"  # 28 data bits -> 4 bytes


def _format_with(old: str, new: str) -> str:
    return variant(old, new, WITH_ATS30)


# (id, file text, the exact message after "FILE: ")
CASES: list[tuple[str, str, str]] = [
    (
        "unknown reader format with hint",
        variant(READER_PINS, READER_PINS + 'formats = ["H10301", "ATS-30"]\n') + ATS30,
        'readers[0].formats[1]: expected a built-in Wiegand format ("H10301", "H10306", '
        '"C1000-35", "H10302", "H10304", "UID32", "UID56", "UID58") or the name of a '
        '[[wiegand_formats]] entry ("ATS30"), found "ATS-30" (did you mean "ATS30"?)',
    ),
    (
        "unknown format without custom formats",
        variant(READER_PINS, READER_PINS + 'formats = ["h10301"]\n'),
        'readers[0].formats[0]: expected a built-in Wiegand format ("H10301", "H10306", '
        '"C1000-35", "H10302", "H10304", "UID32", "UID56", "UID58") or the name of a '
        '[[wiegand_formats]] entry, found "h10301" (did you mean "H10301"?)',
    ),
    (
        "name clashes with a built-in",
        MINIMAL_GPIO + ATS30.replace('name = "ATS30"', 'name = "h10301"'),
        'wiegand_formats[0].name: expected a name other than the built-in formats ("H10301", '
        '"H10306", "C1000-35", "H10302", "H10304", "UID32", "UID56", "UID58"), found "h10301"',
    ),
    (
        "duplicate name",
        WITH_ATS30 + ATS30,
        'wiegand_formats[1].name: expected a name not used before, found "ATS30", '
        "already used by wiegand_formats[0].name",
    ),
    (
        "length too short",
        _format_with("length = 30", "length = 8"),
        "wiegand_formats[0].length: expected an integer from 16 to 128, found 8",
    ),
    (
        "range backwards",
        _format_with("data_bits = [1, 28]", "data_bits = [28, 1]"),
        "wiegand_formats[0].data_bits: expected [first, last], two bit indices with "
        "first <= last, found [28, 1]",
    ),
    (
        "data beyond the frame",
        _format_with("data_bits = [1, 28]", "data_bits = [1, 30]"),
        "wiegand_formats[0].data_bits: expected [first, last] within the frame's bits "
        "0 to 29, found [1, 30]",
    ),
    (
        "card outside data",
        _format_with("card_bits = [13, 28]", "card_bits = [13, 29]"),
        "wiegand_formats[0].card_bits: expected [first, last] within data_bits [1, 28], "
        "found [13, 29]",
    ),
    (
        "facility overlaps card",
        _format_with("facility_bits = [1, 12]", "facility_bits = [1, 13]"),
        "wiegand_formats[0].facility_bits: expected a range that does not overlap card_bits "
        "[13, 28], found [1, 13]",
    ),
    (
        "facility with one index",
        _format_with("facility_bits = [1, 12]", "facility_bits = [1]"),
        "wiegand_formats[0].facility_bits: expected [] (no facility) or [first, last], two bit "
        "indices with first <= last, found [1]",
    ),
    (
        "parity bit inside the data",
        _format_with("bit = 29", "bit = 28"),
        "wiegand_formats[0].parity_rules[1].bit: expected a bit index below length 30 and "
        "outside data_bits [1, 28], found 28",
    ),
    (
        "parity bit used twice",
        _format_with("bit = 29", "bit = 0"),
        "wiegand_formats[0].parity_rules[1].bit: expected a parity bit no other rule uses, "
        "found 0, already used by wiegand_formats[0].parity_rules[0].bit",
    ),
    (
        "mask of the wrong length",
        _format_with('"0_111111111111_0000000000000000_0"', '"0111"'),
        "wiegand_formats[0].parity_rules[0].mask: expected a mask of 30 bits (one 0 or 1 per "
        'frame bit), found "0111" (4 bits)',
    ),
    (
        "mask with other characters",
        _format_with('"0_111111111111_0000000000000000_0"', '"0-111"'),
        "wiegand_formats[0].parity_rules[0].mask: expected a string of 0 and 1, one per frame "
        "bit (1 = covered; '_' or spaces may group), found \"0-111\"",
    ),
    (
        "mask covering only the parity bit",
        _format_with('"0_111111111111_0000000000000000_0"', '"1_000000000000_0000000000000000_0"'),
        "wiegand_formats[0].parity_rules[0].mask: expected a mask covering at least one bit "
        'besides the parity bit itself, found "1_000000000000_0000000000000000_0"',
    ),
    (
        "parity kind",
        _format_with('parity = "even"', 'parity = "mark"'),
        'wiegand_formats[0].parity_rules[0].parity: expected one of "even", "odd", found "mark"',
    ),
    (
        "parity bits in a circle",
        _format_with(
            '"0_000000000000_1111111111111111_0"', '"1_000000000000_1111111111111111_0"'
        ).replace('"0_111111111111_0000000000000000_0"', '"0_111111111111_0000000000000000_1"'),
        "wiegand_formats[0].parity_rules: expected parity rules that can be met; "
        "parity bits 0, 29 cover each other in a circle",
    ),
    (
        "pin frame format unknown",
        MINIMAL_GPIO
        + '[[readers]]\nname = "kp"\nkind = "wiegand_keypad"\ndoor = "back"\nd0_pin = 7\n'
        'd1_pin = 8\npin_frame_format = "H10031"\n',
        'readers[1].pin_frame_format: expected a built-in Wiegand format ("H10301", "H10306", '
        '"C1000-35", "H10302", "H10304", "UID32", "UID56", "UID58") or the name of a '
        '[[wiegand_formats]] entry, found "H10031" (did you mean "H10301"?)',
    ),
    (
        "pin frame format also a card format",
        MINIMAL_GPIO
        + '[[readers]]\nname = "kp"\nkind = "wiegand_keypad"\ndoor = "back"\nd0_pin = 7\n'
        'd1_pin = 8\nformats = ["H10301"]\npin_frame_format = "H10301"\n',
        "readers[1].pin_frame_format: expected a format not also in formats (its frames are "
        'PINs on this keypad), found "H10301"',
    ),
    (
        "pin frame format on a card reader",
        variant(READER_PINS, READER_PINS + 'pin_frame_format = "H10301"\n'),
        'readers[0].pin_frame_format: not used by a "wiegand" reader (its keys: d0_pin, d1_pin, '
        "formats, swap_d0_d1, card_display_format)",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert f"{path}: {message}" in errors
    assert len(errors) == 1, errors  # one mistake, one message: no follow-on noise


def test_keypad_with_a_custom_pin_frame_format_loads(tmp_path: Path) -> None:
    text = WITH_ATS30 + (
        '[[readers]]\nname = "kp"\nkind = "wiegand_keypad"\ndoor = "back"\nd0_pin = 7\n'
        'd1_pin = 8\npin_frame_format = "ATS30"\n'
    )
    assert load_settings(write(tmp_path, text)).readers[1].pin_frame_format == "ATS30"


def _uncomment_wiegand_formats(text: str) -> str:
    """gateway.toml with its commented [[wiegand_formats]] example made live."""
    lines, live = [], False
    for line in text.splitlines():
        if line.startswith("# [[wiegand_formats]]"):
            live = True
        elif live and not line.startswith("#"):
            live = False
        if live and re.match(r"# (\[\[wiegand_formats[\].a-z_]*\]\]|\w+ = )", line):
            line = line[2:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_gateway_toml_wiegand_format_example_is_valid(tmp_path: Path) -> None:
    text = _uncomment_wiegand_formats(GATEWAY_TOML.read_text())
    text = text.replace('formats = ["H10301"]\n', 'formats = ["H10301", "ATS30"]\n', 1)
    settings = load_settings(write(tmp_path, text))
    assert [f.name for f in settings.wiegand_formats] == ["ATS30"]
    assert len(settings.wiegand_formats[0].parity_rules) == 2
    assert "ATS30" in settings.readers[0].formats
