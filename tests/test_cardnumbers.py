"""Card-number display formats. The worked examples and the reader table are read from
docs/card-formats.md, so the page and the code cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.cardnumbers import (
    CARD_FORMATS,
    displays,
    from_printed,
    reader_canonical,
    to_display,
)
from gateway.hw.formats import BUILTIN

DOC = Path(__file__).resolve().parents[1] / "docs" / "card-formats.md"
CARD = "04A1B2C3"  # the card of the "One card, different readers" table
NONE = "—"


def doc_table(heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading`, cells stripped of backticks."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
        elif rows:
            break  # the table has ended
    return rows[2:]  # drop the header and the |---| line


EXAMPLES = doc_table("Worked examples")
READERS = doc_table("One card, different readers")


def test_the_doc_tables_were_found() -> None:
    assert len(EXAMPLES) >= 20 and len(READERS) >= 5
    shown = {row[1] for row in EXAMPLES}
    assert shown == set(CARD_FORMATS), "every format has a worked example"


@pytest.mark.parametrize(("canonical", "fmt", "shown", "back"), EXAMPLES)
def test_worked_example(canonical: str, fmt: str, shown: str, back: str) -> None:
    assert to_display(canonical, fmt) == shown
    assert from_printed(shown, fmt) == back


@pytest.mark.parametrize(
    ("reader", "reads", "order", "count", "wiegand", "canonical", "same"), READERS
)
def test_reader_example(
    reader: str, reads: str, order: str, count: str, wiegand: str, canonical: str, same: str
) -> None:
    match = re.search(r"\b([0-9A-F]{2,})\b", reads)
    assert match is not None, f"no hex in {reads!r}"
    raw = match.group(1)
    if wiegand != NONE:
        fmt = BUILTIN[wiegand]
        result = BUILTIN.decode(fmt.encode_data(int(raw, 16)), (wiegand,))
        assert result.card == canonical
    else:
        byte_order = "reversed" if order == "reversed" else "normal"
        assert reader_canonical(bytes.fromhex(raw), byte_order, int(count)) == canonical
    if same != NONE:
        assert to_display(CARD, same) == canonical


def test_typed_numbers_are_forgiving_about_case_spaces_and_separators() -> None:
    assert from_printed(" 04:a1:b2:c3 ", "8hn") == "04A1B2C3"
    assert from_printed("04 A1 B2 C3", "UID4N") == "04A1B2C3"
    assert from_printed("77705923", "10DN") == "04A1B2C3"  # leading zeros left out
    for text in ("161-45763", "161,45763", "161/45763", "161 45763", "161:45763"):
        assert from_printed(text, "W26") == "A1B2C3"
    assert from_printed("12-34567", "W26") == "0C8707"


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("A1B2C3", "8HN", "8HN expects 8 hex digits"),
        ("04A1B2G3", "8HN", "8HN expects 8 hex digits"),
        ("04A1B2C3", "6HN", "6HN expects 6 hex digits"),
        ("4294967296", "10DN", "10DN numbers go up to 4294967295"),
        ("12345678901", "10DR", "10DR expects up to 10 decimal digits"),
        ("-1", "10DN", "10DN expects up to 10 decimal digits"),
        ("1614576", "8DN", "8DN expects 8 digits"),
        ("25645763", "8DN", "facility must be 0-255"),
        ("161-65536", "W26", "facility must be 0-255 and card 0-65535"),
        ("16145763", "W26", 'W26 expects facility-card as "FFF-CCCCC"'),
        ("", "W26", "W26 expects"),
        ("04A1B2C3", "9HN", "unknown card number format '9HN'"),
        ("04523AB2C15E", "UID7N", "UID7N expects 14 hex digits"),
    ],
)
def test_numbers_that_do_not_fit_are_refused(text: str, fmt: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        from_printed(text, fmt)


@pytest.mark.parametrize(
    ("canonical", "fmt", "message"),
    [
        ("A1B2C3", "8HN", "8HN shows the 4 bytes as 8 hex digits: it needs exactly 4 bytes"),
        ("04523AB2C15E80", "10DN", "it needs exactly 4 bytes, and 04523AB2C15E80 has 7"),
        ("A1B2", "W26", "it needs at least 3 bytes"),
        ("04A1B2C3", "UID7N", "it needs exactly 7 bytes"),
        ("4A1B2C3", "8HN", "a card number is whole bytes of hex"),
        ("XYZ0", "8HN", "a card number is whole bytes of hex"),
    ],
)
def test_canonical_numbers_that_a_format_cannot_show(
    canonical: str, fmt: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        to_display(canonical, fmt)


def test_displays_lists_the_formats_that_fit() -> None:
    assert displays("A1B2C3") == {
        "6HN": "A1B2C3", "6HR": "C3B2A1", "8DN": "16145763", "W26": "161-45763"
    }  # fmt: skip
    assert set(displays(CARD)) == {
        "8HN", "8HR", "6HN", "6HR", "10DN", "10DR", "8DN", "W26", "UID4N", "UID4R"
    }  # fmt: skip


WIDTHS = {"8HN": 4, "8HR": 4, "10DN": 4, "10DR": 4, "6HN": 3, "6HR": 3, "8DN": 3, "W26": 3}
WIDTHS |= {f"UID{n}{o}": n for n in (4, 7, 10) for o in "NR"}


@given(st.sampled_from(CARD_FORMATS), st.binary(min_size=10, max_size=10))
def test_from_printed_undoes_to_display(fmt: str, uid: bytes) -> None:
    width = WIDTHS[fmt]
    canonical = uid[-width:].hex().upper()
    assert from_printed(to_display(canonical, fmt), fmt) == canonical
