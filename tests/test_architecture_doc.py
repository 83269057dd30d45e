"""docs/architecture.md's "Where each file is" lists every module of `gateway/`, and only
modules that exist: the one page a newcomer reads stays a map of the real tree."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Where each file is"


def listed_files() -> list[str]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert SECTION in text, f"docs/architecture.md has no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `gateway/([^`]+\.py)` \|", section, flags=re.MULTILINE)


def modules() -> set[str]:
    package = REPO / "gateway"
    found = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    # A sub-package's __init__ only marks the package (or names its modules): not a row.
    return {m for m in found if not m.endswith("/__init__.py")}


def test_every_module_has_a_row() -> None:
    missing = sorted(modules() - set(listed_files()))
    assert not missing, f"add a row to docs/architecture.md '{SECTION}' for: {missing}"


def test_every_row_names_a_module_that_exists() -> None:
    stale = sorted(set(listed_files()) - modules())
    assert not stale, f"docs/architecture.md '{SECTION}' names files that are gone: {stale}"


def test_no_module_is_listed_twice() -> None:
    rows = listed_files()
    assert len(rows) == len(set(rows))
