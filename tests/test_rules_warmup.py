"""While the rules cache loads after a start, a credential is read from the store before it
is decided: one the store grants opens the door, one it lacks does not, and a store that
fails or is too slow refuses. The full load then runs at once and takes over."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.access.snapshot import RulesDelta, RulesSnapshot
from gateway.clock import Instant
from gateway.doors.timers import LoopTimers
from gateway.model import Credential, Event, User
from gateway.pipeline import AccessPipeline
from gateway.rule_changes import RuleChanges
from gateway.rules_reload import RulesReloader, StoreLookups
from gateway.service import ServiceNotifier, StoreHealthReport
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.status import store_section
from gateway.store.stores import Stores
from tests.access.rules import UTC
from tests.doors.harness import rig

READER = ReaderSettings("r-in", "wiegand_keypad", "front", direction="in")
HASHER = PinHasher(bytes(range(32)))


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    opened = Stores.open(tmp_path / "gateway.db", HASHER)
    opened.users.add_user(User("1001", cards=["0A01"], pin="1111"))
    return opened


class Site:
    """A door, an engine started on a loading snapshot, and a pipeline reading the store."""

    def __init__(self, stores: Stores, db_path: Path, deadline_s: float = 1.0) -> None:
        self.stores, self.door = stores, rig()
        self.engine = AccessEngine(
            AccessSettings(),
            {"front": DoorSettings("front")},
            {READER.name: READER},
            UTC,
            HASHER,
            stores.engine_state.load_shared_snapshot(),
        )
        self.lookups = StoreLookups(self.engine, db_path, HASHER.hash, deadline_s)
        self.pipeline = AccessPipeline(
            asyncio.get_running_loop(),
            self.door.clock,
            self.engine,
            {READER.name: READER},
            {"front": self.door.door},
            {},
            self.door.events.append,
            lambda: None,
            store_first=self.lookups,
        )

    async def present(self, kind: str, value: str) -> Event:
        """Present a credential; the access event it is journaled as."""
        self.door.take()
        self.pipeline.credential(Credential(kind, value, READER.name, self.door.clock.time()))  # type: ignore[arg-type]
        for _ in range(500):
            if self.access_events():
                return self.access_events()[-1]
            await asyncio.sleep(0.01)
        raise AssertionError("no decision")

    def access_events(self) -> list[Event]:
        return [e for e in self.door.events if e.type == "access"]


async def test_while_loading_a_card_the_store_grants_opens_the_door(
    stores: Stores, tmp_path: Path
) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    assert site.engine.snapshot.loading and site.engine.snapshot.counts()["users"] == 0
    event = await site.present("card", "0A01")
    assert (event.reason, event.user_id) == ("granted", "1001")
    assert site.door.relay_energised
    assert (await site.present("pin", "1111")).reason == "granted"
    assert site.lookups.lookups == 2


async def test_while_loading_a_card_the_store_lacks_is_refused(
    stores: Stores, tmp_path: Path
) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    assert (await site.present("card", "0B0B")).reason == "unknown_credential"
    assert (await site.present("pin", "9999")).reason == "unknown_credential"
    assert not site.door.relay_energised


async def test_while_loading_each_presentation_reads_the_store_afresh(
    stores: Stores, tmp_path: Path
) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    assert (await site.present("card", "0A01")).reason == "granted"
    stores.users.set_user_active("1001", False)  # no reload: the cache is still loading
    assert (await site.present("card", "0A01")).reason == "user_inactive"


@pytest.mark.parametrize("failure", ["unreadable store", "too slow"])
async def test_while_loading_a_store_that_fails_refuses(
    stores: Stores, tmp_path: Path, failure: str
) -> None:
    if failure == "unreadable store":
        broken = tmp_path / "not-a-database"
        broken.write_bytes(b"this is not SQLite" * 100)
        site = Site(stores, broken)
    else:
        site = Site(stores, tmp_path / "gateway.db", deadline_s=0.0)
    event = await site.present("card", "0A01")
    assert (event.reason, event.granted, event.source) == ("rules_loading", False, "policy")
    assert not site.door.relay_energised


async def test_the_watch_loads_everything_at_once_and_lookups_stop(
    stores: Stores, tmp_path: Path
) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    reloader = RulesReloader(stores.engine_state, site.engine, {}, tmp_path / "gateway.db")
    health = StoreHealthReport(ServiceNotifier(environ={}), "serving")
    async with reloader.watching(3600.0, health):  # no poll would come for an hour
        for _ in range(500):
            if not site.engine.snapshot.loading:
                break
            await asyncio.sleep(0.01)
        assert not site.engine.snapshot.loading
        assert site.engine.snapshot.counts()["cards"] == 1
        assert (await site.present("card", "0A01")).reason == "granted"
        assert site.lookups.lookups == 0  # decided from the cache


async def test_a_write_while_the_first_load_runs_does_not_wait_for_it_and_is_caught_up(
    stores: Stores, tmp_path: Path
) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    reloader = SlowFirstLoad(stores.engine_state, site.engine, {}, tmp_path / "gateway.db")
    first_load = asyncio.create_task(reloader.reload_rules_if_changed())
    await asyncio.to_thread(reloader.loading.wait, 5)
    stores.users.add_user(User("1002", cards=["0A02"]))  # written while it loads
    async with asyncio.timeout(1):  # the writer's reload does not wait for the load
        assert await reloader.reload_rules_if_changed(force=True) is True
    assert (await site.present("card", "0A02")).reason == "granted"  # from the store
    reloader.release.set()
    await first_load
    assert not site.engine.snapshot.loading
    assert site.engine.snapshot.cards["0A02"].user_id == "1002"  # caught up
    assert site.engine.snapshot.version == stores.engine_state.rules_version()


async def test_the_first_load_is_never_in_force_without_the_writes_made_while_it_ran(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user disabled while the cache loads must not be granted by the loaded cache, not
    even for the moment between it taking over and the catch-up."""
    site = Site(stores, tmp_path / "gateway.db")
    reloader = SlowFirstLoad(stores.engine_state, site.engine, {}, tmp_path / "gateway.db")
    seen_at_swap: list[str] = []

    def dispose(replaced: RulesSnapshot) -> None:  # runs just after the new cache is in
        now = Instant.read(site.door.clock)
        seen_at_swap.append(site.engine.decide(card("0A01"), "front", now).reason)

    monkeypatch.setattr("gateway.rules_reload._dispose", dispose)
    first_load = asyncio.create_task(reloader.reload_rules_if_changed())
    await asyncio.to_thread(reloader.loading.wait, 5)
    stores.users.set_user_active("1001", False)  # read as active by the load under way
    await reloader.reload_rules_if_changed(force=True)
    reloader.release.set()
    await first_load
    assert seen_at_swap == ["user_inactive"]
    assert (await site.present("card", "0A01")).reason == "user_inactive"


