"""Noisy administrative sources are rate-limited and summarised before the journal: one
account repeating one change is journaled a few times a minute, then one event says how
many more there were; names an attacker makes up do not multiply the allowance; evidence
and added logs are never summarised; a stop writes the summary of the unfinished minute."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event, StoredEvent
from gateway.store.journal import EventJournal
from gateway.store.noise import MAX_SUMMARIES, PER_SOURCE, PER_WINDOW, WINDOW_S
from gateway.store.writer import JournalWriter
from tests.fakes import ManualClock, ManualTimers

SUMMARY = re.compile(r"(\d+) more (\S+) by (\S+) from (\S+) to (\S+), not journaled one by one")
OTHERS = re.compile(r"(\d+) more administrative events by (more than )?(\d+) other sources from")


@dataclass
class Rig:
    clock: ManualClock
    timers: ManualTimers
    journal: EventJournal
    writer: JournalWriter

    async def rows(self) -> list[StoredEvent]:
        await self.writer.flush()
        return self.journal.read(0, 10_000)

    async def summaries(self) -> list[StoredEvent]:
        return [row for row in await self.rows() if row.reason == "events_summarised"]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = ManualClock()
    timers = ManualTimers(clock)
    journal = EventJournal(tmp_path / "gateway.db", ZoneInfo("UTC"), max_events=100_000)
    writer = JournalWriter(journal, clock, timers=timers)
    yield Rig(clock, timers, journal, writer)
    await writer.close()
    journal.close()


def api(clock: ManualClock, reason: str, who: str) -> Event:
    clock.advance(0.001)
    return Event("api", clock.time(), user_id=who, reason=reason, trace=f"userID={who}")


def counted(summary: StoredEvent) -> int:
    return int(summary.trace.split(" ", 1)[0])


async def test_one_account_repeating_a_change_is_journaled_a_few_times_then_summarised(
    rig: Rig,
) -> None:
    for _ in range(1_000):
        rig.writer.submit(api(rig.clock, "myself_updated", "pat"))
    rows = await rig.rows()
    assert len([row for row in rows if row.reason == "myself_updated"]) == PER_SOURCE

    rig.timers.advance(WINDOW_S)  # the minute ends with nothing else happening

    [summary] = await rig.summaries()
    found = SUMMARY.match(summary.trace)
    assert found is not None, summary.trace
    assert found.group(1, 2, 3) == (str(1_000 - PER_SOURCE), "myself_updated", "pat")
    assert (summary.type, summary.user_id) == ("api", "pat")
    assert rig.writer.status()["summarised"] == 1_000 - PER_SOURCE

    # A new minute: the account is journaled again, up to the same allowance.
    for _ in range(PER_SOURCE + 5):
        rig.writer.submit(api(rig.clock, "myself_updated", "pat"))
    rows = await rig.rows()
    assert len([row for row in rows if row.reason == "myself_updated"]) == 2 * PER_SOURCE


async def test_evidence_and_added_logs_are_never_summarised(rig: Rig) -> None:
    for n in range(500):
        rig.clock.advance(0.001)
        rig.writer.submit(Event("access", rig.clock.time(), door="front", reason="granted"))
        rig.writer.submit(api(rig.clock, "log_added", f"tech{n % 2}"))
    rig.timers.advance(WINDOW_S)
    rows = await rig.rows()
    assert len(rows) == 1_000 and await rig.summaries() == []


async def test_names_made_up_by_an_attacker_do_not_multiply_the_allowance(rig: Rig) -> None:
    flood = 5_000
    for n in range(flood):
        rig.writer.submit(api(rig.clock, "login_failed", f"guess{n}"))
    rig.timers.advance(WINDOW_S)

    rows = await rig.rows()
    journaled = [row for row in rows if row.reason == "login_failed"]
    summaries = await rig.summaries()
    assert len(journaled) == PER_WINDOW and len(summaries) <= MAX_SUMMARIES + 1
    assert len(journaled) + sum(counted(summary) for summary in summaries) == flood
    others = OTHERS.match(summaries[-1].trace)
    assert others is not None, summaries[-1].trace
    assert summaries[-1].trace.endswith(f": login_failed {counted(summaries[-1])}")


async def test_a_stop_writes_the_summary_of_the_unfinished_minute(rig: Rig) -> None:
    for _ in range(PER_SOURCE + 7):
        rig.writer.submit(api(rig.clock, "user_updated", "sync"))
    await rig.writer.close()

    [summary] = [row for row in rig.journal.read(0, 100) if row.reason == "events_summarised"]
    assert summary.trace.startswith("7 more user_updated by sync from ")
