"""The user store: users, their credentials and ACTAtek extras, and the public PINs.

Every public write is one transaction and validates before it writes, so a refused call
leaves the database exactly as it was (`saving_records` writes many ACTAtek records in one
transaction, each in its own SAVEPOINT: a refused one is undone alone). PINs are stored as
keyed hashes (`PinHasher`) and never read back; a PIN is unique across users and the
device's public PINs, so both live here. Departments and groups a user names must exist
(`gateway.store.organisation`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any, Literal, cast

from gateway.access.pins import PinHasher
from gateway.access.totp import new_secret, seal, unseal
from gateway.model import CREDENTIAL_KINDS, AdminLevel, GrantActions, PlateWindow, User
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
from gateway.store.references import join_ids, require_ids
from gateway.store.rules import changes_logged_as_one
from gateway.store.validate import (
    AKUVOX_PIN_LENGTHS,
    PinLengths,
    check_pin_hash,
    check_public_pins,
    validate_user,
)
from gateway.urls import MASK, masked_url

__all__ = [
    "ImportRow",
    "PreparedBatch",
    "RecordBatch",
    "UserImport",
    "UserStore",
    "check_import_row",
]

_USER_COLUMNS = (
    "user_id, first_name, last_name, other_name, active, expiry, admin_level, message, "
    "lockdown_override, schedule_activation"
)
_CREDENTIAL_LABELS = {"card": "card", "qr": "QR code", "plate": "plate"}
_CREDENTIAL_FIELDS = {"card": "cards", "qr": "qr_codes", "plate": "plates", "pin": "pin"}
# A user's ordered lists: table, column, User field.
_USER_LISTS = (
    ("user_departments", "department_id", "departments"),
    ("user_groups", "group_id", "groups"),
    ("user_doors", "door", "doors"),
    ("user_floors", "floor", "floors"),
    ("user_web_relays", "url", "web_relay_urls"),
)
_BULK_FETCH = 200  # above this many users, one pass over every user beats one query each
IMPORT_BATCH = 5_000  # users checked and written per step of `import_users`
# An import whose first batch holds this many users is logged as one change (the daemon
# loads its rules in full once): below it, each user is logged and applied as a delta.
BULK_IMPORT_USERS = 5_000
# Page cache during an import (SQLite's default is 2 MiB): bounds its memory use too.
IMPORT_CACHE_KIB = 128 * 1024


class UserStore(TableStore):
    """Users and credentials. Built by `Stores.open`, or on its own by `UserStore.open`."""

    def __init__(
        self, connection: LockedConnection, hasher: PinHasher, pins: PinLengths = AKUVOX_PIN_LENGTHS
    ) -> None:
        super().__init__(connection)
        self._hasher = hasher
        self._pins = pins

    @classmethod
    def open(
        cls, db_path: Path, hasher: PinHasher, pins: PinLengths = AKUVOX_PIN_LENGTHS
    ) -> UserStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path), hasher, pins)

    def check_pin_length(self, user: User) -> None:
        """The PIN being set (if any) has as many digits as this gateway's PIN settings
        allow; `ValidationError` on "pin" (that never echoes it) if not."""
        if user.pin is not None:
            low, high = self._pins.private
            if not low <= len(user.pin) <= high:
                raise ValidationError(
                    "pin", f"must be {low} to {high} digits long (this gateway's PIN settings)"
                )

    def _validated(self, user: User) -> User:
        clean = validate_user(user)
        self.check_pin_length(clean)
        return clean

    # -- users ----------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        """Store a new user; `ValidationError` if the id exists or a field is refused."""
        clean = self._validated(user)
        with self._writing() as conn:
            if _user_exists(conn, clean.user_id):
                raise ValidationError("user_id", f"user {clean.user_id} already exists")
            self._write_user(conn, clean)

    def update_user(self, user: User) -> None:
        """Replace an existing user's fields and credentials; `NotFoundError` if absent.

        `pin=None` keeps the current PIN when `has_pin` is set (a user read back from the
        store), and removes it otherwise.
        """
        clean = self._validated(user)
        with self._writing() as conn:
            if not _user_exists(conn, clean.user_id):
                raise NotFoundError("user", clean.user_id)
            self._write_user(conn, clean)

    def upsert_user(self, user: User) -> bool:
        """Add or replace a user; True when it was created."""
        clean = self._validated(user)
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
        rows = _checked_rows(users, pin_hashes or {}, flags or {})
        with self.importing(replace) as session:
            for start in range(0, len(rows), IMPORT_BATCH):
                try:
                    session.write(rows[start : start + IMPORT_BATCH])
                except ValidationError as exc:
                    exc.index = None if exc.index is None else start + exc.index
                    raise
        return len(rows)

    @contextmanager
    def importing(self, replace: bool = False) -> Iterator[UserImport]:
        """One transaction for an import written batch by batch: all of it, or none.

        Write batches through the yielded `UserImport`; leaving the block normally commits
        (and with `replace=True` deletes every user no batch named), an exception rolls
        every batch back. Same rules as `import_users`.
        """
        with self._writing() as conn, _import_cache(conn), ExitStack() as bulk:
            overrides = {
                row[0] for row in conn.execute("SELECT user_id FROM users WHERE lockdown_override")
            }
            session = UserImport(self, conn, frozenset(overrides), replace, bulk)
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

    def grant_actions(self, user_id: str) -> GrantActions:
        """The user's floors and web relay URLs as stored (the URLs in full: for the
        sender only); nothing for an unknown user."""
        with self._reading() as conn:
            floors = conn.execute(
                "SELECT floor FROM user_floors WHERE user_id = ? ORDER BY position", (user_id,)
            ).fetchall()
            urls = conn.execute(
                "SELECT url FROM user_web_relays WHERE user_id = ? ORDER BY position", (user_id,)
            ).fetchall()
        return GrantActions(tuple(row[0] for row in floors), tuple(row[0] for row in urls))

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
        stored: User | None = None,
    ) -> None:
        # `stored`: the user as read in this transaction, when the caller has it.
        user = _unmasked_web_relays(conn, user)
        pin = self._resolve_pin_hash(conn, user, pin_hash)
        _check_references(conn, user)
        credentials = _credential_rows(user, pin)
        _check_credentials_free(conn, user.user_id, credentials)
        enabled = _enabled_flags(conn, user.user_id)
        if flags is not None:  # an import file that carries the flags is the authority
            enabled = {(k, v): int(flags.enabled(k, v)) for k, v in credentials}
        conn.execute(
            f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name, "
            "last_name = excluded.last_name, other_name = excluded.other_name, "
            "active = excluded.active, expiry = excluded.expiry, "
            "admin_level = excluded.admin_level, message = excluded.message, "
            "lockdown_override = excluded.lockdown_override, "
            "schedule_activation = excluded.schedule_activation",
            _user_row(user),
        )
        _replace_user_lists(conn, user, stored)
        conn.execute("DELETE FROM credentials WHERE user_id = ?", (user.user_id,))
        conn.executemany(
            "INSERT INTO credentials (kind, value, user_id, enabled) VALUES (?, ?, ?, ?)",
            [(k, v, user.user_id, enabled.get((k, v), 1)) for k, v in credentials],
        )
        _write_plate_windows(conn, [user])

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
        check_public_pins(pins, self._pins.public)
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
            return self._save_record(conn, user_id, build, mode)

    @contextmanager
    def saving_records(self) -> Iterator[RecordBatch]:
        """One transaction for many `save_user_record` calls (`RecordBatch.save`).

        Each save is all-or-nothing on its own: a refused one is rolled back alone and the
        others stay. Leaving the block normally commits every save that went through; an
        exception out of it (a database fault) rolls them all back. The connection stays
        locked for the whole block, so keep it to a bounded number of saves.
        """
        with self._writing() as conn:
            yield RecordBatch(self, conn)

    def _save_record(
        self,
        conn: sqlite3.Connection,
        user_id: str,
        build: Callable[[UserRecord | None], UserRecord],
        mode: Literal["add", "update", "upsert"],
    ) -> UserRecord:
        # One cheap query first: most users an array adds do not exist yet.
        found = _user_records(conn, [user_id]) if _user_exists(conn, user_id) else []
        existing = found[0] if found else None
        if mode == "add" and existing is not None:
            raise ValidationError("user_id", f"user {user_id} already exists")
        if mode == "update" and existing is None:
            raise NotFoundError("user", user_id)
        user, profile = build(existing)
        clean = self._validated(user)
        if clean.user_id != user_id:
            raise ValidationError("user_id", "cannot be changed")
        self._write_user(conn, clean, stored=None if existing is None else existing[0])
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


class RecordBatch:
    """Saves inside `UserStore.saving_records`'s transaction, each in its own SAVEPOINT."""

    def __init__(self, store: UserStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def save(
        self,
        user_id: str,
        build: Callable[[UserRecord | None], UserRecord],
        mode: Literal["add", "update", "upsert"],
    ) -> UserRecord:
        """As `UserStore.save_user_record`; whatever it raises, nothing of this save
        stays, and the saves before it are kept."""
        self._conn.execute("SAVEPOINT user_record")
        try:
            record = self._store._save_record(self._conn, user_id, build, mode)
        except BaseException:
            # A fault may already have ended the whole transaction: nothing left to undo.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK TO user_record")
                self._conn.execute("RELEASE user_record")
            raise
        self._conn.execute("RELEASE user_record")
        return record


@dataclass(frozen=True)
class ImportRow:
    """One user of an import, checked on its own (`check_import_row`): the user as
    `validate_user` returned it, its exported PIN hash, its credentials' flags."""

    user: User
    pin_hash: str | None = None
    flags: CredentialFlags | None = None


def check_import_row(
    user: User, pin_hash: str | None = None, flags: CredentialFlags | None = None
) -> ImportRow:
    """The row's checks that need no database (`ValidationError` if refused): an
    import checks each row once, as it reads it, and the batch against the database."""
    clean = validate_user(user)
    if clean.pin is None and pin_hash is not None:
        check_pin_hash(pin_hash)
    return ImportRow(clean, pin_hash, flags)


Credential = tuple[str, str]  # (kind, value) as stored: a PIN as its keyed hash


@dataclass(frozen=True)
class PreparedBatch:
    """One import batch made ready for SQLite (`UserImport.prepare`): the checked users,
    the keyed hash of each new PIN, each user's credentials, and every table's rows as
    one JSON array (column order), written as if each user were new."""

    rows: Sequence[ImportRow]
    users: list[User]
    pins: list[str | None]
    credentials: list[list[Credential]]
    ids: str
    user_rows: str
    list_rows: list[tuple[str, str, str]]  # (table, column, JSON rows) of non-empty lists
    credential_rows: str


_NONE_DISABLED: frozenset[Credential] = frozenset()


class _Refused(Exception):
    """A batch written as new users has a row to refuse: the row checks name it."""


class UserImport:
    """An import in progress inside `UserStore.importing`'s transaction.

    Each batch is written with one statement per table (and, when it holds a stored
    user, checked first with a few set queries), never a query per user: that is what
    makes a million users take a minute, not an hour. The outcome is the same as writing
    the rows one at a time in order (the first refused row is the one reported, a
    credential is free once an earlier row gave it up). `write` is `prepare` (no database:
    any thread) then `write_prepared`. Never keeps the rows, and the ids written (for
    `replace`) only in SQLite's temporary store: memory stays bounded by a batch or two.
    """

    def __init__(
        self,
        store: UserStore,
        conn: sqlite3.Connection,
        overrides: frozenset[str],
        replace: bool = False,
        bulk: ExitStack | None = None,
    ) -> None:
        self._store = store
        self._conn = conn
        self._overrides = overrides
        self._replace = replace
        self._bulk = bulk  # where a large import's single change-log entry is opened
        self._batches = 0
        # Nothing else writes while the import's transaction is open: read once.
        self._public_pins = {row[0] for row in conn.execute("SELECT pin_hash FROM public_pins")}
        if replace:  # the ids written, in SQLite's temporary store rather than in memory
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_kept (user_id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM import_kept")

    def write(self, rows: Sequence[ImportRow]) -> None:
        """Add or replace these users; `ValidationError` with `index` in `rows` if refused.
        A refused batch may be partly written: the import ends there, and leaving
        `UserStore.importing` with the error rolls every batch back. Each row is as
        `check_import_row` made it: its own checks are done, what is left are those
        against the database."""
        self.write_prepared(self.prepare(rows))

    def prepare(self, rows: Sequence[ImportRow]) -> PreparedBatch:
        """The part of `write` that needs no database (PIN hashes, the rows for SQLite as
        JSON), for any thread: `write_prepared` then only runs the statements, so an import
        can prepare the next batch while SQLite writes this one. `ValidationError` (with
        `index`) for a user id twice in `rows`, or a PIN of a length this gateway refuses."""
        for index, row in enumerate(rows):
            try:
                self._store.check_pin_length(row.user)
            except ValidationError as exc:
                exc.index = index
                raise
        users = self._checked_users(rows)
        hash_pin = self._store._hasher.hash
        pins: list[str | None] = []
        credentials: list[list[Credential]] = []
        enabled: list[tuple[str, str, str, int]] = []
        # One pass, as if every user were new (no stored PIN, no stored flags):
        # `write_prepared` works it out again for a batch with a stored user in it.
        for user, row in zip(users, rows, strict=True):
            pin = row.pin_hash if user.pin is None else hash_pin(user.pin)  # a clear PIN wins
            creds = _credential_rows(user, pin)
            pins.append(pin)
            credentials.append(creds)
            enabled += _enabled_rows(user.user_id, creds, row.flags, _NONE_DISABLED)
        return PreparedBatch(
            rows=rows,
            users=users,
            pins=pins,
            credentials=credentials,
            ids=_json([user.user_id for user in users]),
            user_rows=_json([_user_row(user) for user in users]),
            list_rows=_list_rows(users),
            credential_rows=_json(enabled),
        )

    def write_prepared(self, batch: PreparedBatch) -> None:
        """Write a batch `prepare` made, as `write` does. A batch of users that are all
        new (the usual import) is written straight away: SQLite's own constraints are the
        checks (a credential taken, a group missing), and only when one refuses are the
        rows checked one by one to name the first refused row. A batch with a stored user
        in it is checked first, then written, as each of its users' stored PIN, flags and
        lists count."""
        self._batches += 1
        if self._batches == 1 and len(batch.rows) >= BULK_IMPORT_USERS and self._bulk is not None:
            self._bulk.enter_context(changes_logged_as_one(self._conn))
        if not batch.users:
            return
        batch = self._unmasked(batch)
        if not self._wrote_new_users(batch):
            self._write_checked(batch)
        if self._replace:
            self._conn.execute(
                "INSERT OR IGNORE INTO import_kept (user_id) SELECT value FROM json_each(?)",
                (batch.ids,),
            )

    def _wrote_new_users(self, batch: PreparedBatch) -> bool:
        """Write the batch if every user in it is new; False (nothing written) if not."""
        try:
            self._conn.execute(_USER_INSERT, (batch.user_rows,))
        except sqlite3.IntegrityError:  # a stored user: the statement wrote nothing
            return False
        try:
            if self._public_pins and not self._public_pins.isdisjoint(batch.pins):
                raise _Refused
            self._conn.execute(_CREDENTIALS_INSERT, (batch.credential_rows,))
            for table, column, rows in batch.list_rows:
                self._conn.execute(_list_insert(table, column), (rows,))
            _write_plate_windows(self._conn, batch.users)
        except (sqlite3.IntegrityError, _Refused):
            # Some row is refused: find the first, as writing one at a time would.
            _BatchChecks(self._conn, batch.users, batch.credentials).check(batch.pins)
            raise
        return True

    def _unmasked(self, batch: PreparedBatch) -> PreparedBatch:
        """The batch with each web relay URL read back masked (an export written back)
        replaced by the stored one it stands for; `ValidationError` (with `index`) when
        its user has no such URL. Most batches have none: the same batch."""
        if not any(MASK in url for user in batch.users for url in user.web_relay_urls):
            return batch
        users = list(batch.users)
        for index, user in enumerate(users):
            try:
                users[index] = _unmasked_web_relays(self._conn, user)
            except ValidationError as exc:
                exc.index = index
                raise
        return dc_replace(batch, users=users, list_rows=_list_rows(users))

    def _write_checked(self, batch: PreparedBatch) -> None:
        """Check the batch against the database, then write it (some users are stored)."""
        users, rows, pins = batch.users, batch.rows, batch.pins
        stored_pins = _stored_pins(
            self._conn,
            [u.user_id for u, r in zip(users, rows, strict=True) if _keeps_pin(u, r.pin_hash)],
        )
        credentials = [
            _credential_rows(user, _pin_of(user, pin, stored_pins))
            for user, pin in zip(users, pins, strict=True)
        ]
        _BatchChecks(self._conn, users, credentials).check(pins)
        disabled = _disabled_of(self._conn, batch.ids)
        enabled = [
            _enabled_rows(user.user_id, creds, row.flags, disabled.get(user.user_id, set()))
            for user, creds, row in zip(users, credentials, rows, strict=True)
        ]
        _write_batch(self._conn, users, batch.ids, enabled)

    def _checked_users(self, rows: Sequence[ImportRow]) -> list[User]:
        users: list[User] = []
        in_batch: set[str] = set()
        for index, row in enumerate(rows):
            user = row.user
            if user.user_id in in_batch:
                raise ValidationError("user_id", f"user {user.user_id} appears twice", index)
            # An import never grants or revokes the lockdown override.
            override = user.user_id in self._overrides
            if user.lockdown_override != override:  # a copy only when it differs
                user = dc_replace(user, lockdown_override=override)
            in_batch.add(user.user_id)
            users.append(user)
        return users

    def delete_users_not_written(self) -> None:
        """Delete every stored user this import did not write (`replace=True` only)."""
        if not self._replace:
            raise ValueError("this import keeps the users it does not write")
        self._conn.execute(
            "DELETE FROM users WHERE user_id NOT IN (SELECT user_id FROM import_kept)"
        )
        self._conn.execute("DELETE FROM import_kept")


# -- helpers (no state) -----------------------------------------------------------------


def _checked_rows(
    users: Sequence[User], pin_hashes: Mapping[str, str], flags: Mapping[str, CredentialFlags]
) -> list[ImportRow]:
    """Every user's own checks, in order, before any database check (as one at a time)."""
    rows: list[ImportRow] = []
    seen: set[str] = set()
    for index, user in enumerate(users):
        uid = user.user_id
        try:
            row = check_import_row(user, pin_hashes.get(uid), flags.get(uid))
            if uid in seen:
                raise ValidationError("user_id", f"user {uid} appears twice")
        except ValidationError as exc:
            exc.index = index
            raise
        seen.add(uid)
        rows.append(row)
    return rows


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


def _replace_user_lists(conn: sqlite3.Connection, user: User, stored: User | None) -> None:
    # A list the user already has as `stored` (read in this transaction) is left alone:
    # an update that names no department, group or door rewrites none of them.
    uid = user.user_id
    for table, column, field_name in _USER_LISTS:
        values = getattr(user, field_name)
        if stored is not None and getattr(stored, field_name) == values:
            continue
        conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (uid,))
        if values:
            conn.executemany(
                f"INSERT INTO {table} (user_id, {column}, position) VALUES (?, ?, ?)",
                [(uid, value, pos) for pos, value in enumerate(values)],
            )


def _pin_of(user: User, new: str | None, stored: Mapping[str, str]) -> str | None:
    # A new PIN wins; then "keep what is stored" for a user read back with has_pin.
    if new is not None:
        return new
    return stored.get(user.user_id) if user.has_pin else None


@contextmanager
def _import_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """A larger page cache for the import's transaction, the usual one afterwards.

    An import of a million users touches indexes far larger than the usual cache; each
    page it dropped would be spilled to the WAL and read back for the next batch.
    """
    usual = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {usual}")


def _keeps_pin(user: User, pin_hash: str | None) -> bool:
    # Neither a clear PIN nor an exported hash, but the user has one: it stays as stored.
    return user.has_pin and user.pin is None and pin_hash is None


def _stored_pins(conn: sqlite3.Connection, user_ids: list[str]) -> dict[str, str]:
    """The stored PIN hash of each of these users that has one."""
    if not user_ids:
        return {}
    # "+kind": look the users up by credentials_user; the (kind, value) index would
    # read every PIN on the device for each batch.
    rows = conn.execute(
        "SELECT user_id, value FROM credentials WHERE +kind = 'pin' "
        "AND user_id IN (SELECT value FROM json_each(?))",
        (json.dumps(user_ids),),
    )
    return {user_id: value for user_id, value in rows}


class _BatchChecks:
    """The database checks of one import batch, from a few set queries: public PINs, the
    departments and groups named, and who holds each credential the batch brings."""

    def __init__(
        self, conn: sqlite3.Connection, users: list[User], credentials: list[list[Credential]]
    ) -> None:
        self._users = users
        self._credentials = credentials
        self._public = {row[0] for row in conn.execute("SELECT pin_hash FROM public_pins")}
        self._departments = _existing_ids(conn, "departments", (u.departments for u in users))
        self._groups = _existing_ids(conn, "access_groups", (u.groups for u in users))
        # The usual batch names only departments and groups that exist: no row to look at.
        self._all_exist = _names_only(users, "departments", self._departments) and _names_only(
            users, "groups", self._groups
        )
        self._holders = _stored_holders(conn, credentials)

    def check(self, new_pins: list[str | None]) -> None:
        """Refuse the first row (in order) that writing one at a time would refuse."""
        given: dict[Credential, str] = {}  # a credential -> the earlier row's user
        rewritten: set[str] = set()  # users of earlier rows: their stored credentials went
        rows = zip(self._users, new_pins, self._credentials, strict=True)
        for index, (user, new_pin, credentials) in enumerate(rows):
            try:
                if new_pin is not None and new_pin in self._public:
                    raise CredentialTaken(
                        "pin", "this PIN is a public PIN of the device; choose another", "pin"
                    )
                if not self._all_exist:
                    _require(self._departments, "departments", "department", user.departments)
                    _require(self._groups, "groups", "access group", user.groups)
                for credential in credentials:
                    owner = given.get(credential)
                    if owner is None:
                        holder = self._holders.get(credential)
                        owner = None if holder in rewritten else holder
                    if owner is not None and owner != user.user_id:
                        raise _taken(credential, owner)
            except ValidationError as exc:
                exc.index = index
                raise
            rewritten.add(user.user_id)
            given.update((credential, user.user_id) for credential in credentials)


def _names_only(users: list[User], field: str, existing: set[int]) -> bool:
    """Whether every id these users' `field` lists is in `existing`."""
    named: set[int] = set()
    for user in users:
        named.update(getattr(user, field))
    return named <= existing


def _existing_ids(conn: sqlite3.Connection, table: str, lists: Iterable[list[int]]) -> set[int]:
    named = json.dumps(sorted({i for ids in lists for i in ids}))
    rows = conn.execute(
        f"SELECT id FROM {table} WHERE id IN (SELECT value FROM json_each(?))", (named,)
    )
    return {row[0] for row in rows}


def _require(existing: set[int], field: str, label: str, ids: list[int]) -> None:
    missing = [i for i in ids if i not in existing]
    if missing:
        raise ValidationError(field, f"{label} {join_ids(missing)} does not exist")


def _stored_holders(
    conn: sqlite3.Connection, credentials: list[list[Credential]]
) -> dict[Credential, str]:
    """Who holds each of these credentials in the database now."""
    wanted = json.dumps(list({c for creds in credentials for c in creds}))
    rows = conn.execute(
        "SELECT c.kind, c.value, c.user_id FROM json_each(?) AS j "
        "JOIN credentials AS c ON c.kind = j.value ->> 0 AND c.value = j.value ->> 1",
        (wanted,),
    )
    return {(kind, value): user_id for kind, value, user_id in rows}


def _taken(credential: Credential, owner: str) -> CredentialTaken:
    kind, value = credential
    if kind == "pin":
        # Naming the owner would tell the caller someone else's PIN.
        return CredentialTaken("pin", "this PIN is already in use by another user", kind)
    label = _CREDENTIAL_LABELS[kind]
    return CredentialTaken(
        _CREDENTIAL_FIELDS[kind], f"{label} {value} is already assigned to user {owner}", kind
    )


def _disabled_of(conn: sqlite3.Connection, ids: str) -> dict[str, set[Credential]]:
    """The disabled credentials of the users in the JSON list `ids`."""
    disabled: dict[str, set[Credential]] = {}
    for user_id, kind, value in conn.execute(
        "SELECT user_id, kind, value FROM credentials WHERE enabled = 0 "
        "AND user_id IN (SELECT value FROM json_each(?))",
        (ids,),
    ):
        disabled.setdefault(user_id, set()).add((kind, value))
    return disabled


def _enabled_rows(
    user_id: str,
    credentials: list[Credential],
    flags: CredentialFlags | None,
    disabled: Set[Credential],
) -> list[tuple[str, str, str, int]]:
    # A file that carries the flags is the authority; otherwise a credential disabled by
    # the API stays disabled, and one new to the user is enabled.
    if flags is not None:
        return [(k, v, user_id, int(flags.enabled(k, v))) for k, v in credentials]
    if not disabled:  # the usual case: a new user, or one with nothing disabled
        return [(k, v, user_id, 1) for k, v in credentials]
    return [(k, v, user_id, int((k, v) not in disabled)) for k, v in credentials]


# A batch goes in as one JSON array per table, each row an array in column order: one
# statement that SQLite runs whole, instead of a Python round trip per row. ORDER BY key
# keeps the file's order, which is the order of each user's credentials and lists.
_USER_UPSERT = (
    f"INSERT INTO users ({_USER_COLUMNS}) "
    "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, "
    "j.value ->> 5, j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9 "
    "FROM json_each(?) AS j WHERE true ORDER BY j.key "  # WHERE: the upsert's syntax
    "ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name, "
    "last_name = excluded.last_name, other_name = excluded.other_name, "
    "active = excluded.active, expiry = excluded.expiry, "
    "admin_level = excluded.admin_level, message = excluded.message, "
    "lockdown_override = excluded.lockdown_override, "
    "schedule_activation = excluded.schedule_activation"
)
_CREDENTIALS_INSERT = (
    "INSERT INTO credentials (kind, value, user_id, enabled) "
    "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 "
    "FROM json_each(?) AS j ORDER BY j.key"
)
_USER_TABLES = (
    "user_departments",
    "user_groups",
    "user_doors",
    "user_floors",
    "user_web_relays",
    "credentials",
)
# A batch of new users: a plain INSERT, which a stored user makes fail whole.
_USER_INSERT = (
    f"INSERT INTO users ({_USER_COLUMNS}) "
    "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, "
    "j.value ->> 5, j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9 "
    "FROM json_each(?) AS j ORDER BY j.key"
)


def _list_insert(table: str, column: str) -> str:
    return (
        f"INSERT INTO {table} (user_id, {column}, position) "
        "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 "
        "FROM json_each(?) AS j ORDER BY j.key"
    )


def _list_rows(users: list[User]) -> list[tuple[str, str, str]]:
    """Each list table with rows for these users: (table, column, the rows as JSON)."""
    tables: list[tuple[str, str, str]] = []
    for table, column, field_name in _USER_LISTS:
        rows: list[tuple[str, object, int]] = []
        for user in users:
            values = getattr(user, field_name)
            if len(values) == 1:  # the usual case (department 0, group 0): no enumerate
                rows.append((user.user_id, values[0], 0))
            elif values:
                rows += [(user.user_id, value, pos) for pos, value in enumerate(values)]
        if rows:
            tables.append((table, column, _json(rows)))
    return tables


def _user_row(user: User) -> tuple[object, ...]:
    return (
        user.user_id,
        user.first_name,
        user.last_name,
        user.other_name,
        int(user.active),
        user.expiry,
        user.admin_level,
        user.message,
        int(user.lockdown_override),
        int(user.schedule_activation),
    )


def _write_batch(
    conn: sqlite3.Connection,
    users: list[User],
    ids: str,
    credentials: list[list[tuple[str, str, str, int]]],
) -> None:
    """Write checked users (ids: their JSON list) with one statement per table."""
    conn.execute(_USER_UPSERT, (_json([_user_row(user) for user in users]),))
    for table in _USER_TABLES:
        conn.execute(
            f"DELETE FROM {table} WHERE user_id IN (SELECT value FROM json_each(?))", (ids,)
        )
    for table, column, rows in _list_rows(users):
        conn.execute(_list_insert(table, column), (rows,))
    conn.execute(_CREDENTIALS_INSERT, (_json([row for rows in credentials for row in rows]),))
    _write_plate_windows(conn, users)


def _write_plate_windows(conn: sqlite3.Connection, users: Iterable[User]) -> None:
    """Set the windows of the plates just written (most users have none: no statement)."""
    rows = [
        (start, end, user.user_id, plate)
        for user in users
        if user.plate_windows
        for plate, (start, end) in user.plate_windows.items()
    ]
    if rows:
        conn.executemany(
            "UPDATE credentials SET valid_from = ?, valid_until = ? "
            "WHERE user_id = ? AND kind = 'plate' AND value = ?",
            rows,
        )


def _json(rows: Sequence[Sequence[object]]) -> str:
    # Text stays text, whatever it holds (JSON escapes it); ensure_ascii keeps it compact
    # to parse and safe for any code point, surrogates included.
    return json.dumps(rows, ensure_ascii=True, check_circular=False)


def _fetch_users(conn: sqlite3.Connection, user_id: str | None) -> list[User]:
    where, args = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
    lists = {
        name: multimap(conn, f"SELECT user_id, {col} FROM {table} {where} ORDER BY position", args)
        for name, table, col in (
            ("departments", "user_departments", "department_id"),
            ("groups", "user_groups", "group_id"),
            ("doors", "user_doors", "door"),
            ("floors", "user_floors", "floor"),
            ("web_relay_urls", "user_web_relays", "url"),
        )
    }
    creds: dict[str, dict[str, list[str]]] = {}
    windows: dict[str, dict[str, PlateWindow]] = {}
    for uid, kind, value, start, end in conn.execute(
        f"SELECT user_id, kind, value, valid_from, valid_until FROM credentials {where} "
        "ORDER BY id",
        args,
    ):
        creds.setdefault(uid, {k: [] for k in CREDENTIAL_KINDS})[kind].append(value)
        if start is not None or end is not None:
            windows.setdefault(uid, {})[value] = (start, end)
    rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users {where} ORDER BY user_id", args)
    users = [_user_from_row(row, lists, creds) for row in rows]
    for user in users:
        user.plate_windows = windows.get(user.user_id, {})
    return users


def _user_from_row(
    row: Any,
    lists: Mapping[str, Mapping[str, list[Any]]],
    creds: Mapping[str, Mapping[str, list[str]]],
) -> User:
    uid, first, last, other, active, expiry, level, message, override, activation = row
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
        floors=list(lists["floors"].get(uid, [])),
        # Read back masked: a password in a URL never leaves through an API or an export.
        web_relay_urls=[masked_url(url) for url in lists["web_relay_urls"].get(uid, [])],
        message=message,
        cards=list(mine.get("card", [])),
        qr_codes=list(mine.get("qr", [])),
        plates=list(mine.get("plate", [])),
        pin=None,
        has_pin=bool(mine.get("pin")),
        lockdown_override=bool(override),
        schedule_activation=bool(activation),
    )


