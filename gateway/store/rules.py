"""Building the engine's in-memory `RulesSnapshot` from the database."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from gateway.access.snapshot import (
    PATTERN_DAYS,
    AccessRightRule,
    CredentialRef,
    GroupRule,
    RulesSnapshot,
    UserRule,
)
from gateway.store.db import multimap, read_transaction
from gateway.store.schema import DAY_COLUMNS
from gateway.store.validate import expiry_epoch


def read_rules_version(conn: sqlite3.Connection) -> int:
    """The counter the rule-table triggers bump on every write."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'rules_version'").fetchone()
    return int(row[0])


def load_snapshot(conn: sqlite3.Connection) -> RulesSnapshot:
    """Every access rule, read in one transaction so the snapshot is consistent."""
    with read_transaction(conn):
        credentials = _credentials(conn)
        return RulesSnapshot(
            users=_users(conn),
            cards=credentials["card"],
            pins=credentials["pin"],
            qr_codes=credentials["qr"],
            plates=credentials["plate"],
            public_pins=frozenset(
                row[0] for row in conn.execute("SELECT pin_hash FROM public_pins")
            ),
            groups=_groups(conn),
            rights=_rights(conn),
            holidays=frozenset(
                date.fromisoformat(row[0]) for row in conn.execute("SELECT date FROM holidays")
            ),
            version=read_rules_version(conn),
            totp=dict(conn.execute("SELECT user_id, sealed FROM totp_secrets").fetchall()),
        )


def _users(conn: sqlite3.Connection) -> dict[str, UserRule]:
    groups = multimap(conn, "SELECT user_id, group_id FROM user_groups ORDER BY position")
    doors = multimap(conn, "SELECT user_id, door FROM user_doors ORDER BY position")
    users: dict[str, UserRule] = {}
    rows = conn.execute(
        "SELECT user_id, first_name, last_name, active, expiry, lockdown_override FROM users"
    )
    for user_id, first, last, active, expiry, override in rows:
        user_doors = doors.get(user_id)
        users[user_id] = UserRule(
            user_id=user_id,
            name=" ".join(part for part in (first, last) if part),
            active=bool(active),
            expiry=expiry_epoch(expiry),
            groups=tuple(int(g) for g in groups.get(user_id, ())),
            doors=frozenset(user_doors) if user_doors else None,
            lockdown_override=bool(override),
        )
    return users


def _credentials(conn: sqlite3.Connection) -> dict[str, dict[str, CredentialRef]]:
    tables: dict[str, dict[str, CredentialRef]] = {k: {} for k in ("card", "pin", "qr", "plate")}
    for kind, value, user_id, enabled in conn.execute(
        "SELECT kind, value, user_id, enabled FROM credentials"
    ):
        tables[kind][value] = CredentialRef(user_id=user_id, enabled=bool(enabled))
    return tables


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
