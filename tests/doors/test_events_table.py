"""docs/wiring.md's event table matches the code, and the tests fire every event in it."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.doors.events import DOOR_EVENTS

REPO = Path(__file__).resolve().parents[2]
WIRING = REPO / "docs" / "wiring.md"
TESTS = Path(__file__).resolve().parent
ROW = re.compile(r"^\| `([a-z_]+)` \| (door|alarm) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    """reason -> type, from the table under "## Events"."""
    section = WIRING.read_text().split("\n## Events\n", 1)[1]
    return dict(ROW.findall(section))


def test_the_table_lists_exactly_the_events_the_code_can_emit() -> None:
    assert documented() == DOOR_EVENTS


def test_every_event_is_asserted_in_a_door_test() -> None:
    sources = "".join(
        path.read_text() for path in TESTS.glob("test_*.py") if path.name != Path(__file__).name
    )
    missing = [reason for reason in DOOR_EVENTS if f'"{reason}"' not in sources]
    assert missing == [], f"events no test asserts: {missing}"
