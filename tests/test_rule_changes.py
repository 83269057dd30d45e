"""Rules changes reported by the stores become reloads: one per change, coalesced while one
runs, awaited by whoever must see them in force, retried when the disk fails."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.doors.timers import LoopTimers
from gateway.rule_changes import RETRY_S, RuleChanges
from tests.fakes import ManualClock, ManualTimers


class FakeReload:
    """A reload the test holds open (`hold`) and lets finish (`release`), or makes fail."""

    def __init__(self) -> None:
        self.started = 0
        self.done = 0
        self.threads: list[int] = []
        self._gate: asyncio.Event | None = None
        self._failures: list[Exception] = []

    def hold(self) -> None:
        """The next reloads wait until `release()`."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set()
        self._gate = None

    def fail_next(self, error: Exception) -> None:
        self._failures.append(error)

    async def __call__(self) -> bool:
        self.started += 1
        self.threads.append(threading.get_ident())
        if self._gate is not None:
            await self._gate.wait()
        if self._failures:
            raise self._failures.pop(0)
        self.done += 1
        return True


@pytest.fixture
def timers() -> ManualTimers:
    return ManualTimers(ManualClock())


@pytest.fixture
def reload() -> FakeReload:
    return FakeReload()


async def test_one_change_is_one_reload_and_settled_waits_for_it(
    timers: ManualTimers, reload: FakeReload
) -> None:
    changes = RuleChanges(timers, reload)
    reload.hold()
    changes.rules_changed()
    waiting = asyncio.create_task(changes.settled())
    await asyncio.sleep(0)
    assert reload.started == 1 and not waiting.done()
    reload.release()
    await waiting
    assert (reload.started, reload.done) == (1, 1)
    assert changes.status() == {"reloads": 1, "reload_failures": 0, "changes_waiting": 0}


async def test_nothing_changed_nothing_reloaded(timers: ManualTimers, reload: FakeReload) -> None:
    changes = RuleChanges(timers, reload)
    await changes.settled()
    assert reload.started == 0


async def test_changes_while_a_reload_runs_share_the_next_one(
    timers: ManualTimers, reload: FakeReload
) -> None:
    """An array of many users must not build a snapshot per user."""
    changes = RuleChanges(timers, reload)
    reload.hold()
    changes.rules_changed()
    await asyncio.sleep(0)
    for _ in range(50):
        changes.rules_changed()
    waiting = asyncio.create_task(changes.settled())
    reload.release()
    await waiting
    assert reload.done == 2  # the one running, then one for all fifty
    assert changes.status()["changes_waiting"] == 0


async def test_a_change_made_during_a_reload_is_waited_for(
    timers: ManualTimers, reload: FakeReload
) -> None:
    """The reload that was running may have read the rules before this change: a waiter
    that made the change waits for the next one."""
    changes = RuleChanges(timers, reload)
    reload.hold()
    changes.rules_changed()
    await asyncio.sleep(0)
    changes.rules_changed()  # during the first reload
    waiting = asyncio.create_task(changes.settled())
    reload.release()
    await asyncio.sleep(0)
    await waiting
    assert reload.done == 2


async def test_a_failed_reload_is_raised_to_the_waiter_and_tried_again(
    timers: ManualTimers, reload: FakeReload
) -> None:
    changes = RuleChanges(timers, reload)
    reload.fail_next(OSError("disk I/O error"))
    changes.rules_changed()
    with pytest.raises(OSError, match="disk I/O error"):
        await changes.settled()
    assert changes.status() == {"reloads": 0, "reload_failures": 1, "changes_waiting": 1}
    timers.advance(RETRY_S - 0.1)
    await asyncio.sleep(0)
    assert reload.started == 1  # not yet
    timers.advance(0.1)
    await changes.settled()
    assert (reload.started, reload.done) == (2, 1)
    assert changes.status()["changes_waiting"] == 0


async def test_a_change_from_a_worker_thread_is_reloaded_on_the_loop(reload: FakeReload) -> None:
    """The stores tell from the thread that wrote; the reload runs on the event loop."""
    changes = RuleChanges(LoopTimers(asyncio.get_running_loop()), reload)
    await asyncio.to_thread(changes.rules_changed)
    await changes.settled()
    assert reload.done == 1
    assert reload.threads == [threading.get_ident()]


async def test_a_closed_follower_reloads_nothing(timers: ManualTimers, reload: FakeReload) -> None:
    changes = RuleChanges(timers, reload)
    await changes.close()
    changes.rules_changed()
    await changes.settled()
    assert reload.started == 0


async def test_changes_inside_a_batch_reload_once_at_its_end(
    timers: ManualTimers, reload: FakeReload
) -> None:
    """An ACTAtek array writes item by item: one reload when the request ends, not one
    per item, and the end waits until they are in force."""
    changes = RuleChanges(timers, reload)
    async with changes.batch():
        for _ in range(50):
            await asyncio.to_thread(changes.rules_changed)  # as a store call does
            await asyncio.sleep(0)
        assert reload.started == 0
    assert (reload.started, reload.done) == (1, 1)


async def test_a_change_outside_an_open_batch_is_not_held_back(
    timers: ManualTimers, reload: FakeReload
) -> None:
    """A long request does not delay the reload of a write made elsewhere."""
    changes = RuleChanges(timers, reload)
    elsewhere = asyncio.Event()

    async def other_writer() -> None:
        changes.rules_changed()
        await changes.settled()
        elsewhere.set()

    writer = asyncio.create_task(other_writer())  # its own context: not in the batch
    async with changes.batch():
        await elsewhere.wait()
        assert reload.done == 1
    await writer


async def test_a_change_after_its_batch_ended_is_not_lost(
    timers: ManualTimers, reload: FakeReload
) -> None:
    """A task started inside the request may write after the answer: it reloads at once."""
    changes = RuleChanges(timers, reload)
    later = asyncio.Event()

    async def background() -> None:
        await later.wait()
        changes.rules_changed()

    async with changes.batch():
        task = asyncio.create_task(background())  # copies the batch's context
    later.set()
    await task
    await asyncio.sleep(0)
    assert reload.started == 1
