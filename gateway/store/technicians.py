"""The technician store: the accounts that log in to the APIs and the CLI.

Passwords are stored as slow salted hashes (`gateway.store.secrets`) and only verified,
never read back. Every change of password, level or state moves the account's credential
version, which ends its open sessions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gateway.store.connection import LockedConnection, TableStore
from gateway.store.records import Technician
from gateway.store.secrets import hash_password, verify_password
from gateway.store.validate import check_admin_level, check_technician

__all__ = ["TechnicianStore"]


@cache
def _dummy_password_hash() -> str:
    # Checked against when the username is unknown, so a wrong username takes as long as a
    # wrong password and the timing does not tell which technicians exist.
    return hash_password("no such technician")


class TechnicianStore(TableStore):
    """Technician accounts. Built by `Stores.open`, or on its own by
    `TechnicianStore.open` (the CLI, a login checked on a worker thread)."""

    @classmethod
    def open(cls, db_path: Path) -> TechnicianStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path))

    def set_technician_password(
        self,
        username: str,
        password: str,
        level: str = "SUPERADMIN",
        must_change: bool = False,
    ) -> None:
        """Create a technician or change their password, level and must-change flag.

        A disabled account stays disabled; its credential version moves either way."""
        check_technician(username, password, level)
        password_hash = hash_password(password)  # slow on purpose: outside the lock
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO technicians (username, password_hash, level, must_change) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
                "password_hash = excluded.password_hash, level = excluded.level, "
                "must_change = excluded.must_change, "
                "credential_version = technicians.credential_version + 1",
                (username, password_hash, level, int(must_change)),
            )

    def set_technician_level(self, username: str, level: str) -> bool:
        """Change an existing technician's level (their sessions end); False if none."""
        check_admin_level(level)
        return self._change_technician(
            "UPDATE technicians SET level = ?, credential_version = credential_version + 1 "
            "WHERE username = ?",
            (level, username),
        )

    def set_technician_disabled(self, username: str, disabled: bool) -> bool:
        """Disable (no login, sessions end) or enable a technician; False if none."""
        return self._change_technician(
            "UPDATE technicians SET disabled = ?, credential_version = credential_version + 1 "
            "WHERE username = ?",
            (int(disabled), username),
        )

    def _change_technician(self, sql: str, params: tuple[object, ...]) -> bool:
        with self._writing() as conn:
            return conn.execute(sql, params).rowcount > 0

    def verify_technician(self, username: str, password: str) -> Technician | None:
        """The technician if `password` is theirs and the account is enabled; None
        otherwise (same cost either way, so the answer time tells nothing)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT password_hash, level, must_change, disabled, credential_version "
                "FROM technicians WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            verify_password(password, _dummy_password_hash())
            return None
        if not verify_password(password, row[0]) or row[3]:
            return None
        return Technician(username, row[1], bool(row[2]), bool(row[3]), row[4])

    def list_technicians(self) -> list[Technician]:
        """Every technician, by username."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT username, level, must_change, disabled, credential_version "
                "FROM technicians ORDER BY username"
            ).fetchall()
        return [Technician(u, lvl, bool(m), bool(d), v) for u, lvl, m, d, v in rows]

    def technician_exists(self, username: str) -> bool:
        """Whether a technician of that name exists (enabled or not)."""
        with self._reading() as conn:
            return (
                conn.execute("SELECT 1 FROM technicians WHERE username = ?", (username,)).fetchone()
                is not None
            )

    def technician_credential_version(self, username: str) -> int | None:
        """The credential version of an enabled technician; None when there is no such
        account or it is disabled (then no session of it may live)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT credential_version FROM technicians WHERE username = ? AND disabled = 0",
                (username,),
            ).fetchone()
        return None if row is None else int(row[0])

    def delete_technician(self, username: str) -> bool:
        """Delete a technician; False if there was none."""
        with self._writing() as conn:
            cursor = conn.execute("DELETE FROM technicians WHERE username = ?", (username,))
            return cursor.rowcount > 0
