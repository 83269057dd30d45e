"""A user's "Relay Schedule Activation Permission" (`schedule_activation`): stored, read
back after a migration of an older user (who keeps what every grant did: true), carried
by import files, and in the rules the engine reads, so a grant says whether it may start
a first-person-in unlock schedule."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from gateway.model import Credential, User
from gateway.store.db import open_database
from gateway.store.importexport import export_users_file, import_users_file
from gateway.store.rules import load_snapshot
from gateway.store.users import UserStore
from tests.access.rules import MONDAY_10AM, engine, when


def test_the_permission_is_stored_and_true_by_default(users: UserStore) -> None:
    users.add_user(User("1001"))
    users.add_user(User("V1", schedule_activation=False))
    first, visitor = users.get_user("1001"), users.get_user("V1")
    assert first is not None and first.schedule_activation is True
    assert visitor is not None and visitor.schedule_activation is False


def test_a_grant_carries_its_users_permission(users: UserStore, db_path: Path) -> None:
    users.add_user(User("1001", cards=["0A0B"]))
    users.add_user(User("V1", cards=["0C0D"], schedule_activation=False))
    with closing(open_database(db_path)) as conn:
        rules = load_snapshot(conn)
    now = when(MONDAY_10AM)
    eng = engine(rules)
    for card, allowed in (("0A0B", True), ("0C0D", False)):
        decision = eng.decide(Credential("card", card, "r-in", now.wall), "front", now)
        assert decision.granted and decision.schedule_activation is allowed


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_files_carry_the_permission(users: UserStore, tmp_path: Path, suffix: str) -> None:
    users.add_user(User("V1", schedule_activation=False))
    path = tmp_path / f"users{suffix}"
    export_users_file(users, path)
    users.delete_user("V1")
    import_users_file(users, path)
    stored = users.get_user("V1")
    assert stored is not None and stored.schedule_activation is False


def test_a_file_without_the_column_gives_the_permission(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id\nV1\n")
    import_users_file(users, path)
    stored = users.get_user("V1")
    assert stored is not None and stored.schedule_activation is True
