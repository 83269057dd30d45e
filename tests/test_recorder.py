"""The recorder: the doors' first events, made before the journal is open, are written
first once it is; an event after the journal closed is logged, never silently dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.recorder import Recorder
from gateway.store.errors import StoreError
from gateway.store.journal import EventJournal
from gateway.store.writer import JournalWriter
from tests.fakes import ManualClock


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[EventJournal]:
    opened = EventJournal(tmp_path / "gateway.db", ZoneInfo("UTC"), max_events=1000)
    yield opened
    opened.close()


def locked(clock: ManualClock, door: str) -> Event:
    return Event("door", clock.time(), door=door, reason="locked", trace="startup")


async def test_events_before_the_journal_opens_are_written_first_in_order(
    journal: EventJournal,
) -> None:
    clock = ManualClock()
    recorder = Recorder(clock)
    recorder.emit(locked(clock, "front"))
    recorder.emit(locked(clock, "back"))
    assert await recorder.read_events(0, 10) == []  # nothing durable yet, nothing lost
    writer = JournalWriter(journal, clock)
    recorder.attach(writer, journal)
    recorder.record_api("remote_pulse", "admin", "door=front")
    rows = await recorder.read_events(0, 10)
    assert [(row.door, row.reason, row.user_id) for row in rows] == [
        ("front", "locked", None),
        ("back", "locked", None),
        (None, "remote_pulse", "admin"),
    ]
    recorder.detach()
    await writer.close()


async def test_an_event_after_the_journal_closed_goes_to_the_service_log(
    journal: EventJournal, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    recorder = Recorder(clock)
    writer = JournalWriter(journal, clock)
    recorder.attach(writer, journal)
    recorder.detach()
    await writer.close()
    with caplog.at_level(logging.WARNING, logger="gateway.recorder"):
        recorder.emit(locked(clock, "front"))
    assert "journal closed, event not recorded: door locked" in caplog.text
    assert journal.read(0, 10) == []


async def test_nothing_is_confirmed_durable_before_the_journal_opens_or_after_it_closed(
    journal: EventJournal,
) -> None:
    clock = ManualClock()
    recorder = Recorder(clock)
    recorder.record_api("logs_deleted", "admin")  # held in memory: not in the file
    with pytest.raises(StoreError, match="not open"):
        await recorder.durable()
    writer = JournalWriter(journal, clock)
    recorder.attach(writer, journal)
    await recorder.durable()
    assert [row.reason for row in journal.read(0, 10)] == ["logs_deleted"]
    recorder.detach()
    await writer.close()
    recorder.record_api("logs_reset", "admin")  # only logged
    with pytest.raises(StoreError, match="not open"):
        await recorder.durable()
