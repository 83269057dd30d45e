"""A rule change reaches the engine as a delta: only what changed is re-read, the next
decision sees it, and the result is the rules a full load would give. Large change sets and
a change log that no longer reaches back fall back to a full load."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.access.snapshot import RulesSnapshot
from gateway.model import Credential, User
from gateway.rules_reload import RulesReloader
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.store.db import open_database, write_transaction
from gateway.store.errors import ValidationError
from gateway.store.rules import (
    changes_logged_as_one,
    load_snapshot,
    prune_changes,
    read_change_seq,
)
from gateway.store.stores import Stores
from tests.access.rules import MONDAY_10AM, UTC, when

OFFICE = "0" * 16 + "1" * 20 + "0" * 12  # 08:00-18:00
MONDAY = date(2026, 3, 2)  # MONDAY_10AM's date


@pytest.fixture
def site(stores: Stores) -> Stores:
    """Two users with a card and a PIN each, an office-hours group 4 for one of them."""
    stores.organisation.put_access_right(3, "Office", {"MONDAY": OFFICE})
    stores.organisation.put_access_group(4, "Office staff", 0, [3])
    stores.users.add_user(
        User("1001", first_name="Ada", last_name="Byron", cards=["0A01"], pin="1111")
    )
    stores.users.add_user(User("1002", cards=["0A02"], pin="2222", groups=[4]))
    return stores


@pytest.fixture
async def rig(site: Stores, db_path: Path, hasher: PinHasher) -> Rig:
    return Rig(site, db_path, engine_for(site, hasher))


def engine_for(stores: Stores, hasher: PinHasher) -> AccessEngine:
    """An engine with the store's PIN key, on the store's rules, door `front`."""
    return AccessEngine(
        AccessSettings(),
        {"front": DoorSettings("front")},
        {"r-in": ReaderSettings("r-in", "wiegand_keypad", "front", direction="in")},
        UTC,
        hasher,
        stores.engine_state.load_snapshot(),
    )


class Rig:
    """The engine on the site's rules and the reloader that keeps them current."""

    def __init__(self, stores: Stores, db_path: Path, eng: AccessEngine) -> None:
        self.stores, self.db_path, self.engine = stores, db_path, eng
        self.reloader = RulesReloader(stores.engine_state, eng, {}, db_path)

    def decide(self, kind: str, value: str, at: float = MONDAY_10AM) -> str:
        credential = Credential(kind, value, "r-in", at)  # type: ignore[arg-type]
        return self.engine.decide(credential, "front", when(at)).reason

    def sql(self, statement: str, *args: Any) -> None:
        """A write by another process: its own connection, nothing told."""
        with closing(sqlite3.connect(self.db_path, isolation_level=None)) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(statement, args)

    def full_load(self) -> RulesSnapshot:
        with closing(open_database(self.db_path)) as conn:
            return load_snapshot(conn)


def same_rules(a: RulesSnapshot, b: RulesSnapshot) -> None:
    """Everything a decision can read is equal in `a` and `b`."""
    assert dict(a.users) == dict(b.users)
    for kind in ("cards", "pins", "qr_codes", "plates"):
        assert dict(getattr(a, kind)) == dict(getattr(b, kind)), kind
    assert a.shared == b.shared
    assert a.totp == b.totp
    assert a.version == b.version
    assert a.counts() == b.counts()


Change = Callable[[Rig], object]
EVENING = MONDAY_10AM + 9 * 3600  # 19:00: outside office hours, inside "Always"


def add_holiday(rig: Rig) -> None:
    rig.stores.organisation.put_access_right(3, "Office", {"MONDAY": "1" * 48})
    rig.sql("INSERT INTO holidays (date) VALUES (?)", MONDAY.isoformat())


