"""Building the engine's in-memory `RulesSnapshot` from the database, in full or as a delta.

A full load reads every rule in one read transaction (start-up, a large change). A delta
reads the change log (`rule_changes`, schema step 11) after the position the snapshot has
applied and re-reads only the users and credentials it names, and the small shared tables
when one of them changed (`read_delta`). A log with more entries than `DELTA_LIMIT`, or one
pruned past the snapshot's position, calls for a full load instead (None).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from gateway.access.snapshot import (
    PATTERN_DAYS,
    AccessRightRule,
    CredentialChange,
    CredentialRef,
    CredentialTable,
    GroupRule,
    RulesDelta,
    RulesSnapshot,
    SharedRules,
    UserChange,
    UserPolicy,
    UserRule,
    UserTable,
    credential_key,
)
from gateway.model import CREDENTIAL_KINDS, CredentialKind
from gateway.store.db import multimap, read_transaction, write_transaction
from gateway.store.schema import DAY_COLUMNS
from gateway.store.validate import expiry_epoch

# More change-log entries than this since the snapshot's position: a full load is cheaper
# than re-reading them one by one (an import of many users).
DELTA_LIMIT = 50_000
# Ids per `IN (...)` query (well under SQLite's limit on parameters).
_CHUNK = 500
# Separates a user's group ids and door names in one column (no door name holds it).
_SEP = "\x1f"

_USER_COLUMNS = (
    "u.user_id, "
    "CASE WHEN u.first_name = '' THEN u.last_name WHEN u.last_name = '' THEN u.first_name"
    " ELSE u.first_name || ' ' || u.last_name END, "
    "u.active, u.expiry, u.lockdown_override, u.schedule_activation, "
    "(SELECT group_concat(group_id, char(31)) FROM"
    " (SELECT group_id FROM user_groups g WHERE g.user_id = u.user_id ORDER BY position)), "
    "(SELECT group_concat(door, char(31)) FROM"
    " (SELECT door FROM user_doors d WHERE d.user_id = u.user_id ORDER BY position))"
)


def read_rules_version(conn: sqlite3.Connection) -> int:
    """The counter the rule-table triggers bump on every write."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'rules_version'").fetchone()
    return int(row[0])