def _unmasked_web_relays(conn: sqlite3.Connection, user: User) -> User:
    """`user` with each web relay URL that was read back masked (`****`) replaced by the
    stored URL it stands for; `ValidationError` when this user has no such URL stored."""
    if not any(MASK in url for url in user.web_relay_urls):
        return user  # the usual case: no URL, or every URL given in full
    stored = [
        row[0]
        for row in conn.execute(
            "SELECT url FROM user_web_relays WHERE user_id = ? ORDER BY position",
            (user.user_id,),
        )
    ]
    by_mask = {masked_url(url): url for url in stored}
    urls = []
    for number, url in enumerate(user.web_relay_urls, start=1):
        if MASK in url and url not in stored:
            if url not in by_mask:
                raise ValidationError(
                    "web_relay_urls",
                    f"URL {number} is masked ({MASK}) and matches none of this user's "
                    "stored URLs: give it in full",
                )
            url = by_mask[url]
        urls.append(url)
    return dc_replace(user, web_relay_urls=urls)


def _user_records(conn: sqlite3.Connection, user_ids: list[str]) -> list[UserRecord]:
    """Users (in `user_ids` order, missing ones skipped) with their ACTAtek extras."""
    if len(user_ids) > _BULK_FETCH:
        by_id = {user.user_id: user for user in _fetch_users(conn, None)}
        profiles = read_profiles(conn, None)
    else:
        by_id = {uid: user for uid in user_ids for user in _fetch_users(conn, uid)}
        profiles = read_profiles(conn, user_ids)
    return [(by_id[uid], profiles.get(uid, UserProfile())) for uid in user_ids if uid in by_id]