# Each change; the credential, when it is shown, and the reason before -> after it.
CHANGES: dict[str, tuple[Change, str, str, float, str, str]] = {
    "card added": (
        lambda r: r.sql(
            "INSERT INTO credentials (kind, value, user_id) VALUES ('card', '0B01', '1001')"
        ),
        *("card", "0B01", MONDAY_10AM, "unknown_credential", "granted"),
    ),
    "card removed": (
        lambda r: r.sql("DELETE FROM credentials WHERE value = '0A01'"),
        *("card", "0A01", MONDAY_10AM, "granted", "unknown_credential"),
    ),
    "card disabled": (
        lambda r: r.sql("UPDATE credentials SET enabled = 0 WHERE value = '0A01'"),
        *("card", "0A01", MONDAY_10AM, "granted", "credential_disabled"),
    ),
    "card given to another user": (
        lambda r: r.sql("UPDATE credentials SET user_id = '1001' WHERE value = '0A02'"),
        *("card", "0A02", EVENING, "outside_schedule", "granted"),
    ),
    "user deactivated": (
        lambda r: r.stores.users.set_user_active("1001", False),
        *("card", "0A01", MONDAY_10AM, "granted", "user_inactive"),
    ),
    "user deleted": (
        lambda r: r.stores.users.delete_user("1001"),
        *("pin", "1111", MONDAY_10AM, "granted", "unknown_credential"),
    ),
    "expiry passed": (
        lambda r: r.sql("UPDATE users SET expiry = '2026-01-01T00:00:00Z' WHERE user_id = '1001'"),
        *("card", "0A01", MONDAY_10AM, "granted", "user_expired"),
    ),
    "groups changed": (
        lambda r: r.sql("UPDATE user_groups SET group_id = 4 WHERE user_id = '1001'"),
        *("card", "0A01", EVENING, "granted", "outside_schedule"),
    ),
    "doors changed": (
        lambda r: r.sql(
            "INSERT INTO user_doors (user_id, door, position) VALUES ('1001', 'back', 0)"
        ),
        *("card", "0A01", MONDAY_10AM, "granted", "door_not_permitted"),
    ),
    "PIN changed": (
        lambda r: r.stores.users.update_user(User("1002", pin="3333", groups=[4])),
        *("pin", "2222", MONDAY_10AM, "granted", "unknown_credential"),
    ),
    "a right's pattern": (
        lambda r: r.stores.organisation.put_access_right(3, "Office", {"MONDAY": "1" * 48}),
        *("card", "0A02", EVENING, "outside_schedule", "granted"),
    ),
    "a holiday": (
        add_holiday,
        *("card", "0A02", MONDAY_10AM, "granted", "outside_schedule"),
    ),
}


@pytest.mark.parametrize("name", list(CHANGES))
async def test_a_change_is_applied_as_a_delta_and_seen_by_the_next_decision(
    rig: Rig, name: str
) -> None:
    change, kind, value, at, before, after = CHANGES[name]
    assert rig.decide(kind, value, at) == before
    change(rig)
    assert await rig.reloader.reload_rules_if_changed(force=True) is True
    assert rig.decide(kind, value, at) == after
    assert rig.reloader.status() == {"rules_deltas": 1, "rules_full_loads": 0}
    same_rules(rig.engine.snapshot, rig.full_load())


async def test_a_write_by_another_process_is_picked_up_by_the_watch(rig: Rig) -> None:
    rig.sql("INSERT INTO credentials (kind, value, user_id) VALUES ('card', '0B01', '1001')")
    assert await rig.reloader.reload_rules_if_changed() is True  # not told: data_version
    assert rig.decide("card", "0B01") == "granted"
    assert rig.reloader.status() == {"rules_deltas": 1, "rules_full_loads": 0}


