"""Plate windows (the Akuvox plate "Duration") in the store: kept per plate, checked,
read back after a reopen, in the rules the engine reads (full load and delta), and in
CSV and XML files both ways."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import User
from gateway.store.db import open_database
from gateway.store.errors import ValidationError
from gateway.store.importexport import export_users_file, import_users_file
from gateway.store.rules import load_snapshot, read_change_seq, read_delta
from gateway.store.stores import Stores
from gateway.store.users import UserStore

FROM, UNTIL = "2026-03-01T08:00:00Z", "2026-03-08T18:00:00Z"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def visitor(**windows: tuple[str | None, str | None]) -> User:
    return User("V1", plates=["AB12CDE", "XY99ZZZ"], plate_windows=dict(windows))


def test_a_window_is_kept_per_plate_and_normalised_to_utc(users: UserStore) -> None:
    users.add_user(visitor(AB12CDE=("2026-03-01T09:00:00+01:00", UNTIL)))
    stored = users.get_user("V1")
    assert stored is not None
    assert stored.plate_windows == {"AB12CDE": (FROM, UNTIL)}  # XY99ZZZ: long-term


@pytest.mark.parametrize(
    ("windows", "words"),
    [
        ({"ZZ00ZZZ": (FROM, UNTIL)}, "not one of the user's plates"),
        ({"AB12CDE": (UNTIL, FROM)}, "ends before it starts"),
        ({"AB12CDE": ("2026-03-01T08:00:00", None)}, "no time zone"),
        ({"AB12CDE": ("next week", None)}, "not an ISO 8601 time"),
    ],
)
def test_a_bad_window_is_refused_and_nothing_stored(
    users: UserStore, windows: dict[str, tuple[str | None, str | None]], words: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        users.add_user(User("V1", plates=["AB12CDE"], plate_windows=windows))
    assert refused.value.field == "plate_windows" and words in refused.value.message
    assert users.get_user("V1") is None


def test_a_window_survives_a_reopen_and_is_in_the_rules(db_path: Path, hasher: PinHasher) -> None:
    with closing(Stores.open(db_path, hasher)) as stores:
        stores.users.add_user(visitor(AB12CDE=(FROM, None)))
    with closing(Stores.open(db_path, hasher)) as stores:
        stored = stores.users.get_user("V1")
        assert stored is not None and stored.plate_windows == {"AB12CDE": (FROM, None)}
    with closing(open_database(db_path)) as conn:
        rules = load_snapshot(conn)
    window = rules.owner("plate", "AB12CDE")
    assert window is not None and (window.valid_from, window.valid_until) == (epoch(FROM), None)
    long_term = rules.owner("plate", "XY99ZZZ")
    assert long_term is not None and long_term.window is None


def test_a_changed_window_reaches_the_engine_as_a_delta(stores: Stores, db_path: Path) -> None:
    stores.users.add_user(visitor())
    with closing(open_database(db_path)) as conn:
        seq = read_change_seq(conn)
    stores.users.update_user(visitor(AB12CDE=(None, UNTIL)))
    with closing(open_database(db_path)) as conn:
        delta = read_delta(conn, seq)
    assert delta is not None
    owners = {c.value: c.owner for c in delta.credentials}
    plate = owners["AB12CDE"]
    assert plate is not None and plate.window == (None, epoch(UNTIL))


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_files_carry_the_windows_both_ways(users: UserStore, tmp_path: Path, suffix: str) -> None:
    users.add_user(visitor(AB12CDE=(FROM, UNTIL)))
    path = tmp_path / f"users{suffix}"
    export_users_file(users, path)
    if suffix == ".csv":
        assert f"AB12CDE/{FROM}/{UNTIL}" in path.read_text(encoding="utf-8-sig")
    users.delete_user("V1")
    import_users_file(users, path)
    stored = users.get_user("V1")
    assert stored is not None and stored.plate_windows == {"AB12CDE": (FROM, UNTIL)}


def test_a_csv_window_with_one_end_and_a_bad_one(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(f"user_id,plates,plate_windows\nV1,AB12CDE;XY99ZZZ,AB12CDE//{UNTIL}\n")
    import_users_file(users, path)
    stored = users.get_user("V1")
    assert stored is not None and stored.plate_windows == {"AB12CDE": (None, UNTIL)}
    path.write_text("user_id,plates,plate_windows\nV2,CD34EFG,CD34EFG\n")
    with pytest.raises(Exception, match="PLATE/FROM/UNTIL"):
        import_users_file(users, path)
    assert users.get_user("V2") is None
