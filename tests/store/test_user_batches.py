"""`UserStore.saving_records`: many ACTAtek record saves in one transaction, each
undone alone when refused (the ACTAtek user arrays write their chunks with it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.model import User
from gateway.store.errors import NotFoundError, StoreError, ValidationError
from gateway.store.records import UserProfile
from gateway.store.users import UserStore


def test_a_refused_save_in_a_batch_is_undone_alone_and_the_others_are_kept(
    users: UserStore,
) -> None:
    def plain(user: User) -> Callable[[Any], Any]:
        return lambda existing: (user, UserProfile())

    users.add_user(User("taken", cards=["0A0A0A"]))
    before = users.find_user_records()
    with users.saving_records() as batch:
        batch.save("B1", plain(User("B1", cards=["0B0B01"])), "add")
        with pytest.raises(ValidationError, match="already assigned to user taken"):
            # It wrote the user row before its card was refused: that row goes too.
            batch.save("B2", plain(User("B2", first_name="Half", cards=["0A0A0A"])), "add")
        with pytest.raises(NotFoundError):
            batch.save("nobody", plain(User("nobody")), "update")
        batch.save("B3", plain(User("B3", pin="246813")), "add")
        # B1 exists only in this batch so far: a later save sees an earlier one.
        batch.save("B1", plain(User("B1", first_name="Again", cards=["0B0B01"])), "update")
    assert [r[0].user_id for r in users.find_user_records()] == ["B1", "B3", "taken"]
    b1 = users.get_user("B1")
    assert b1 is not None and b1.first_name == "Again" and b1.cards == ["0B0B01"]
    assert users.get_user("B2") is None and users.get_user("taken").cards == ["0A0A0A"]  # type: ignore[union-attr]
    assert before[0] in users.find_user_records()


def test_a_fault_in_a_batch_rolls_back_every_save_of_it(users: UserStore) -> None:
    with pytest.raises(StoreError), users.saving_records() as batch:
        batch.save("B1", lambda existing: (User("B1"), UserProfile()), "add")
        with users.connection.raw() as conn:
            conn.execute("SELECT * FROM no_such_table")  # a fault, not a refusal
    assert users.get_user("B1") is None
