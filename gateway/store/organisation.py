"""The organisation store: departments, access rights (weekly schedules), access groups
and holidays: what users are sorted into and what their access follows.

Every public write is one transaction and validates before it writes, so a refused call
leaves the database exactly as it was. The built-in records 0 (General department,
Always right, General group) cannot be deleted, and a record still in use is not deleted
either: a user never silently ends up with no group.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from gateway.store.connection import LockedConnection, TableStore
from gateway.store.db import multimap
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.records import AccessGroup, AccessRight, Department, HolidayChange
from gateway.store.references import exists, join_ids, require_ids
from gateway.store.schema import DAY_COLUMNS
from gateway.store.validate import (
    check_doors,
    check_name,
    check_named_record,
    check_record_id,
    normalise_patterns,
    split_dates,
)

__all__ = ["OrganisationStore"]


class OrganisationStore(TableStore):
    """Departments, access rights, access groups, holidays. Built by `Stores.open`, or
    on its own by `OrganisationStore.open`."""

    @classmethod
    def open(cls, db_path: Path) -> OrganisationStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path))

    # -- departments ----------------------------------------------------------------------

    def add_department(self, id: int, name: str, description: str = "") -> None:
        """Create a department; `ValidationError` if the id is taken."""
        check_named_record(id, name, description)
        with self._writing() as conn:
            if exists(conn, "departments", id):
                raise ValidationError("id", f"department {id} already exists")
            conn.execute(
                "INSERT INTO departments (id, name, description) VALUES (?, ?, ?)",
                (id, name, description),
            )

    def update_department(self, id: int, name: str, description: str = "") -> None:
        """Rename / redescribe a department; `NotFoundError` if absent."""
        check_named_record(id, name, description)
        with self._writing() as conn:
            cursor = conn.execute(
                "UPDATE departments SET name = ?, description = ? WHERE id = ?",
                (name, description, id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError("department", id)

    def get_department(self, id: int) -> Department | None:
        """One department, or None."""
        return next((d for d in self.list_departments() if d.id == id), None)

    def list_departments(self) -> list[Department]:
        """Every department, by id."""
        with self._reading() as conn:
            rows = conn.execute("SELECT id, name, description FROM departments ORDER BY id")
            return [Department(*row) for row in rows]

    def delete_department(self, id: int) -> bool:
        """Delete a department; refused for 0 and while an access group belongs to it.

        Users only lose the membership; one left with no department falls back to 0.
        """
        if id == 0:
            raise ValidationError("id", "department 0 (General) cannot be deleted")
        with self._writing() as conn:
            groups = _ids(conn, "SELECT id FROM access_groups WHERE department_id = ?", id)
            if groups:
                raise ValidationError(
                    "id",
                    f"department {id} is used by access groups {join_ids(groups)}; "
                    "move them to another department first",
                )
            members = [
                row[0]
                for row in conn.execute(
                    "SELECT user_id FROM user_departments WHERE department_id = ?", (id,)
                )
            ]
            deleted = conn.execute("DELETE FROM departments WHERE id = ?", (id,)).rowcount > 0
            _default_orphan_departments(conn, members)
        return deleted

    # -- access rights --------------------------------------------------------------------

    def put_access_right(
        self, id: int, name: str, patterns: Mapping[str, str], description: str = ""
    ) -> None:
        """Create or replace an access right; a day left out of `patterns` has no access."""
        check_named_record(id, name, description)
        days = normalise_patterns(patterns)
        values = [days.get(column.upper()) for column in DAY_COLUMNS]
        columns = ", ".join(DAY_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in DAY_COLUMNS)
        with self._writing() as conn:
            conn.execute(
                f"INSERT INTO access_rights (id, name, description, {columns}) "
                f"VALUES (?, ?, ?, {', '.join('?' for _ in DAY_COLUMNS)}) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                f"description = excluded.description, {updates}",
                (id, name, description, *values),
            )

    def get_access_right(self, id: int) -> AccessRight | None:
        """One access right, or None."""
        return next((r for r in self.list_access_rights() if r.id == id), None)

    def list_access_rights(self) -> list[AccessRight]:
        """Every access right, by id."""
        columns = ", ".join(DAY_COLUMNS)
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT id, name, description, {columns} FROM access_rights ORDER BY id"
            ).fetchall()
        return [_access_right(row) for row in rows]

    def delete_access_right(self, id: int) -> bool:
        """Delete an access right (not 0); groups that had it simply lose it."""
        if id == 0:
            raise ValidationError("id", "access right 0 (Always) cannot be deleted")
        with self._writing() as conn:
            return conn.execute("DELETE FROM access_rights WHERE id = ?", (id,)).rowcount > 0

    # -- access groups --------------------------------------------------------------------

    def put_access_group(
        self,
        id: int,
        name: str,
        department_id: int,
        rights: Sequence[int],
        doors: Sequence[str] | None = None,
    ) -> None:
        """Create or replace an access group; `doors=None` means every door."""
        check_record_id("id", id)
        check_name("name", name)
        check_record_id("department_id", department_id)
        for right in rights:
            check_record_id("rights", right)
        door_list = check_doors(None if doors is None else list(doors))
        with self._writing() as conn:
            if not exists(conn, "departments", department_id):
                raise ValidationError("department_id", f"department {department_id} does not exist")
            require_ids(conn, "access_rights", "rights", "access right", rights)
            conn.execute(
                "INSERT INTO access_groups (id, name, department_id, doors) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "department_id = excluded.department_id, doors = excluded.doors",
                (id, name, department_id, None if door_list is None else json.dumps(door_list)),
            )
            conn.execute("DELETE FROM group_rights WHERE group_id = ?", (id,))
            conn.executemany(
                "INSERT INTO group_rights (group_id, right_id) VALUES (?, ?)",
                [(id, right) for right in sorted(set(rights))],
            )

    def get_access_group(self, id: int) -> AccessGroup | None:
        """One access group, or None."""
        return next((g for g in self.list_access_groups() if g.id == id), None)

    def list_access_groups(self) -> list[AccessGroup]:
        """Every access group, by id."""
        with self._reading() as conn:
            rights = multimap(conn, "SELECT group_id, right_id FROM group_rights ORDER BY right_id")
            rows = conn.execute(
                "SELECT id, name, department_id, doors FROM access_groups ORDER BY id"
            ).fetchall()
        return [
            AccessGroup(
                id=gid,
                name=name,
                department_id=dept,
                rights=tuple(rights.get(gid, ())),
                doors=None if doors is None else tuple(json.loads(doors)),
            )
            for gid, name, dept, doors in rows
        ]

    def delete_access_group(self, id: int) -> bool:
        """Delete an access group; refused for 0 and while users still belong to it.

        Refusing (rather than dropping the memberships) keeps a user from silently ending
        up in no group at all.
        """
        if id == 0:
            raise ValidationError("id", "access group 0 (General) cannot be deleted")
        with self._writing() as conn:
            members = conn.execute(
                "SELECT COUNT(*) FROM user_groups WHERE group_id = ?", (id,)
            ).fetchone()[0]
            if members:
                raise ValidationError(
                    "id",
                    f"access group {id} still has {members} user(s); "
                    "move them to another group first",
                )
            return conn.execute("DELETE FROM access_groups WHERE id = ?", (id,)).rowcount > 0

    # -- holidays -------------------------------------------------------------------------

    def add_holidays(self, dates: Iterable[str | date]) -> HolidayChange:
        """Add holidays; unparseable inputs are reported back, the rest are added."""
        valid, invalid = split_dates(dates)
        with self._writing() as conn:
            added = [
                day
                for day in valid
                if conn.execute(
                    "INSERT OR IGNORE INTO holidays (date) VALUES (?)", (day.isoformat(),)
                ).rowcount
            ]
        return HolidayChange(changed=tuple(added), invalid=tuple(invalid))

    def remove_holidays(self, dates: Iterable[str | date]) -> HolidayChange:
        """Remove holidays; inputs that are unparseable or not holidays are reported back."""
        valid, invalid = split_dates(dates)
        removed: list[date] = []
        with self._writing() as conn:
            for day in valid:
                cursor = conn.execute("DELETE FROM holidays WHERE date = ?", (day.isoformat(),))
                if cursor.rowcount:
                    removed.append(day)
                else:
                    invalid.append(day.isoformat())
        return HolidayChange(changed=tuple(removed), invalid=tuple(invalid))

    def list_holidays(self) -> list[date]:
        """Every holiday, in date order."""
        with self._reading() as conn:
            rows = conn.execute("SELECT date FROM holidays ORDER BY date").fetchall()
        return [date.fromisoformat(row[0]) for row in rows]

    # -- new records with the next free id (ACTAtek add without an id) -----------------

    def create_access_right(
        self, id: int | None, name: str, patterns: Mapping[str, str], description: str = ""
    ) -> int:
        """Add an access right and return its id: an existing id is refused, None takes
        the next free one."""
        with self._lock:  # reentrant: the check and the write see the same table
            new_id = self._next_id("access_rights") if id is None else id
            if id is not None and self.get_access_right(id) is not None:
                raise ValidationError("id", f"access right {id} already exists")
            self.put_access_right(new_id, name, patterns, description)
        return new_id

    def create_access_group(
        self,
        id: int | None,
        name: str | None,
        department_id: int,
        rights: Sequence[int],
        doors: Sequence[str] | None = None,
    ) -> int:
        """Add an access group and return its id: an existing id is refused, None takes
        the next free one; no name gives "Group <id>"."""
        with self._lock:
            new_id = self._next_id("access_groups") if id is None else id
            if id is not None and self.get_access_group(id) is not None:
                raise ValidationError("id", f"access group {id} already exists")
            self.put_access_group(new_id, name or f"Group {new_id}", department_id, rights, doors)
        return new_id

    def _next_id(self, table: str) -> int:
        with self._reading() as conn:
            return int(conn.execute(f"SELECT COALESCE(MAX(id), -1) + 1 FROM {table}").fetchone()[0])


# -- helpers (no state) -----------------------------------------------------------------


def _ids(conn: sqlite3.Connection, sql: str, arg: object) -> list[int]:
    return [int(row[0]) for row in conn.execute(sql, (arg,))]


def _default_orphan_departments(conn: sqlite3.Connection, user_ids: list[str]) -> None:
    for uid in user_ids:
        left = conn.execute("SELECT 1 FROM user_departments WHERE user_id = ?", (uid,)).fetchone()
        if left is None:
            conn.execute(
                "INSERT INTO user_departments (user_id, department_id, position) VALUES (?, 0, 0)",
                (uid,),
            )


def _access_right(row: Any) -> AccessRight:
    patterns = {
        column.upper(): pattern
        for column, pattern in zip(DAY_COLUMNS, row[3:], strict=True)
        if pattern is not None
    }
    return AccessRight(id=row[0], name=row[1], description=row[2], patterns=patterns)