def read_change_seq(conn: sqlite3.Connection) -> int:
    """The newest change-log position ever written (0 when none)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'rule_changes'").fetchone()
    return int(row[0]) if row is not None else 0


def load_snapshot(conn: sqlite3.Connection) -> RulesSnapshot:
    """Every access rule, read in one transaction so the snapshot is consistent."""
    with read_transaction(conn):
        users = _users(conn)
        return RulesSnapshot.from_tables(
            users=users,
            credentials=_credentials(conn, users),
            shared=_shared(conn),
            totp=dict(conn.execute("SELECT user_id, sealed FROM totp_secrets").fetchall()),
            version=read_rules_version(conn),
            change_seq=read_change_seq(conn),
        )


def load_shared_snapshot(conn: sqlite3.Connection) -> RulesSnapshot:
    """A `loading` snapshot: the small shared tables only (fast at any size). The engine
    decides on it while the full load runs, each credential read first (`read_credential`)."""
    snapshot = RulesSnapshot()
    with read_transaction(conn):
        snapshot.shared = _shared(conn)
    snapshot.loading = True
    return snapshot


def read_credential(
    conn: sqlite3.Connection,
    kind: CredentialKind,
    value: str,
    also_user: str | None,
    version: int,
    change_seq: int,
) -> RulesDelta:
    """One credential as the store has it now (`value` canonical, or a PIN's keyed hash),
    its owner and `also_user` (a TOTP payload's user), and the shared tables: what deciding
    it needs. `version` and `change_seq` are the snapshot's own (it stays where it was)."""
    with read_transaction(conn):
        credential = next(iter(_credential_changes(conn, [(kind, value)])))
        user_ids = {also_user} if also_user is not None else set()
        if credential.owner is not None:
            user_ids.add(credential.owner.user_id)
        return RulesDelta(
            version=version,
            change_seq=change_seq,
            users=tuple(_user_changes(conn, sorted(user_ids))),
            credentials=(credential,),
            shared=_shared(conn),
        )


def read_delta(
    conn: sqlite3.Connection, after_seq: int, limit: int = DELTA_LIMIT
) -> RulesDelta | None:
    """What changed after change-log position `after_seq`, as the store has it now; None
    when a full load is needed (more than `limit` entries, or the log was pruned past
    `after_seq`). One read transaction: the delta is consistent."""
    with read_transaction(conn):
        pruned = conn.execute("SELECT value FROM meta WHERE key = 'rule_changes_pruned'")
        if int(pruned.fetchone()[0]) > after_seq:
            return None
        rows = conn.execute(
            "SELECT seq, scope, user_id, kind, value FROM rule_changes WHERE seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, limit + 1),
        ).fetchall()
        if len(rows) > limit:
            return None
        user_ids = sorted({row[2] for row in rows if row[1] == "user"})
        credentials = sorted({(row[3], row[4]) for row in rows if row[1] == "credential"})
        shared = any(row[1] == "shared" for row in rows)
        return RulesDelta(
            version=read_rules_version(conn),
            change_seq=max(after_seq, read_change_seq(conn)),
            users=tuple(_user_changes(conn, user_ids)),
            credentials=tuple(_credential_changes(conn, credentials)),
            shared=_shared(conn) if shared else None,
        )


@contextmanager
def changes_logged_as_one(conn: sqlite3.Connection) -> Iterator[None]:
    """Inside the caller's write transaction: the rule writes of the block log no entry and
    move no counter per row (an import of 100,000 users would log 400,000 entries, which
    no reader would apply one by one, and bump `rules_version` as often: together more than
    half of the database's time). At its end `rules_version` moves once, one entry is
    logged and the log marked pruned up to it, so every reader behind it loads in full."""
    conn.execute("INSERT INTO meta (key, value) VALUES ('rule_changes_paused', '1')")
    try:
        yield
    finally:
        conn.execute("DELETE FROM meta WHERE key = 'rule_changes_paused'")
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'rules_version'")
    conn.execute("INSERT INTO rule_changes (scope) VALUES ('shared')")
    conn.execute(
        "UPDATE meta SET value = (SELECT max(seq) FROM rule_changes)"
        " WHERE key = 'rule_changes_pruned'"
    )


def prune_changes(conn: sqlite3.Connection, applied_seq: int, batch: int = 10_000) -> int:
    """Delete the change-log entries up to `applied_seq` in small transactions (a writer
    waiting for the database waits for one batch at most); how many were deleted."""
    deleted = 0
    while True:
        with write_transaction(conn):
            cursor = conn.execute(
                "DELETE FROM rule_changes WHERE seq IN"
                " (SELECT seq FROM rule_changes WHERE seq <= ? ORDER BY seq LIMIT ?)",
                (applied_seq, batch),
            )
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'rule_changes_pruned'"
                " AND CAST(value AS INTEGER) < ?",
                (str(applied_seq), applied_seq),
            )
        deleted += cursor.rowcount
        if cursor.rowcount < batch:
            return deleted


def _users(conn: sqlite3.Connection) -> UserTable:
    table = UserTable()
    entries, pack = table.entries, table.pack
    # Most users share their rules: the same raw columns map to the same policy index.
    seen: dict[tuple[Any, ...], int] = {}
    for user_id, name, active, expiry, override, activation, groups, doors in conn.execute(
        f"SELECT {_USER_COLUMNS} FROM users u"
    ):
        raw = (active, expiry, override, activation, groups, doors)
        index = seen.get(raw)
        if index is None:
            index = seen[raw] = table.intern(_policy(*raw))
        entries[user_id] = pack(user_id, name, index)
    return table


def _policy(
    active: int,
    expiry: str | None,
    override: int,
    activation: int,
    groups: str | None,
    doors: str | None,
) -> UserPolicy:
    return UserPolicy(
        active=bool(active),
        expiry=expiry_epoch(expiry),
        groups=tuple(int(g) for g in groups.split(_SEP)) if groups else (),
        doors=frozenset(doors.split(_SEP)) if doors else None,
        lockdown_override=bool(override),
        schedule_activation=bool(activation),
    )


def _credentials(conn: sqlite3.Connection, users: UserTable) -> list[CredentialTable]:
    tables = {kind: CredentialTable(kind) for kind in CREDENTIAL_KINDS}
    # Each credential points at the very string object that keys its user: no copy of the
    # id per credential. The map lives only while loading.
    same_id = {user_id: user_id for user_id in users.entries}
    for kind, value, user_id, enabled, start, end in conn.execute(
        "SELECT kind, value, user_id, enabled, valid_from, valid_until FROM credentials"
    ):
        table = tables[kind]
        owners = table.enabled if enabled else table.disabled
        key = credential_key(kind, value)
        owners[key] = same_id.get(user_id, user_id)
        if start is not None or end is not None:  # a plate valid only within a window
            table.windows[key] = (expiry_epoch(start), expiry_epoch(end))
    return list(tables.values())


def _shared(conn: sqlite3.Connection) -> SharedRules:
    return SharedRules(
        public_pins=frozenset(row[0] for row in conn.execute("SELECT pin_hash FROM public_pins")),
        groups=_groups(conn),
        rights=_rights(conn),
        holidays=frozenset(
            date.fromisoformat(row[0]) for row in conn.execute("SELECT date FROM holidays")
        ),
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _user_changes(conn: sqlite3.Connection, user_ids: Sequence[str]) -> Iterable[UserChange]:
    for chunk in _chunks(user_ids):
        marks = ", ".join("?" * len(chunk))
        found: dict[str, UserRule] = {}
        for user_id, name, active, expiry, override, activation, groups, doors in conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.user_id IN ({marks})", chunk
        ):
            policy = _policy(active, expiry, override, activation, groups, doors)
            found[user_id] = UserRule(
                user_id,
                name,
                policy.active,
                policy.expiry,
                policy.groups,
                policy.doors,
                policy.lockdown_override,
                policy.schedule_activation,
            )
        totp = dict(
            conn.execute(
                f"SELECT user_id, sealed FROM totp_secrets WHERE user_id IN ({marks})", chunk
            ).fetchall()
        )
        for user_id in chunk:
            yield UserChange(user_id, found.get(user_id), totp.get(user_id))


def _credential_changes(
    conn: sqlite3.Connection, credentials: Sequence[tuple[CredentialKind, str]]
) -> Iterable[CredentialChange]:
    for kind, value in credentials:
        row = conn.execute(
            "SELECT user_id, enabled, valid_from, valid_until FROM credentials "
            "WHERE kind = ? AND value = ?",
            (kind, value),
        ).fetchone()
        owner = None
        if row is not None:
            start, end = expiry_epoch(row[2]), expiry_epoch(row[3])
            owner = CredentialRef(row[0], bool(row[1]), start, end)
        yield CredentialChange(kind, value, owner)


def _groups(conn: sqlite3.Connection) -> dict[int, GroupRule]:
    rights = multimap(conn, "SELECT group_id, right_id FROM group_rights ORDER BY right_id")
    groups: dict[int, GroupRule] = {}
    for group_id, name, doors in conn.execute("SELECT id, name, doors FROM access_groups"):
        door_list = json.loads(doors) if doors is not None else None
        groups[group_id] = GroupRule(
            id=group_id,
            name=name,
            rights=tuple(int(r) for r in rights.get(group_id, ())),
            doors=frozenset(door_list) if door_list is not None else None,
        )
    return groups


def _rights(conn: sqlite3.Connection) -> dict[int, AccessRightRule]:
    rights: dict[int, AccessRightRule] = {}
    columns = ", ".join(DAY_COLUMNS)
    for row in conn.execute(f"SELECT id, name, {columns} FROM access_rights"):
        patterns = {
            day: pattern for day, pattern in zip(PATTERN_DAYS, row[2:], strict=True) if pattern
        }
        rights[row[0]] = AccessRightRule(id=row[0], name=row[1], patterns=patterns)
    return rights
