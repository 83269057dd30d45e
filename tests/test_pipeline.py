"""The access pipeline journals a decision before the door events it causes, and says why
a grant did not open: `lockdown`, or `shutdown` while the daemon stops."""

from __future__ import annotations

import asyncio

from gateway.model import Credential, Event
from gateway.pipeline import AccessPipeline
from gateway.settings import ReaderSettings
from tests.access.rules import engine
from tests.doors.harness import Rig, rig

READER = ReaderSettings("r-in", "wiegand_keypad", "front", direction="in")


def pipeline_for(door: Rig) -> tuple[AccessPipeline, list[Event]]:
    """A pipeline whose journal is the same list as the door's events."""
    pipeline = AccessPipeline(
        asyncio.get_running_loop(),
        door.clock,
        engine(),
        {READER.name: READER},
        {"front": door.door},
        {},
        door.events.append,
        lambda: None,
    )
    return pipeline, door.events


def card(door: Rig) -> Credential:
    return Credential("card", "CAFE01", READER.name, door.clock.time())


def journaled(events: list[Event]) -> list[tuple[str, str, bool | None]]:
    return [(e.type, e.reason, e.granted) for e in events]


async def test_the_grant_is_journaled_before_the_unlock_it_causes() -> None:
    door = rig()
    pipeline, events = pipeline_for(door)
    door.take()
    pipeline.credential(card(door))
    assert journaled(events)[:2] == [("access", "granted", True), ("door", "unlocked", None)]
    assert door.relay_energised


async def test_a_grant_refused_by_lockdown_says_lockdown() -> None:
    door = rig()
    pipeline, events = pipeline_for(door)
    door.door.set_lockdown(True, "admin")
    door.take()
    pipeline.credential(card(door))
    assert journaled(events)[0] == ("access", "lockdown", False)
    assert "door:lockdown" in events[0].trace
    assert not door.relay_energised


async def test_a_grant_while_stopping_says_shutdown_not_lockdown() -> None:
    door = rig()
    pipeline, events = pipeline_for(door)
    door.door.stop()
    door.take()
    pipeline.credential(card(door))
    assert journaled(events)[0] == ("access", "shutdown", False)
    assert not door.relay_energised


async def test_a_secure_card_the_reader_refused_is_journaled_with_its_reason_and_stays_shut() -> (
    None
):
    door = rig()
    pipeline, events = pipeline_for(door)
    door.take()
    refused = Credential(
        "card", "", READER.name, door.clock.time(), raw="04A1B2C3", refusal="card_auth_failed"
    )
    pipeline.credential(refused)
    assert journaled(events) == [("access", "card_auth_failed", False)]
    assert (events[0].raw, events[0].user_id) == ("04A1B2C3", None)  # the copied UID, shown
    assert not door.relay_energised


async def test_only_a_grant_that_opened_sets_off_the_after_grant_actions() -> None:
    door = rig()
    called: list[tuple[str, str | None]] = []

    def after_grant(
        reader: ReaderSettings, credential: Credential, decision: object, name: str
    ) -> None:
        called.append((reader.name, getattr(decision, "user_id", None)))
        if len(called) == 1:
            raise RuntimeError("a broken hook")

    pipeline = AccessPipeline(
        asyncio.get_running_loop(),
        door.clock,
        engine(),
        {READER.name: READER},
        {"front": door.door},
        {},
        door.events.append,
        lambda: None,
        after_grant=after_grant,
    )
    pipeline.credential(card(door))  # granted: the hook runs (and its failure is logged)
    assert door.relay_energised and len(called) == 1
    door.door.set_lockdown(True, "admin")
    pipeline.credential(card(door))  # refused by the door: no hook
    pipeline.credential(Credential("card", "0BAD", READER.name, door.clock.time()))  # unknown
    assert len(called) == 1
    door.door.set_lockdown(False, "admin")
    pipeline.credential(card(door))  # the next grant still gets its actions
    assert len(called) == 2
