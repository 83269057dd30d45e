"""After a grant: the user's floors at a lift reader and their web relay URLs, in the
order the grants were made, from the store; a store that fails enables no floor."""

from __future__ import annotations

import threading

from gateway.doors.floors import FloorOutputs
from gateway.grant_actions import AfterGrant
from gateway.hw.factory import SimulatedHardware
from gateway.model import Credential, Decision, Event, GrantActions
from gateway.settings import FloorSettings, LiftSettings, ReaderSettings
from tests.fakes import ManualClock, ManualTimers

LIFT = ReaderSettings(name="car", kind="wiegand", door="lift", lift=True)
FRONT = ReaderSettings(name="front-in", kind="wiegand", door="front")
FLOORS = tuple(FloorSettings(str(n), 3 + n) for n in range(1, 5))


def grant(user_id: str | None) -> Decision:
    return Decision(True, "granted", user_id, "cache")


def card(reader: ReaderSettings) -> Credential:
    return Credential("card", "0C8707", reader.name, 1_800_000_000.0)


class Store:
    """The user store's `grant_actions`, from a dict; `fail()` makes it raise; `hold()`
    makes the next read wait until `release()`."""

    def __init__(self, users: dict[str, GrantActions]) -> None:
        self.users = users
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()

    def fail(self) -> None:
        self.failing = True

    def read(self, user_id: str) -> GrantActions:
        self.gate.wait(5)
        if self.failing:
            raise OSError("disk I/O error")
        return self.users.get(user_id, GrantActions())


class WebRelay:
    """Records what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, str, tuple[str, ...]]] = []

    def send(
        self,
        reader: ReaderSettings,
        credential: Credential,
        user_id: str | None,
        user_name: str,
        urls: tuple[str, ...],
    ) -> None:
        self.sent.append((reader.name, user_id, user_name, tuple(urls)))

    async def close(self, grace_s: float = 1.0) -> None:
        pass


def build(
    store: Store, default_floors: tuple[str, ...] = ()
) -> tuple[AfterGrant, FloorOutputs, WebRelay, list[Event]]:
    events: list[Event] = []
    clock = ManualClock()
    floors = FloorOutputs(
        FLOORS,
        LiftSettings(10, default_floors),
        SimulatedHardware(),
        ManualTimers(clock),
        clock,
        events.append,
    )
    relay = WebRelay()
    return AfterGrant(store.read, floors, relay), floors, relay, events  # type: ignore[arg-type]


async def test_floors_at_the_lift_and_urls_anywhere() -> None:
    store = Store({"A1": GrantActions(("2", "4"), ("http://10.0.0.9/on",))})
    after, floors, relay, _ = build(store)
    after(FRONT, card(FRONT), grant("A1"), "Ada")
    await after.settle()
    assert floors.enabled == ()  # not a lift reader
    after(LIFT, card(LIFT), grant("A1"), "Ada")
    await after.settle()
    assert floors.enabled == ("2", "4")
    assert relay.sent == [
        ("front-in", "A1", "Ada", ("http://10.0.0.9/on",)),
        ("car", "A1", "Ada", ("http://10.0.0.9/on",)),
    ]
    await after.close()
    assert floors.enabled == ()


async def test_grants_are_applied_in_the_order_they_were_made() -> None:
    store = Store({"A1": GrantActions(("1",)), "B2": GrantActions(("3",))})
    after, floors, _, _ = build(store)
    store.gate.clear()  # the first read is slow
    after(LIFT, card(LIFT), grant("A1"), "")
    after(LIFT, card(LIFT), grant("B2"), "")
    store.gate.set()
    await after.settle()
    assert floors.enabled == ("3",)  # the later grant wins, however the reads finish
    await after.close()


async def test_a_failing_store_enables_no_floor_and_sends_nothing() -> None:
    store = Store({"A1": GrantActions(("1",), ("http://10.0.0.9/on",))})
    after, floors, relay, events = build(store, default_floors=("4",))
    after(LIFT, card(LIFT), grant("A1"), "")
    await after.settle()
    assert floors.enabled == ("1",)
    store.fail()
    after(LIFT, card(LIFT), grant("A1"), "")
    await after.settle()
    assert floors.enabled == () and len(relay.sent) == 1
    assert [e.trace for e in events][-1] == "floors:store_unavailable"
    assert after.status()["store_failures"] == 1
    await after.close()


async def test_a_grant_without_a_user_gets_the_default_floors() -> None:
    store = Store({})
    after, floors, relay, _ = build(store, default_floors=("4",))
    after(LIFT, card(LIFT), grant(None), "")  # a public PIN
    await after.settle()
    assert floors.enabled == ("4",) and relay.sent == []
    await after.close()


async def test_a_store_slower_than_the_deadline_enables_no_floor() -> None:
    store = Store({"A1": GrantActions(("1",))})
    events: list[Event] = []
    clock = ManualClock()
    floors = FloorOutputs(
        FLOORS, LiftSettings(), SimulatedHardware(), ManualTimers(clock), clock, events.append
    )
    after = AfterGrant(store.read, floors, None, read_deadline_s=0.05)
    store.gate.clear()  # the database is locked by someone else
    after(LIFT, card(LIFT), grant("A1"), "")
    await after.settle()
    store.gate.set()
    assert floors.enabled == ()
    assert [e.trace for e in events] == ["floors:store_unavailable"]
    await after.close()
