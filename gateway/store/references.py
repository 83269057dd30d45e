"""Checks of the references between tables, inside a store's transaction: a user's
departments and groups, a group's department and rights."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from gateway.store.errors import ValidationError


def exists(conn: sqlite3.Connection, table: str, id: int) -> bool:
    """Whether `table` has a row with this `id`."""
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (id,)).fetchone() is not None


def join_ids(ids: Iterable[int]) -> str:
    """ "1, 2, 3": ids as a message lists them."""
    return ", ".join(str(i) for i in ids)


def require_ids(
    conn: sqlite3.Connection, table: str, field: str, label: str, ids: Iterable[int]
) -> None:
    """`ValidationError(field, ...)` naming the ids that `table` does not have."""
    missing = [i for i in ids if not exists(conn, table, i)]
    if missing:
        raise ValidationError(field, f"{label} {join_ids(missing)} does not exist")