def card(value: str) -> Credential:
    return Credential("card", value, READER.name, 0.0)


class SlowFirstLoad(RulesReloader):
    """A reloader whose first full load waits until the test releases it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loading, self.release = threading.Event(), threading.Event()

    def _read_update(self, after_seq: int | None) -> RulesDelta | RulesSnapshot:
        result = super()._read_update(after_seq)
        if after_seq is None:
            self.loading.set()
            self.release.wait(5)
        return result


async def test_the_status_says_loading_then_ready(stores: Stores, tmp_path: Path) -> None:
    site = Site(stores, tmp_path / "gateway.db")
    changes = RuleChanges(LoopTimers(asyncio.get_running_loop()), lambda: asyncio.sleep(0))
    section = store_section(site.engine, changes, site.door.clock)
    assert section()["rules"] == "loading"
    reloader = RulesReloader(stores.engine_state, site.engine, {}, tmp_path / "gateway.db")
    await reloader.reload_rules_if_changed()
    assert (section()["rules"], section()["cards"]) == ("ready", 1)


class HeldLookups:
    """Store reads that wait for the test to let each one answer, in any order."""

    def __init__(self, lookups: StoreLookups) -> None:
        self.inner, self.loading = lookups, True
        self.gates: dict[str, asyncio.Event] = {}

    async def read_first(self, credential: Credential) -> None:
        await self.gates.setdefault(credential.value, asyncio.Event()).wait()
        await self.inner.read_first(credential)

    def answer(self, value: str) -> None:
        self.gates.setdefault(value, asyncio.Event()).set()


async def test_while_loading_a_reader_s_credentials_are_decided_in_the_order_presented(
    stores: Stores, tmp_path: Path
) -> None:
    stores.users.add_user(User("1002", cards=["0A02"]))
    site = Site(stores, tmp_path / "gateway.db")
    held = HeldLookups(site.lookups)
    site.pipeline._store_first = held
    site.pipeline.credential(card("0B0B"))  # unknown: its store read is slow
    site.pipeline.credential(card("0A02"))
    held.answer("0A02")  # the second read answers first
    await asyncio.sleep(0.05)
    assert site.access_events() == []  # not decided before the first
    site.engine.snapshot = stores.engine_state.load_snapshot()  # the cache is in meanwhile,
    held.loading = False  # and the next card still queues behind the two
    site.pipeline.credential(card("0A01"))
    held.answer("0B0B")
    for _ in range(100):
        if len(site.access_events()) == 3:
            break
        await asyncio.sleep(0.01)
    assert [(e.reason, e.credential) for e in site.access_events()] == [
        ("unknown_credential", "0B0B"),
        ("granted", "0A02"),
        ("granted", "0A01"),
    ]


async def test_a_rules_check_never_waits_on_the_loop_for_a_write_of_another_thread(
    stores: Stores, tmp_path: Path
) -> None:
    """An API write (an ACTAtek chunk) holds the stores' connection on a worker thread:
    the periodic rules check waits for it off the loop, and the doors' loop keeps turning."""
    site = Site(stores, tmp_path / "gateway.db")
    reloader = RulesReloader(stores.engine_state, site.engine, {}, tmp_path / "gateway.db")
    await reloader.reload_rules_if_changed()
    writing, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with stores.users.importing():  # a long write: the connection is held
            writing.set()
            release.wait(5.0)

    worker = threading.Thread(target=long_write)
    worker.start()
    assert writing.wait(5.0)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, release.set)
    started = loop.time()
    check = asyncio.create_task(reloader.reload_rules_if_changed())
    gaps, last = [], loop.time()
    while not check.done():
        await asyncio.sleep(0.01)
        gaps.append(loop.time() - last)
        last = loop.time()
    await check
    worker.join()
    assert loop.time() - started >= 0.3  # the check did wait for the write...
    assert max(gaps) < 0.1  # ...but not on the loop
