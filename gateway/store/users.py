"""The user store: users, their credentials and ACTAtek extras, and the public PINs.

Every public write is one transaction and validates before it writes, so a refused call
leaves the database exactly as it was. PINs are stored as keyed hashes (`PinHasher`) and
never read back; a PIN is unique across users and the device's public PINs, so both live
here. Departments and groups a user names must exist (`gateway.store.organisation`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any, Literal, cast

from gateway.access.pins import PinHasher
from gateway.access.totp import new_secret, seal, unseal
from gateway.model import CREDENTIAL_KINDS, AdminLevel, User
from gateway.store.connection import LockedConnection, TableStore
from gateway.store.db import multimap
from gateway.store.errors import CredentialTaken, NotFoundError, ValidationError
from gateway.store.profiles import (
    find_user_ids,
    read_profiles,
    read_totp_secret,
    write_profile,
    write_totp_secret,
)
from gateway.store.records import (
    CredentialFlags,
    ExportedUser,
    UserFilter,
    UserProfile,
    UserRecord,
)
from gateway.store.references import require_ids
from gateway.store.validate import check_pin_hash, check_public_pins, validate_user

__all__ = ["ImportRow", "UserImport", "UserStore"]

_USER_COLUMNS = (
    "user_id, first_name, last_name, other_name, active, expiry, admin_level, message, "
    "lockdown_override"
)
_CREDENTIAL_LABELS = {"card": "card", "qr": "QR code", "plate": "plate"}
_CREDENTIAL_FIELDS = {"card": "cards", "qr": "qr_codes", "plate": "plates", "pin": "pin"}
_BULK_FETCH = 200  # above this many users, one pass over every user beats one query each


class UserStore(TableStore):
    """Users and credentials. Built by `Stores.open`, or on its own by `UserStore.open`."""

    def __init__(self, connection: LockedConnection, hasher: PinHasher) -> None:
        super().__init__(connection)
        self._hasher = hasher

    @classmethod
    def open(cls, db_path: Path, hasher: PinHasher) -> UserStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path), hasher)

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

    @contextmanager
    def importing(self, replace: bool = False) -> Iterator[UserImport]:
        """One transaction for an import written batch by batch: all of it, or none.

        Write batches through the yielded `UserImport`; leaving the block normally commits
        (and with `replace=True` deletes every user no batch named), an exception rolls
        every batch back. Same rules as `import_users`.
        """
        with self._writing() as conn:
            overrides = {
                row[0] for row in conn.execute("SELECT user_id FROM users WHERE lockdown_override")
            }
            session = UserImport(self, conn, frozenset(overrides))
            yield session
            if replace:
                session.delete_users_not_written()

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

    # -- ACTAtek users: the record with its extras, TOTP secrets -----------------------

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


@dataclass(frozen=True)
class ImportRow:
    """One user of an import: the user, its exported PIN hash, its credentials' flags."""

    user: User
    pin_hash: str | None = None
    flags: CredentialFlags | None = None


class UserImport:
    """An import in progress inside `UserStore.importing`'s transaction.

    Keeps only the ids written (for `replace`), never the rows: memory stays bounded by
    one batch. A credential taken by an earlier batch is caught by the database itself,
    since earlier batches are already written in this transaction.
    """

    def __init__(
        self, store: UserStore, conn: sqlite3.Connection, overrides: frozenset[str]
    ) -> None:
        self._store = store
        self._conn = conn
        self._overrides = overrides
        self._written: set[str] = set()

    def write(self, rows: Sequence[ImportRow]) -> None:
        """Add or replace these users; `ValidationError` with `index` in `rows` if refused."""
        for index, row in enumerate(rows):
            try:
                clean = validate_user(row.user)
                if clean.pin is None and row.pin_hash is not None:
                    check_pin_hash(row.pin_hash)
                # An import never grants or revokes the lockdown override.
                override = clean.user_id in self._overrides
                if clean.lockdown_override != override:  # a copy only when it differs
                    clean = dc_replace(clean, lockdown_override=override)
                self._store._write_user(self._conn, clean, row.pin_hash, row.flags)
            except ValidationError as exc:
                exc.index = index
                raise
            self._written.add(clean.user_id)

    def delete_users_not_written(self) -> None:
        """Delete every stored user this import did not write."""
        self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_kept (user_id TEXT PRIMARY KEY)")
        self._conn.execute("DELETE FROM import_kept")
        self._conn.executemany(
            "INSERT INTO import_kept (user_id) VALUES (?)", ((uid,) for uid in self._written)
        )
        self._conn.execute(
            "DELETE FROM users WHERE user_id NOT IN (SELECT user_id FROM import_kept)"
        )
        self._conn.execute("DELETE FROM import_kept")


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


def _check_references(conn: sqlite3.Connection, user: User) -> None:
    require_ids(conn, "departments", "departments", "department", user.departments)
    require_ids(conn, "access_groups", "groups", "access group", user.groups)


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


def _user_records(conn: sqlite3.Connection, user_ids: list[str]) -> list[UserRecord]:
    """Users (in `user_ids` order, missing ones skipped) with their ACTAtek extras."""
    if len(user_ids) > _BULK_FETCH:
        by_id = {user.user_id: user for user in _fetch_users(conn, None)}
        profiles = read_profiles(conn, None)
    else:
        by_id = {uid: user for uid in user_ids for user in _fetch_users(conn, uid)}
        profiles = read_profiles(conn, user_ids)
    return [(by_id[uid], profiles.get(uid, UserProfile())) for uid in user_ids if uid in by_id]
