"""The status page's 24-hour history, measured (docs/status-page.md, "History").

    python -m benchmarks.history [EVENTS_PER_DAY]

Fills a real journal with three days of a busy site's events (20,000 users; access
decisions, door events and a few alarms, in time order as a door writes them; 66,000 a
day unless told), then times `read_history` (a connection of its own and one SQL query)
and prints JSON: the events in the window, the counts, and the time of each of five runs.
Figures only.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.model import Event
from gateway.store.history import read_history
from gateway.store.journal import EventJournal

USERS = 20_000
DAYS = 3
BATCH = 5000
NOW = 1_800_000_000.0
TZ = ZoneInfo("Europe/London")


def _event(rng: random.Random, when: float) -> Event:
    roll = rng.random()
    if roll < 0.8:
        return Event(
            "access",
            when,
            door="front",
            reader="front-wiegand",
            user_id=str(100_000 + rng.randrange(USERS)),
            credential_kind="card",
            credential=f"{rng.randrange(2**24):06X}",
            granted=rng.random() < 0.9,
            reason="granted",
            source="cache",
            trace="user 100001 > group 0 > right 0 (Always) > door front",
            latency_ms=1.2,
        )
    if roll < 0.98:
        return Event("door", when, door="front", reason="unlocked")
    return Event("alarm", when, door="front", reason="held_open")


def main(argv: list[str]) -> int:
    per_day = int(argv[0]) if argv else 66_000
    total = per_day * DAYS
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gateway.db"
        journal = EventJournal(db, TZ, max_events=max(total, 10_000))
        start = NOW - DAYS * 86400
        events = [_event(rng, start + i * (DAYS * 86400 / total)) for i in range(total)]
        for first in range(0, total, BATCH):
            journal.append_batch(events[first : first + BATCH])
        journal.close()
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            history = read_history(db, NOW, TZ)
            runs.append(round((time.perf_counter() - started) * 1000, 1))
        totals = history.totals()
    result = {
        "events_in_journal": total,
        "events_in_window": sum(totals.values()),
        "totals": totals,
        "read_history_ms": runs,
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
