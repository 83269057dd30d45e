"""Cross-checks of Wiegand formats: the site's `[[wiegand_formats]]` entries are sound,
and the readers' `formats` and `pin_frame_format` name a built-in or custom format."""

from __future__ import annotations

import json

from gateway.config.report import Report, hint
from gateway.config.schema import Checked, Located
from gateway.hw.formats import FORMATS, BitRange, format_from_settings, mask_bits
from gateway.settings import ReaderSettings, WiegandFormatSettings


def check_wiegand_formats(checked: Checked, report: Report) -> None:
    """Custom formats: not a built-in's name, bit ranges inside the frame, sound parity."""
    builtin = {name.casefold() for name in FORMATS}
    known = ", ".join(json.dumps(n) for n in FORMATS)
    for entry in checked.of(WiegandFormatSettings):
        if report.has_errors_under(entry.path):
            continue  # its keys already have errors: relations between them would mislead
        if entry.value.name.casefold() in builtin:
            expected = f"a name other than the built-in formats ({known})"
            report.expected(entry.at("name"), expected, entry.found("name"))
        before = len(report.errors)
        if _check_format_ranges(entry, report):
            _check_parity_rules(entry, report)
        if len(report.errors) == before:
            _check_format_parity_order(entry, report)


def _check_format_ranges(entry: Located[WiegandFormatSettings], report: Report) -> bool:
    """data_bits inside the frame; card_bits and facility_bits inside data_bits, apart.

    False when data_bits itself is wrong (the parity bits cannot be judged against it).
    """
    fmt = entry.value
    if fmt.data_bits[1] >= fmt.length:
        expected = f"[first, last] within the frame's bits 0 to {fmt.length - 1}"
        report.expected(entry.at("data_bits"), expected, entry.found("data_bits"))
        return False
    data, card = BitRange(*fmt.data_bits), BitRange(*fmt.card_bits)
    if not card.within(data):
        expected = f"[first, last] within data_bits {data}"
        report.expected(entry.at("card_bits"), expected, entry.found("card_bits"))
    if not fmt.facility_bits:
        return True
    facility = BitRange(*fmt.facility_bits)
    if not facility.within(data):
        expected = f"[] or [first, last] within data_bits {data}"
        report.expected(entry.at("facility_bits"), expected, entry.found("facility_bits"))
    elif facility.overlaps(card):
        expected = f"a range that does not overlap card_bits {card}"
        report.expected(entry.at("facility_bits"), expected, entry.found("facility_bits"))
    return True


def _check_parity_rules(entry: Located[WiegandFormatSettings], report: Report) -> None:
    """Each parity bit outside the data bits and used once; each mask one bit per frame bit."""
    length, (first, last) = entry.value.length, entry.value.data_bits
    owners: dict[int, str] = {}
    for index, rule in enumerate(entry.value.parity_rules):
        path = f"{entry.at('parity_rules')}[{index}]"
        bit, mask = rule.bit, mask_bits(rule.mask)
        if bit >= length or first <= bit <= last:
            expected = f"a bit index below length {length} and outside data_bits [{first}, {last}]"
            report.expected(f"{path}.bit", expected, bit)
        elif bit in owners:
            note = f", already used by {owners[bit]}"
            report.expected(f"{path}.bit", "a parity bit no other rule uses", bit, note)
        else:
            owners[bit] = f"{path}.bit"
        if len(mask) != length:
            expected = f"a mask of {length} bits (one 0 or 1 per frame bit)"
            report.expected(f"{path}.mask", expected, rule.mask, f" ({len(mask)} bits)")
        elif "1" not in mask[:bit] + mask[bit + 1 :]:
            expected = "a mask covering at least one bit besides the parity bit itself"
            report.expected(f"{path}.mask", expected, rule.mask)


def _check_format_parity_order(entry: Located[WiegandFormatSettings], report: Report) -> None:
    """Parity bits may cover each other only in an order they can be computed in."""
    try:
        format_from_settings(entry.value)
    except ValueError as exc:
        problem = str(exc).split(": ", 1)[-1]
        report.add(entry.at("parity_rules"), f"expected parity rules that can be met; {problem}")


def check_reader_formats(checked: Checked, report: Report) -> None:
    """Readers' `formats` and `pin_frame_format` name built-in or [[wiegand_formats]] formats."""
    custom = [name for _, name in checked.written(WiegandFormatSettings, "name")]
    known = [*FORMATS, *custom]
    expected = "a built-in Wiegand format (" + ", ".join(json.dumps(n) for n in FORMATS) + ")"
    expected += " or the name of a [[wiegand_formats]] entry"
    if custom:
        expected += " (" + ", ".join(json.dumps(n) for n in custom) + ")"
    for reader in checked.of(ReaderSettings):
        _check_reader(reader, known, expected, report)


def _check_reader(
    reader: Located[ReaderSettings], known: list[str], expected: str, report: Report
) -> None:
    """One reader's formats are known, and its PIN frame format is not also a card format."""
    names = reader.value.formats if reader.given("formats") and reader.ok("formats") else ()
    for index, name in enumerate(names):
        _check_format_name(f"{reader.at('formats')}[{index}]", name, known, expected, report)
    pin = reader.value.pin_frame_format
    path = reader.at("pin_frame_format")
    if pin == "" or not _check_format_name(path, pin, known, expected, report):
        return
    if pin in names:
        expected_pin = "a format not also in formats (its frames are PINs on this keypad)"
        report.expected(path, expected_pin, pin)


def _check_format_name(
    path: str, name: str, known: list[str], expected: str, report: Report
) -> bool:
    """Report `name` unless it is a known format; True when it is one."""
    if path in report.bad_paths:
        return False
    if name not in known:
        report.expected(path, expected, name, hint(name, known))
        return False
    return True