async def test_the_applied_log_is_pruned_and_nothing_is_read_twice(rig: Rig) -> None:
    rig.stores.users.add_user(User("1003", cards=["0A03"]))
    await rig.reloader.reload_rules_if_changed(force=True)
    with closing(open_database(rig.db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM rule_changes").fetchone() == (0,)
        applied = read_change_seq(conn)
    assert rig.engine.snapshot.change_seq == applied > 0
    assert await rig.reloader.reload_rules_if_changed(force=True) is False
    assert rig.reloader.status()["rules_deltas"] == 1


async def test_a_large_change_set_is_a_full_load(
    site: Stores, db_path: Path, hasher: PinHasher
) -> None:
    eng = engine_for(site, hasher)
    reloader = RulesReloader(site.engine_state, eng, {}, db_path, delta_limit=5)
    site.users.import_users([User(f"2{n:03d}", cards=[f"0C{n:02X}"]) for n in range(10)])
    await reloader.reload_rules_if_changed(force=True)
    assert reloader.status() == {"rules_deltas": 0, "rules_full_loads": 1}
    assert eng.snapshot.cards["0C09"].user_id == "2009"
    assert eng.snapshot.counts()["users"] == 12


async def test_a_log_pruned_past_the_snapshot_is_a_full_load(rig: Rig) -> None:
    rig.stores.users.add_user(User("1003", cards=["0A03"]))
    with closing(open_database(rig.db_path)) as conn:  # someone else pruned what we lack
        prune_changes(conn, read_change_seq(conn))
    await rig.reloader.reload_rules_if_changed(force=True)
    assert rig.reloader.status() == {"rules_deltas": 0, "rules_full_loads": 1}
    assert rig.decide("card", "0A03") == "granted"
    same_rules(rig.engine.snapshot, rig.full_load())


def test_a_loaded_snapshot_gives_the_collector_nothing_per_user(
    stores: Stores, hasher: PinHasher
) -> None:
    stores.users.import_users(
        [
            User(f"U{n}", first_name=f"F{n}", cards=[f"{n:06X}"], pin=f"{100000 + n}")
            for n in range(3000)
        ]
    )
    gc.collect()
    before = len(gc.get_objects())
    snapshot = stores.engine_state.load_snapshot()
    gc.collect()
    assert len(gc.get_objects()) - before < 200  # not thousands: nothing to scan per user
    assert snapshot.pins[hasher.hash("100042")].user_id == "U42"
    assert snapshot.cards["00002A"].user_id == "U42"
    assert snapshot.users["U42"].name == "F42"


def log_entries(db_path: Path) -> int:
    with closing(open_database(db_path)) as conn:
        return int(conn.execute("SELECT count(*) FROM rule_changes").fetchone()[0])


async def test_a_bulk_write_logs_one_entry_and_readers_load_in_full(rig: Rig) -> None:
    before = log_entries(rig.db_path)
    version = rig.stores.engine_state.rules_version()
    with (
        closing(open_database(rig.db_path)) as conn,
        write_transaction(conn),
        changes_logged_as_one(conn),
    ):
        conn.executemany("INSERT INTO users (user_id) VALUES (?)", [(f"B{n}",) for n in range(50)])
        conn.executemany(
            "INSERT INTO credentials (kind, value, user_id) VALUES ('card', ?, ?)",
            [(f"0D{n:02X}", f"B{n}") for n in range(50)],
        )
    assert log_entries(rig.db_path) == before + 1
    assert rig.stores.engine_state.rules_version() == version + 1  # once, not per row
    await rig.reloader.reload_rules_if_changed()
    assert rig.reloader.status() == {"rules_deltas": 0, "rules_full_loads": 1}
    assert rig.engine.snapshot.cards["0D31"].user_id == "B49"
    rig.stores.users.set_user_active("B49", False)  # and the log works as before after it
    await rig.reloader.reload_rules_if_changed(force=True)
    assert rig.reloader.status() == {"rules_deltas": 1, "rules_full_loads": 1}
    assert rig.decide("card", "0D31") == "user_inactive"


async def test_a_small_import_is_applied_as_a_delta(rig: Rig) -> None:
    rig.stores.users.import_users([User(f"S{n}", cards=[f"0E{n:02X}"]) for n in range(20)])
    assert log_entries(rig.db_path) > 20  # one entry per row: the daemon applies them
    await rig.reloader.reload_rules_if_changed(force=True)
    assert rig.reloader.status() == {"rules_deltas": 1, "rules_full_loads": 0}
    assert rig.decide("card", "0E13") == "granted"


async def test_a_large_import_is_logged_as_one_change_and_loaded_in_full(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.store.users.IMPORT_BATCH", 50)
    monkeypatch.setattr("gateway.store.users.BULK_IMPORT_USERS", 50)
    before = log_entries(rig.db_path)
    version = rig.stores.engine_state.rules_version()
    rig.stores.users.import_users([User(f"L{n}", cards=[f"0F{n:02X}"]) for n in range(120)])
    assert log_entries(rig.db_path) == before + 1  # not one per row
    assert rig.stores.engine_state.rules_version() == version + 1
    await rig.reloader.reload_rules_if_changed(force=True)
    assert rig.reloader.status() == {"rules_deltas": 0, "rules_full_loads": 1}
    assert rig.decide("card", "0F77") == "granted"
    same_rules(rig.engine.snapshot, rig.full_load())


async def test_a_refused_large_import_leaves_the_log_and_the_rules_as_they_were(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.store.users.IMPORT_BATCH", 50)
    monkeypatch.setattr("gateway.store.users.BULK_IMPORT_USERS", 50)
    before = log_entries(rig.db_path)
    version = rig.stores.engine_state.rules_version()
    users = [User(f"R{n}", cards=[f"10{n:02X}"]) for n in range(80)] + [User("x", cards=["0A01"])]
    with pytest.raises(ValidationError):
        rig.stores.users.import_users(users)
    assert log_entries(rig.db_path) == before
    assert rig.stores.engine_state.rules_version() == version
    assert await rig.reloader.reload_rules_if_changed(force=True) is False
    assert rig.decide("card", "1001") == "unknown_credential"
