"""The store: users, credentials, schedules, groups, holidays, technicians, engine state.

Every public write is one transaction and validates before it writes, so a refused call
leaves the database exactly as it was. PINs are stored as keyed hashes (`PinHasher`) and
never read back. The connection is shared by the event loop and executor threads, hence
`check_same_thread=False` and a lock around every call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace as dc_replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from gateway.model import ADMIN_LEVELS, CREDENTIAL_KINDS, AdminLevel, User
from gateway.store.connection import LockedConnection
from gateway.store.db import (
    multimap,
    open_database,
    sqlite_errors,
)
from gateway.store.errors import CredentialTaken, NotFoundError, StoreError, ValidationError
from gateway.store.index import RulesSnapshot
from gateway.store.profiles import (
    UserFilter,
    UserProfile,
    UserRecord,
    find_user_ids,
    read_profiles,
    read_totp_secret,
    write_profile,
    write_totp_secret,
)
from gateway.store.records import (
    AccessGroup,
    AccessRight,
    CredentialFlags,
    Department,
    ExportedUser,
    HolidayChange,
    Technician,
)
from gateway.store.rules import load_snapshot, read_rules_version
from gateway.store.schema import DAY_COLUMNS
from gateway.store.secrets import PinHasher, hash_password, verify_password
from gateway.store.totp import new_secret, seal, unseal
from gateway.store.validate import (
    MAX_NAME_LENGTH,
    canonical_card,
    check_doors,
    check_name,
    check_pin_hash,
    check_public_pins,
    check_record_id,
    check_text,
    normalise_patterns,
    parse_date,
    validate_user,
)

__all__ = ["NotFoundError", "Store", "StoreError", "ValidationError", "canonical_card"]

_USER_COLUMNS = (
    "user_id, first_name, last_name, other_name, active, expiry, admin_level, message, "
    "lockdown_override"
)
_CREDENTIAL_LABELS = {"card": "card", "qr": "QR code", "plate": "plate"}
_CREDENTIAL_FIELDS = {"card": "cards", "qr": "qr_codes", "plate": "plates", "pin": "pin"}
_BULK_FETCH = 200  # above this many users, one pass over every user beats one query each


@cache
def _dummy_password_hash() -> str:
    # Checked against when the username is unknown, so a wrong username takes as long as a
    # wrong password and the timing does not tell which technicians exist.
    return hash_password("no such technician")


class Store(LockedConnection):
    """The gateway database. Open with `Store.open`; close with `close()`."""

    def __init__(self, conn: sqlite3.Connection, hasher: PinHasher, path: Path) -> None:
        super().__init__(conn, path)
        self._hasher = hasher

    @classmethod
    def open(cls, db_path: Path, hasher: PinHasher) -> Store:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`."""
        return cls(open_database(db_path, check_same_thread=False), hasher, db_path)

    def rules_version(self) -> int:
        """The rules counter: it moves on every write to a rule table, by any process."""
        with self._reading() as conn:
            return read_rules_version(conn)

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes when another connection commits."""
        with self._lock, sqlite_errors(self._what):
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def load_snapshot(self) -> RulesSnapshot:
        """Every access rule as the engine's immutable, indexed snapshot."""
        with self._lock, sqlite_errors(self._what):
            return load_snapshot(self._conn)

    # -- users ----------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        """Store a new user; `ValidationError` if the id exists or a field is refused."""
        clean = validate_user(user)
        with self._writing() as conn:
            if _user_exists(conn, clean.user_id):
                raise ValidationError("user_id", f"user {clean.user_id} already exists")
            self._write_user(conn, clean)

    def update_user(self, user: User) -> None:
        """Replace an existing user's fields and credentials; `NotFoundError` if absent.

        `pin=None` keeps the current PIN when `has_pin` is set (a user read back from the
        store), and removes it otherwise.
        """
        clean = validate_user(user)
        with self._writing() as conn:
            if not _user_exists(conn, clean.user_id):
                raise NotFoundError("user", clean.user_id)
            self._write_user(conn, clean)

    def upsert_user(self, user: User) -> bool:
        """Add or replace a user; True when it was created."""
        clean = validate_user(user)
        with self._writing() as conn:
            created = not _user_exists(conn, clean.user_id)
            self._write_user(conn, clean)
        return created

    def import_users(
        self,
        users: Sequence[User],
        replace: bool = False,
        pin_hashes: Mapping[str, str] | None = None,
        flags: Mapping[str, CredentialFlags] | None = None,
    ) -> int:
        """Add or replace many users in one transaction: all of them, or none.

        `replace=True` also deletes every user not in `users`. `pin_hashes` maps a user id
        to an exported keyed PIN hash, used when that user's `pin` is None. `flags` maps a
        user id to which of their credentials are disabled; a user not in it keeps the
        stored flags (a credential new to them is enabled). A refusal is a
        `ValidationError` whose `index` is the position of the offending user.

        An import never grants or revokes the lockdown override: a stored user keeps
        theirs, a new one has none, whatever `users` say (only a SUPERADMIN grants it).
        """
        hashes = dict(pin_hashes or {})
        given_flags = dict(flags or {})
        clean = _validate_batch(users, hashes)
        with self._writing() as conn:
            overrides = {
                row[0] for row in conn.execute("SELECT user_id FROM users WHERE lockdown_override")
            }
            clean = [dc_replace(u, lockdown_override=u.user_id in overrides) for u in clean]
            for index, user in enumerate(clean):
                try:
                    uid = user.user_id
                    self._write_user(conn, user, hashes.get(uid), given_flags.get(uid))
                except ValidationError as exc:
                    exc.index = index
                    raise
            if replace:
                ids = json.dumps([user.user_id for user in clean])
                conn.execute(
                    "DELETE FROM users WHERE user_id NOT IN (SELECT value FROM json_each(?))",
                    (ids,),
                )
        return len(clean)

    def get_user(self, user_id: str) -> User | None:
        """The user, with `pin=None` and `has_pin` telling whether a PIN is set."""
        with self._reading() as conn:
            users = _fetch_users(conn, user_id)
        return users[0] if users else None

    def list_users(self) -> list[User]:
        """Every user, sorted by user id."""
        with self._reading() as conn:
            return _fetch_users(conn, None)

    def users_for_export(self) -> list[ExportedUser]:
        """Every user with their keyed PIN hash and enabled flags, for a lossless export.

        The hash is only usable by a device with the same device key; it never leaves
        the device except in an export file written by a technician.
        """
        with self._reading() as conn:
            users = _fetch_users(conn, None)
            hashes = dict(conn.execute("SELECT user_id, value FROM credentials WHERE kind = 'pin'"))
            disabled = _disabled_credentials(conn)
        return [
            ExportedUser(
                user,
                hashes.get(user.user_id),
                _export_flags(disabled.get(user.user_id, set()), hashes.get(user.user_id)),
            )
            for user in users
        ]

    def delete_user(self, user_id: str) -> bool:
        """Delete a user and their credentials; False if there was no such user."""
        with self._writing() as conn:
            return conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount > 0

    def count_users(self) -> int:
        """How many users are stored."""
        with self._reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def set_user_active(self, user_id: str, active: bool) -> None:
        """Activate or suspend a user (ACTAtek activateUser / deactivateUser)."""
        with self._writing() as conn:
            cursor = conn.execute(
                "UPDATE users SET active = ? WHERE user_id = ?", (int(active), user_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError("user", user_id)

    def _write_user(
        self,
        conn: sqlite3.Connection,
        user: User,
        pin_hash: str | None = None,
        flags: CredentialFlags | None = None,
    ) -> None:
        pin = self._resolve_pin_hash(conn, user, pin_hash)
        _check_references(conn, user)
        credentials = _credential_rows(user, pin)
        _check_credentials_free(conn, user.user_id, credentials)
        enabled = _enabled_flags(conn, user.user_id)
        if flags is not None:  # an import file that carries the flags is the authority
            enabled = {(k, v): int(flags.enabled(k, v)) for k, v in credentials}
        conn.execute(
            f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name, "
            "last_name = excluded.last_name, other_name = excluded.other_name, "
            "active = excluded.active, expiry = excluded.expiry, "
            "admin_level = excluded.admin_level, message = excluded.message, "
            "lockdown_override = excluded.lockdown_override",
            (
                user.user_id,
                user.first_name,
                user.last_name,
                user.other_name,
                int(user.active),
                user.expiry,
                user.admin_level,
                user.message,
                int(user.lockdown_override),
            ),
        )
        _replace_user_lists(conn, user)
        conn.execute("DELETE FROM credentials WHERE user_id = ?", (user.user_id,))
        conn.executemany(
            "INSERT INTO credentials (kind, value, user_id, enabled) VALUES (?, ?, ?, ?)",
            [(k, v, user.user_id, enabled.get((k, v), 1)) for k, v in credentials],
        )

    def _resolve_pin_hash(
        self, conn: sqlite3.Connection, user: User, pin_hash: str | None
    ) -> str | None:
        # A new clear PIN wins; then an imported hash; then "keep what is stored".
        if user.pin is not None:
            new = self._hasher.hash(user.pin)
        elif pin_hash is not None:
            new = pin_hash
        elif user.has_pin:
            row = conn.execute(
                "SELECT value FROM credentials WHERE user_id = ? AND kind = 'pin'",
                (user.user_id,),
            ).fetchone()
            return None if row is None else str(row[0])
        else:
            return None
        if conn.execute("SELECT 1 FROM public_pins WHERE pin_hash = ?", (new,)).fetchone():
            raise CredentialTaken(
                "pin", "this PIN is a public PIN of the device; choose another", "pin"
            )
        return new

    # -- public PINs ----------------------------------------------------------------------

    def set_public_pins(self, pins: list[str]) -> bool:
        """Replace the device's public PINs (at most 3, 4..8 digits each); True if they
        changed. The same PINs again write nothing, so readers have no rules to reload."""
        check_public_pins(pins)
        hashes = [self._hasher.hash(pin) for pin in pins]
        with self._writing() as conn:
            stored = {row[0] for row in conn.execute("SELECT pin_hash FROM public_pins")}
            if stored == set(hashes):
                return False
            marks = ", ".join("?" for _ in hashes)
            if (
                hashes
                and conn.execute(
                    f"SELECT 1 FROM credentials WHERE kind = 'pin' AND value IN ({marks})", hashes
                ).fetchone()
            ):
                raise ValidationError(
                    "public_pins", "a PIN in this list is in use as a private PIN; choose another"
                )
            conn.execute("DELETE FROM public_pins")
            conn.executemany(
                "INSERT INTO public_pins (slot, pin_hash) VALUES (?, ?)",
                list(enumerate(hashes, start=1)),
            )
        return True

    def count_public_pins(self) -> int:
        """How many public PINs are set (their values are never read back)."""
        with self._reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM public_pins").fetchone()[0])

    # -- departments ----------------------------------------------------------------------

    def add_department(self, id: int, name: str, description: str = "") -> None:
        """Create a department; `ValidationError` if the id is taken."""
        _check_department(id, name, description)
        with self._writing() as conn:
            if _exists(conn, "departments", id):
                raise ValidationError("id", f"department {id} already exists")
            conn.execute(
                "INSERT INTO departments (id, name, description) VALUES (?, ?, ?)",
                (id, name, description),
            )

    def update_department(self, id: int, name: str, description: str = "") -> None:
        """Rename / redescribe a department; `NotFoundError` if absent."""
        _check_department(id, name, description)
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
                    f"department {id} is used by access groups {_join(groups)}; "
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
        check_record_id("id", id)
        check_name("name", name)
        check_text("description", description, MAX_NAME_LENGTH * 4)
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
            if not _exists(conn, "departments", department_id):
                raise ValidationError("department_id", f"department {department_id} does not exist")
            _require_ids(conn, "access_rights", "rights", "access right", rights)
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
        valid, invalid = _split_dates(dates)
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
        valid, invalid = _split_dates(dates)
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

    # -- technicians ----------------------------------------------------------------------

    def set_technician_password(
        self,
        username: str,
        password: str,
        level: str = "SUPERADMIN",
        must_change: bool = False,
    ) -> None:
        """Create a technician or change their password, level and must-change flag.

        A disabled account stays disabled; its credential version moves either way."""
        _check_technician(username, password, level)
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
        if level not in ADMIN_LEVELS:
            raise ValidationError("level", f"must be one of {', '.join(ADMIN_LEVELS)}")
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

    # -- engine state ---------------------------------------------------------------------

    def save_engine_state(self, state: Mapping[str, object]) -> None:
        """Replace the engine's persisted state (anti-passback, counters...): JSON values."""
        rows = [(key, json.dumps(value, sort_keys=True)) for key, value in state.items()]
        with self._writing() as conn:
            conn.execute("DELETE FROM engine_state")
            conn.executemany("INSERT INTO engine_state (key, value) VALUES (?, ?)", rows)

    def load_engine_state(self) -> dict[str, object]:
        """The state last saved by `save_engine_state` ({} if none)."""
        with self._reading() as conn:
            rows = conn.execute("SELECT key, value FROM engine_state ORDER BY key").fetchall()
        return {key: json.loads(value) for key, value in rows}

    # -- ACTAtek users, access rights and groups (appended for the ACTAtek API) -----------

    def find_user_records(
        self, criteria: UserFilter | None = None, offset: int = 0, limit: int | None = None
    ) -> list[UserRecord]:
        """Users matching `criteria` (sorted by id, paged) with their ACTAtek extras."""
        with self._reading() as conn:
            ids = find_user_ids(conn, criteria or UserFilter(), offset, limit)
            return _user_records(conn, ids)

    def save_user_record(
        self,
        user_id: str,
        build: Callable[[UserRecord | None], UserRecord],
        mode: Literal["add", "update", "upsert"],
    ) -> UserRecord:
        """Write a user and their extras in one transaction: `build` gets the stored record
        (None if there is none) and returns the new one, so a partial update reads and
        writes under the same lock. "add" refuses an existing id, "update" a missing one.
        """
        with self._writing() as conn:
            found = _user_records(conn, [user_id])
            existing = found[0] if found else None
            if mode == "add" and existing is not None:
                raise ValidationError("user_id", f"user {user_id} already exists")
            if mode == "update" and existing is None:
                raise NotFoundError("user", user_id)
            user, profile = build(existing)
            clean = validate_user(user)
            if clean.user_id != user_id:
                raise ValidationError("user_id", "cannot be changed")
            self._write_user(conn, clean)
            write_profile(conn, clean.user_id, profile)
        return clean, profile

    def totp_secret(self, user_id: str) -> tuple[bytes, bool]:
        """The user's TOTP secret and whether it was just created (first request, or the
        stored one was sealed with another device key); `NotFoundError` without the user."""
        with self._writing() as conn:
            if not _user_exists(conn, user_id):
                raise NotFoundError("user", user_id)
            sealed = read_totp_secret(conn, user_id)
            secret = unseal(self._hasher, user_id, sealed) if sealed is not None else None
            if secret is not None:
                return secret, False
            secret = new_secret()
            write_totp_secret(conn, user_id, seal(self._hasher, user_id, secret))
        return secret, True

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


def _validate_batch(users: Sequence[User], pin_hashes: Mapping[str, str]) -> list[User]:
    clean: list[User] = []
    seen: set[str] = set()
    for index, user in enumerate(users):
        try:
            checked = validate_user(user)
            if checked.user_id in seen:
                raise ValidationError("user_id", f"user {checked.user_id} appears twice")
            if checked.pin is None and checked.user_id in pin_hashes:
                check_pin_hash(pin_hashes[checked.user_id])
        except ValidationError as exc:
            exc.index = index
            raise
        seen.add(checked.user_id)
        clean.append(checked)
    return clean


def _user_exists(conn: sqlite3.Connection, user_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return row is not None


def _exists(conn: sqlite3.Connection, table: str, id: int) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (id,)).fetchone() is not None


def _ids(conn: sqlite3.Connection, sql: str, arg: object) -> list[int]:
    return [int(row[0]) for row in conn.execute(sql, (arg,))]


def _join(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _require_ids(
    conn: sqlite3.Connection, table: str, field: str, label: str, ids: Iterable[int]
) -> None:
    missing = [i for i in ids if not _exists(conn, table, i)]
    if missing:
        raise ValidationError(field, f"{label} {_join(missing)} does not exist")


def _check_references(conn: sqlite3.Connection, user: User) -> None:
    _require_ids(conn, "departments", "departments", "department", user.departments)
    _require_ids(conn, "access_groups", "groups", "access group", user.groups)


def _credential_rows(user: User, pin_hash: str | None) -> list[tuple[str, str]]:
    rows = [("card", card) for card in user.cards]
    rows += [("qr", code) for code in user.qr_codes]
    rows += [("plate", plate) for plate in user.plates]
    if pin_hash is not None:
        rows.append(("pin", pin_hash))
    return rows


def _check_credentials_free(
    conn: sqlite3.Connection, user_id: str, credentials: list[tuple[str, str]]
) -> None:
    for kind, value in credentials:
        row = conn.execute(
            "SELECT user_id FROM credentials WHERE kind = ? AND value = ? AND user_id != ?",
            (kind, value, user_id),
        ).fetchone()
        if row is None:
            continue
        if kind == "pin":
            # Naming the owner would tell the caller someone else's PIN.
            raise CredentialTaken("pin", "this PIN is already in use by another user", kind)
        label = _CREDENTIAL_LABELS[kind]
        raise CredentialTaken(
            _CREDENTIAL_FIELDS[kind], f"{label} {value} is already assigned to user {row[0]}", kind
        )


def _disabled_credentials(conn: sqlite3.Connection) -> dict[str, set[tuple[str, str]]]:
    disabled: dict[str, set[tuple[str, str]]] = {}
    for user_id, kind, value in conn.execute(
        "SELECT user_id, kind, value FROM credentials WHERE enabled = 0"
    ):
        disabled.setdefault(user_id, set()).add((kind, value))
    return disabled


def _export_flags(disabled: set[tuple[str, str]], pin_hash: str | None) -> CredentialFlags:
    def values(kind: str) -> frozenset[str]:
        return frozenset(value for k, value in disabled if k == kind)

    return CredentialFlags(
        disabled_cards=values("card"),
        disabled_qr_codes=values("qr"),
        disabled_plates=values("plate"),
        pin_enabled=pin_hash is None or ("pin", pin_hash) not in disabled,
    )


def _enabled_flags(conn: sqlite3.Connection, user_id: str) -> dict[tuple[str, str], int]:
    # A credential disabled by the API stays disabled when the user is rewritten.
    rows = conn.execute(
        "SELECT kind, value, enabled FROM credentials WHERE user_id = ?", (user_id,)
    )
    return {(kind, value): int(enabled) for kind, value, enabled in rows}


def _replace_user_lists(conn: sqlite3.Connection, user: User) -> None:
    uid = user.user_id
    for table, column, values in (
        ("user_departments", "department_id", user.departments),
        ("user_groups", "group_id", user.groups),
        ("user_doors", "door", user.doors),
    ):
        conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (uid,))
        conn.executemany(
            f"INSERT INTO {table} (user_id, {column}, position) VALUES (?, ?, ?)",
            [(uid, value, pos) for pos, value in enumerate(values)],
        )


def _fetch_users(conn: sqlite3.Connection, user_id: str | None) -> list[User]:
    where, args = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
    lists = {
        name: multimap(conn, f"SELECT user_id, {col} FROM {table} {where} ORDER BY position", args)
        for name, table, col in (
            ("departments", "user_departments", "department_id"),
            ("groups", "user_groups", "group_id"),
            ("doors", "user_doors", "door"),
        )
    }
    creds: dict[str, dict[str, list[str]]] = {}
    for uid, kind, value in conn.execute(
        f"SELECT user_id, kind, value FROM credentials {where} ORDER BY id", args
    ):
        creds.setdefault(uid, {k: [] for k in CREDENTIAL_KINDS})[kind].append(value)
    rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users {where} ORDER BY user_id", args)
    return [_user_from_row(row, lists, creds) for row in rows]


def _user_from_row(
    row: Any,
    lists: Mapping[str, Mapping[str, list[Any]]],
    creds: Mapping[str, Mapping[str, list[str]]],
) -> User:
    uid, first, last, other, active, expiry, level, message, override = row
    mine = creds.get(uid, {})
    return User(
        user_id=uid,
        first_name=first,
        last_name=last,
        other_name=other,
        active=bool(active),
        expiry=expiry,
        admin_level=cast(AdminLevel, level),  # written only after validate_user checked it
        departments=list(lists["departments"].get(uid, [])),
        groups=list(lists["groups"].get(uid, [])),
        doors=list(lists["doors"].get(uid, [])),
        message=message,
        cards=list(mine.get("card", [])),
        qr_codes=list(mine.get("qr", [])),
        plates=list(mine.get("plate", [])),
        pin=None,
        has_pin=bool(mine.get("pin")),
        lockdown_override=bool(override),
    )


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


def _check_department(id: int, name: str, description: str) -> None:
    check_record_id("id", id)
    check_name("name", name)
    check_text("description", description, MAX_NAME_LENGTH * 4)


def _check_technician(username: str, password: str, level: str) -> None:
    if not username or len(username) > MAX_NAME_LENGTH:
        raise ValidationError("username", f"must be 1 to {MAX_NAME_LENGTH} characters")
    if not all(ch.isprintable() and not ch.isspace() for ch in username):
        raise ValidationError("username", "must be printable characters without spaces")
    if not password:
        raise ValidationError("password", "must not be empty")
    if level not in ADMIN_LEVELS:
        raise ValidationError("level", f"must be one of {', '.join(ADMIN_LEVELS)}")


def _split_dates(dates: Iterable[str | date]) -> tuple[list[date], list[str]]:
    valid: list[date] = []
    invalid: list[str] = []
    for value in dates:
        try:
            valid.append(parse_date(value))
        except ValidationError:
            invalid.append(str(value))
    return valid, invalid


def _user_records(conn: sqlite3.Connection, user_ids: list[str]) -> list[UserRecord]:
    """Users (in `user_ids` order, missing ones skipped) with their ACTAtek extras."""
    if len(user_ids) > _BULK_FETCH:
        by_id = {user.user_id: user for user in _fetch_users(conn, None)}
        profiles = read_profiles(conn, None)
    else:
        by_id = {uid: user for uid in user_ids for user in _fetch_users(conn, uid)}
        profiles = read_profiles(conn, user_ids)
    return [(by_id[uid], profiles.get(uid, UserProfile())) for uid in user_ids if uid in by_id]
