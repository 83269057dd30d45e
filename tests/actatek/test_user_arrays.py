"""Large user arrays (`POST`/`PUT user` with thousands of items): each item answered as
when it is sent on its own, the good ones stored even when others are refused, a bounded
number of transactions, other requests answered while an array is being written, and
the PIN-oracle protections across the whole array."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.web.actatek import user_arrays
from tests.actatek.conftest import Api

COUNT = 2_000
DEMO_CARD, DEMO_PIN = "0C8707", "1234"  # demo user 1001 (config/simulate.toml)


def user_item(n: int) -> dict[str, Any]:
    return {
        "userID": f"B{n}",
        "firstName": f"First{n}",
        "cardsn": f"{0x10000000 + n:08X}",
        "password": f"{20_000_000 + n}",
    }


# Refused items in the middle of the array, and what each one answers (as it does on its
# own): a field the parser refuses, a missing group, another user's card (a USERADMIN may
# read who holds it), a PIN in use (counted, named to nobody), an id added earlier.
BAD: dict[int, tuple[dict[str, Any], str]] = {
    700: ({"userID": "B700", "cardsn": "not-a-card"}, "cardsn"),
    1000: ({"userID": "B1000", "groupID": 99}, "groupID: access group 99 does not exist"),
    1001: (
        {"userID": "B1001", "cardsn": DEMO_CARD},
        f"cardsn: card {DEMO_CARD} is already assigned to user 1001",
    ),
    1300: (
        {"userID": "B1300", "password": DEMO_PIN},
        "password: this PIN cannot be used; choose another",
    ),
    1500: ({"userID": "B5", "firstName": "again"}, "userID: user B5 already exists"),
}


def array_with_bad_items() -> list[dict[str, Any]]:
    return [BAD[n][0] if n in BAD else user_item(n) for n in range(COUNT)]


def count_write_transactions(gateway: Gateway) -> list[float]:
    """From now on, how long each write transaction on the stores' connection ran, from its
    BEGIN IMMEDIATE to the start of its COMMIT (one entry per transaction begun)."""
    begun: list[float] = []

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            begun.append(-time.monotonic())
        elif statement == "COMMIT" and begun and begun[-1] < 0:
            begun[-1] += time.monotonic()

    with gateway.stores.users.connection.raw() as conn:
        conn.set_trace_callback(trace)
    return begun


async def api_events(gateway: Gateway, reason: str) -> list[Any]:
    await gateway.recorder.flush()
    rows = await gateway.recorder.read_events(0, 100_000)
    return [row for row in rows if row.type == "api" and row.reason == reason]


async def test_a_2000_user_array_answers_each_item_as_on_its_own_and_stores_the_good_ones(
    api: Api,
) -> None:
    gateway = api.gateway
    before = await gateway.recorder.read_events(0, 100_000)
    status, results = await api.call("POST", f"user/{api.sid('USERADMIN')}", array_with_bad_items())

    assert status == 200 and len(results) == COUNT
    for n, result in enumerate(results):
        if n in BAD:
            assert result["status"] == "error", (n, result)
            assert result["message"].startswith(BAD[n][1]), (n, result)
        else:
            assert result == {"status": "success", "message": f"User B{n} Added"}, (n, result)
    users = gateway.stores.users
    assert users.count_users() == 3 + COUNT - len(BAD)  # and the 3 demo users
    for n in (0, 499, 500, 699, 701, 1299, 1301, 1999):
        user = users.get_user(f"B{n}")
        assert user is not None and user.cards == [f"{0x10000000 + n:08X}"] and user.has_pin
    for n in (700, 1000, 1001, 1300):
        assert users.get_user(f"B{n}") is None
    assert users.get_user("B5").first_name == "First5"  # type: ignore[union-attr]
    # Every good user is in force for the doors when the answer leaves.
    assert "B1999" in gateway.engine.snapshot.users
    # Nothing opened, and the journal says who was added, one line each, and the refusal.
    assert all(door.status()["lock"] == "locked" for door in gateway.doors.values())
    new = (await gateway.recorder.read_events(0, 100_000))[len(before) :]
    assert not [e for e in new if e.type in ("access", "door")]
    # (the first 20 of an account one by one, the rest summarised: gateway.store.noise).
    added = await api_events(gateway, "user_added")
    assert [e.trace for e in added] == [f"userID=B{n}" for n in range(20)]
    assert len(await api_events(gateway, "credential_change_refused")) == 1


async def test_an_array_is_written_in_a_few_transactions_not_one_per_user(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    begun = count_write_transactions(api.gateway)
    status, results = await api.call("POST", f"user/{api.sid('USERADMIN')}", array_with_bad_items())
    assert status == 200 and len(results) == COUNT
    # A chunk ends after 10 ms: tens of users per transaction, however slow the machine,
    # and the connection is never held for long (500 users took 0.25 s here).
    assert len(begun) <= COUNT // 4, len(begun)
    assert statistics.median(begun) < 0.05, sorted(begun)[-5:]

    # With time enough, chunks of 500, and one more after the PIN refusal that was counted.
    monkeypatch.setattr(user_arrays, "CHUNK_S", 60.0)
    begun.clear()
    items = [{"userID": f"B{n}", "firstName": "Again"} for n in range(COUNT)]
    status, results = await api.call("PUT", f"user/{api.sid('USERADMIN')}", items)
    assert status == 200 and len(results) == COUNT
    assert len(begun) <= 10, len(begun)

    begun.clear()
    renames = [{"userID": f"B{n}", "lastName": "Renamed"} for n in range(0, COUNT, 2)]
    status, results = await api.call("PUT", f"user/{api.sid('USERADMIN')}", renames)
    assert status == 200 and results[-1] == {"status": "success", "message": "User B1998 Updated"}
    assert len(begun) <= 5, len(begun)
    assert api.gateway.stores.users.get_user("B1998").last_name == "Renamed"  # type: ignore[union-attr]


async def test_a_request_sent_while_an_array_is_written_is_answered_before_it_ends(
    api: Api,
) -> None:
    users = api.gateway.stores.users
    items = [user_item(n) for n in range(COUNT)]
    writing = asyncio.create_task(api.call("POST", f"user/{api.sid('USERADMIN')}", items))
    while await asyncio.to_thread(users.count_users) == 3:  # the demo users
        await asyncio.sleep(0.001)
    status, body = await api.call("GET", f"UserCount/{api.sid()}")
    assert status == 200 and 3 < body["usercount"] < 3 + COUNT
    assert not writing.done()
    status, results = await writing
    assert status == 200 and all(r["status"] == "success" for r in results)


async def test_the_loops_own_store_reads_wait_at_most_a_short_chunk(api: Api) -> None:
    # The rules watch reads the stores' connection on the loop (`data_version`): while an
    # array is written, each such read waits for the chunk in progress, never for the array.
    state = api.gateway.stores.engine_state
    items = [user_item(n) for n in range(COUNT)]
    writing = asyncio.create_task(api.call("POST", f"user/{api.sid('USERADMIN')}", items))
    longest = 0.0
    while not writing.done():
        started = time.monotonic()
        state.data_version()
        longest = max(longest, time.monotonic() - started)
        await asyncio.sleep(0.002)
    status, _ = await writing
    assert status == 200
    assert longest < 0.5, longest  # a chunk (and a busy machine), never the whole array


async def test_a_database_fault_in_a_chunk_is_answered_for_that_user_alone(api: Api) -> None:
    with api.gateway.stores.users.connection.raw() as conn:
        conn.execute(
            "CREATE TEMP TRIGGER fail_b7 BEFORE INSERT ON main.users "
            "WHEN NEW.user_id = 'B7' BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
    items = [user_item(n) for n in range(20)]
    status, results = await api.call("POST", f"user/{api.sid('USERADMIN')}", items)
    assert status == 200
    assert results[7] == {"status": "error", "message": "database error"}
    assert [r["status"] for r in results[:7] + results[8:]] == ["success"] * 19
    assert api.gateway.stores.users.get_user("B8") is not None
    assert api.gateway.stores.users.get_user("B7") is None


async def test_refused_pins_across_chunks_are_counted_then_every_later_pin_waits(
    api: Api,
) -> None:
    # Another user's PIN at places on both sides of chunk boundaries: the first three are
    # refused alike (nothing says whose), every later credential change waits without
    # being looked at, and items that change no credential still go through.
    taken_at = (10, 499, 500, 501, 1200)
    items: list[dict[str, Any]] = []
    for n in range(COUNT):
        if n in taken_at:
            items.append({"userID": f"B{n}", "password": DEMO_PIN})
        elif n % 2:
            items.append({"userID": f"B{n}"})
        else:
            items.append(user_item(n))
    status, results = await api.call("POST", f"user/{api.sid('USERADMIN')}", items)
    assert status == 200
    refused = "password: this PIN cannot be used; choose another"
    assert [results[n]["message"] for n in taken_at[:3]] == [refused] * 3
    # After the third refusal, every item that sets a credential waits; the others go on.
    waiting = {n for n in range(501, COUNT) if n % 2 == 0 or n in taken_at}
    for n in range(501, COUNT):
        if n in waiting:
            assert "too many refused credential changes; try again in" in results[n]["message"]
        else:
            assert results[n] == {"status": "success", "message": f"User B{n} Added"}
    assert len(await api_events(api.gateway, "credential_change_refused")) == 3
    rows = await api.gateway.recorder.read_events(0, 100_000)
    assert len([e for e in rows if e.reason == "credential_probing"]) == 1
