"""The SQLite schema as an ordered list of migration steps.

Step N takes a database at schema version N-1 to version N. Steps are only ever appended:
a released step is never edited, because devices in the field already ran it. `db.py`
applies the pending steps at start-up, each in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store.index import ALWAYS_PATTERN, PATTERN_DAYS


@dataclass(frozen=True)
class Migration:
    """One schema step: the statements that take version `version - 1` to `version`."""

    version: int
    description: str
    statements: tuple[str, ...]


# Tables whose changes alter access decisions. A trigger on each bumps meta.rules_version,
# so a daemon can tell "someone changed the rules" (reload the index) apart from its own
# journal writes, which also move PRAGMA data_version.
RULE_TABLES: tuple[str, ...] = (
    "users",
    "credentials",
    "user_departments",
    "user_groups",
    "user_doors",
    "public_pins",
    "departments",
    "access_rights",
    "access_groups",
    "group_rights",
    "holidays",
)

# Column names of the weekly patterns in access_rights, in PATTERN_DAYS order.
DAY_COLUMNS: tuple[str, ...] = tuple(day.lower() for day in PATTERN_DAYS)


def _pattern_column(column: str) -> str:
    # NULL = the day is absent = no access that day; otherwise 48 slots of '0'/'1'.
    return (
        f"{column} TEXT CHECK ({column} IS NULL OR "
        f"(length({column}) = 48 AND {column} NOT GLOB '*[^01]*'))"
    )


def _rules_triggers() -> tuple[str, ...]:
    statements = []
    for table in RULE_TABLES:
        for op in ("INSERT", "UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_{op.lower()}_rules AFTER {op} ON {table} BEGIN "
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                "WHERE key = 'rules_version'; END"
            )
    return tuple(statements)


_V1_TABLES: tuple[str, ...] = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE departments ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE access_rights ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '', "
    + ", ".join(_pattern_column(c) for c in DAY_COLUMNS)
    + ")",
    # doors: JSON list of door names, NULL = every door (our extension to ACTAtek groups).
    "CREATE TABLE access_groups ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " department_id INTEGER NOT NULL REFERENCES departments(id),"
    " doors TEXT)",
    # Deleting a group or a right means "it no longer grants anything": memberships go too.
    "CREATE TABLE group_rights ("
    " group_id INTEGER NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,"
    " right_id INTEGER NOT NULL REFERENCES access_rights(id) ON DELETE CASCADE,"
    " PRIMARY KEY (group_id, right_id)) WITHOUT ROWID",
    "CREATE TABLE users ("
    " user_id TEXT PRIMARY KEY,"
    " first_name TEXT NOT NULL DEFAULT '',"
    " last_name TEXT NOT NULL DEFAULT '',"
    " other_name TEXT NOT NULL DEFAULT '',"
    " active INTEGER NOT NULL DEFAULT 1,"
    " expiry TEXT,"
    " admin_level TEXT NOT NULL DEFAULT 'PERSONALUSER',"
    " message TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE user_departments ("
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " department_id INTEGER NOT NULL REFERENCES departments(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, department_id)) WITHOUT ROWID",
    "CREATE TABLE user_groups ("
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " group_id INTEGER NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, group_id)) WITHOUT ROWID",
    # No row for a user = every door.
    "CREATE TABLE user_doors ("
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " door TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, door)) WITHOUT ROWID",
    # value: canonical card hex, QR text, plate text, or for a PIN its keyed hash.
    # UNIQUE(kind, value) is what makes a private PIN unique on the device.
    "CREATE TABLE credentials ("
    " id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('card', 'pin', 'qr', 'plate')),"
    " value TEXT NOT NULL,"
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " UNIQUE (kind, value))",
    "CREATE INDEX credentials_user ON credentials(user_id)",
    "CREATE TABLE public_pins ("
    " slot INTEGER PRIMARY KEY CHECK (slot BETWEEN 1 AND 3),"
    " pin_hash TEXT NOT NULL UNIQUE)",
    "CREATE TABLE holidays (date TEXT PRIMARY KEY CHECK (date GLOB "
    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'))",
    "CREATE TABLE technicians ("
    " username TEXT PRIMARY KEY,"
    " password_hash TEXT NOT NULL,"
    " level TEXT NOT NULL,"
    " must_change INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE engine_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # AUTOINCREMENT: a seq is never reused, even after the oldest rows are dropped, so a
    # forwarder's cursor stays meaningful. The CHECK is a last line against a PIN leak.
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time TEXT NOT NULL,"
    " local_time TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " door TEXT,"
    " reader TEXT,"
    " user_id TEXT,"
    " credential_kind TEXT,"
    " credential TEXT,"
    " granted INTEGER,"
    " reason TEXT NOT NULL DEFAULT '',"
    " source TEXT,"
    " trace TEXT NOT NULL DEFAULT '',"
    " latency_ms REAL,"
    " CHECK (credential_kind IS NOT 'pin' OR credential IS NULL OR credential = '****'))",
    "CREATE INDEX events_time ON events(time)",
)

_ALWAYS_DAYS = ", ".join(f"'{ALWAYS_PATTERN}'" for _ in DAY_COLUMNS)

# Seeds run before the triggers exist; rules_version starts at 1 so a loaded snapshot is
# never mistaken for the engine's empty default (version 0).
_V1_SEEDS: tuple[str, ...] = (
    "INSERT INTO meta (key, value) VALUES ('rules_version', '1')",
    "INSERT INTO departments (id, name, description) VALUES (0, 'General', 'General')",
    f"INSERT INTO access_rights (id, name, description, {', '.join(DAY_COLUMNS)}) "
    f"VALUES (0, 'Always', 'Every slot of every day, holidays included', {_ALWAYS_DAYS})",
    "INSERT INTO access_groups (id, name, department_id, doors) VALUES (0, 'General', 0, NULL)",
    "INSERT INTO group_rights (group_id, right_id) VALUES (0, 0)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1_TABLES + _V1_SEEDS + _rules_triggers()),
)

LATEST_VERSION: int = MIGRATIONS[-1].version
