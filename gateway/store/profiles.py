"""What the ACTAtek user structure carries beyond `User`, and the queries of its API.

Stored as given and returned unchanged, because this gateway has no fingerprint or face
sensor: the status flags other than `active`, the fingerprint template, the facial
records, the face score threshold. Also the `keyid` an API client gave each credential
(credential_keys), and the sealed TOTP secrets (totp_secrets, see `gateway.access.totp`).

Functions here take an open connection: `UserStore` calls them inside its own transactions,
so a user and their extras are always written together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from gateway.store.records import CredentialKey, UserFilter, UserProfile


def _where_ids(user_ids: Sequence[str] | None) -> tuple[str, tuple[object, ...]]:
    if user_ids is None:
        return "", ()
    if len(user_ids) == 1:  # one user (an ACTAtek save): a plain lookup is several times faster
        return "WHERE user_id = ?", (user_ids[0],)
    return "WHERE user_id IN (SELECT value FROM json_each(?))", (json.dumps(list(user_ids)),)


def read_profiles(
    conn: sqlite3.Connection, user_ids: Sequence[str] | None
) -> dict[str, UserProfile]:
    """The profiles of `user_ids` (None: every user); users without extras get defaults."""
    where, args = _where_ids(user_ids)
    rows = conn.execute(
        "SELECT user_id, status, fingerprints, facial_records, score_threshold "
        f"FROM actatek_profiles {where}",
        args,
    ).fetchall()
    keys: dict[str, dict[CredentialKey, str]] = {}
    for uid, kind, value, key_id in conn.execute(
        f"SELECT user_id, kind, value, key_id FROM credential_keys {where}", args
    ):
        keys.setdefault(uid, {})[(kind, value)] = key_id
    enabled: dict[str, dict[CredentialKey, bool]] = {}
    for uid, kind, value, flag in conn.execute(
        f"SELECT user_id, kind, value, enabled FROM credentials {where}", args
    ):
        enabled.setdefault(uid, {})[(kind, value)] = bool(flag)
    base = {
        uid: UserProfile(
            flags=json.loads(status),
            fingerprints=prints,
            facial_records=tuple(json.loads(faces)),
            score_threshold=int(score),
        )
        for uid, status, prints, faces, score in rows
    }
    return {
        uid: replace(base.get(uid, UserProfile()), key_ids=keys.get(uid, {}), enabled=flags)
        for uid, flags in enabled.items()
    } | {uid: profile for uid, profile in base.items() if uid not in enabled}


def write_profile(conn: sqlite3.Connection, user_id: str, profile: UserProfile) -> None:
    """Replace a user's extras and key ids, and set the given enabled flags.

    Key ids and flags of credentials the user does not have are ignored.
    """
    conn.execute(
        "INSERT INTO actatek_profiles "
        "(user_id, status, fingerprints, facial_records, score_threshold) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
        "status = excluded.status, fingerprints = excluded.fingerprints, "
        "facial_records = excluded.facial_records, score_threshold = excluded.score_threshold",
        (
            user_id,
            json.dumps(dict(profile.flags), sort_keys=True),
            profile.fingerprints,
            json.dumps([dict(record) for record in profile.facial_records]),
            profile.score_threshold,
        ),
    )
    owned = {
        (kind, value)
        for kind, value in conn.execute(
            "SELECT kind, value FROM credentials WHERE user_id = ?", (user_id,)
        )
    }
    conn.execute("DELETE FROM credential_keys WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT OR REPLACE INTO credential_keys (kind, value, user_id, key_id) VALUES (?, ?, ?, ?)",
        [(k, v, user_id, key_id) for (k, v), key_id in profile.key_ids.items() if (k, v) in owned],
    )
    conn.executemany(
        "UPDATE credentials SET enabled = ? WHERE user_id = ? AND kind = ? AND value = ?",
        [(int(flag), user_id, k, v) for (k, v), flag in profile.enabled.items()],
    )


def find_user_ids(
    conn: sqlite3.Connection, criteria: UserFilter, offset: int = 0, limit: int | None = None
) -> list[str]:
    """User ids matching every given criterion, sorted, with paging."""
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (
        ("user_id", criteria.user_id),
        ("last_name", criteria.last_name),
        ("first_name", criteria.first_name),
        ("other_name", criteria.other_name),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if criteria.partial_user_id is not None:
        # instr, not LIKE: '%' and '_' in an id are plain characters here.
        clauses.append("instr(user_id, ?) > 0")
        args.append(criteria.partial_user_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args += [-1 if limit is None else limit, offset]
    rows = conn.execute(
        f"SELECT user_id FROM users {where} ORDER BY user_id LIMIT ? OFFSET ?", args
    )
    return [str(row[0]) for row in rows]


def read_totp_secret(conn: sqlite3.Connection, user_id: str) -> str | None:
    """The user's sealed TOTP secret, or None."""
    row = conn.execute("SELECT sealed FROM totp_secrets WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else str(row[0])


def write_totp_secret(conn: sqlite3.Connection, user_id: str, sealed: str) -> None:
    """Store (or replace) the user's sealed TOTP secret."""
    conn.execute(
        "INSERT INTO totp_secrets (user_id, sealed) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed",
        (user_id, sealed),
    )
