"""docs/reference-parity.md, the Akuvox settings table: every row is `done` or `out of
scope`, never open; out of scope only for hardware or a service a Pi gateway lacks (one
of a fixed list of reasons); a done row says where; the keys and pages it names exist."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from gateway.model import User
from gateway.settings import Settings
from gateway.web.page.reasons import REASONS
from tests.config.helpers import settings_classes

REPO = Path(__file__).resolve().parents[1]
PARITY = REPO / "docs" / "reference-parity.md"
HEADER = "| Setting | Status | In this gateway / why not |"
STATUSES = ("done", "out of scope")
# What a Pi with relays, inputs and readers has no hardware or service for.
OUT_OF_SCOPE = (
    "face:",
    "Bluetooth:",
    "SIP/DTMF:",
    "directory:",
    "SmartPlus cloud:",
    "camera:",
    "audio:",
    "screen:",
)
# A backticked name: a key of gateway.toml, a field of the user record or a reason.
KEY = re.compile(r"`([a-z][a-z0-9_]*)`")


def rows() -> list[tuple[str, str, str]]:
    """(setting, status, where) of every row of every table under HEADER."""
    found: list[tuple[str, str, str]] = []
    in_table = False
    for line in PARITY.read_text(encoding="utf-8").splitlines():
        if line == HEADER:
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if in_table and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert len(cells) == 3, f"a row of three cells: {line}"
            found.append((cells[0], cells[1], cells[2]))
    return found


def test_the_table_has_both_guides() -> None:
    text = PARITY.read_text(encoding="utf-8")
    assert "## Door phone guide" in text and "## Access control terminal guide" in text
    assert len(rows()) > 100


def test_no_row_is_open() -> None:
    open_rows = [(setting, status) for setting, status, _ in rows() if status not in STATUSES]
    assert open_rows == []


def test_out_of_scope_only_for_what_a_pi_gateway_lacks() -> None:
    for setting, status, why in rows():
        if status == "out of scope":
            assert why.startswith(OUT_OF_SCOPE), f"{setting}: {why}"


def test_a_done_row_says_where() -> None:
    for setting, status, where in rows():
        if status == "done":
            assert "`" in where or "docs/" in where, f"{setting}: name a key, field or page"


def test_the_pages_it_names_exist() -> None:
    pages = set(re.findall(r"docs/[a-z0-9-]+\.md", PARITY.read_text(encoding="utf-8")))
    missing = sorted(page for page in pages if not (REPO / page).exists())
    assert missing == []


def test_the_config_keys_it_names_exist() -> None:
    keys = {f.name for cls in settings_classes(below=Settings) for f in dataclasses.fields(cls)}
    named: set[str] = set()
    for _, status, where in rows():
        if status == "done":
            named.update(word for word in KEY.findall(where) if "_" in word)
    # Fields of the user record (import files, ACTAtek) and journal reasons, not keys.
    record_fields = {field.name for field in dataclasses.fields(User)}
    record_fields |= {"reject_repeat_login"}
    unknown = sorted(named - keys - record_fields - set(REASONS))
    assert unknown == []
