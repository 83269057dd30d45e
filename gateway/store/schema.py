"""The SQLite schema as an ordered list of migration steps.

Step N takes a database at schema version N-1 to version N. Steps are only ever appended:
a released step is never edited, because devices in the field already ran it. `db.py`
applies the pending steps at start-up, each in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.access.snapshot import ALWAYS_PATTERN, PATTERN_DAYS


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

# Agents receive the journal by HTTP push (ACTAtek "register Agent"). `url` is what was
# registered (it may carry user:password for basic auth); `public_url` is the same without
# them, the agent's identity in lists and for unregistering. `cursor` is the last seq the
# agent acknowledged with a 2xx; times are UTC epoch seconds, NULL = never.
_V2_AGENTS: tuple[str, ...] = (
    "CREATE TABLE agents ("
    " id INTEGER PRIMARY KEY,"
    " url TEXT NOT NULL,"
    " public_url TEXT NOT NULL UNIQUE,"
    " agent_version TEXT NOT NULL DEFAULT '1.2',"
    " magic TEXT NOT NULL DEFAULT '',"
    " active INTEGER NOT NULL DEFAULT 1,"
    " cursor INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),"
    " init_sync INTEGER NOT NULL DEFAULT 0,"
    " registered_at REAL NOT NULL,"
    " last_update REAL,"
    " last_check REAL,"
    " last_check_ok INTEGER NOT NULL DEFAULT 0,"
    " last_check_status TEXT NOT NULL DEFAULT '',"
    " backlog_alarm INTEGER NOT NULL DEFAULT 0)",
)

# Terminal functions of the ACTAtek API (sections 2, 7, 11, 12). `terminal_settings` holds
# what the API set at runtime, one JSON object per key (relay settings per door, autoInOut,
# log settings, consent, the simulated clock); a key present overrides the configuration
# file. Triggers and job codes are stored and listed, they never change a decision.
# events_user_time serves getLogs' employeeID filter in time order without a sort.
TRIGGER_TYPES: tuple[str, ...] = ("IN", "OUT", *(f"F{n}" for n in range(1, 41)))
_V3_TERMINAL: tuple[str, ...] = (
    "CREATE TABLE terminal_settings ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL CHECK (json_valid(value)))",
    "CREATE TABLE triggers ("
    " type TEXT PRIMARY KEY,"
    " position INTEGER NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " enabled INTEGER NOT NULL,"
    " free_jobcode INTEGER NOT NULL DEFAULT 0, "
    + ", ".join(_pattern_column(c) for c in DAY_COLUMNS)
    + ")",
    *(
        f"INSERT INTO triggers (type, position, name, enabled) "
        f"VALUES ('{name}', {position}, '{name}', {int(position < 2)})"
        for position, name in enumerate(TRIGGER_TYPES)
    ),
    "CREATE TABLE job_code_settings ("
    " jobcode INTEGER PRIMARY KEY CHECK (jobcode BETWEEN 1 AND 3),"
    " name TEXT NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 0)",
    "INSERT INTO job_code_settings (jobcode, name) "
    "VALUES (1, 'Job'), (2, 'Occupation'), (3, 'Customise')",
    "CREATE TABLE job_codes ("
    " jobcode INTEGER NOT NULL REFERENCES job_code_settings(jobcode),"
    " id INTEGER NOT NULL CHECK (id BETWEEN 1 AND 999999),"
    " name TEXT NOT NULL,"
    " enable TEXT NOT NULL CHECK (enable IN ('enable', 'disable', 'default')),"
    " PRIMARY KEY (jobcode, id)) WITHOUT ROWID",
    # "Only 1 default in the same jobcode setting", kept by the database itself.
    "CREATE UNIQUE INDEX job_codes_one_default ON job_codes(jobcode) WHERE enable = 'default'",
    "CREATE INDEX events_user_time ON events(user_id, time)",
)

# ACTAtek user extras (gateway/store/profiles.py). Profiles and key ids are shown back by
# the API but never decide access, so they have no rules trigger; a TOTP secret does
# decide (a TOTP code is a QR credential), so totp_secrets bumps rules_version.
_V4_ACTATEK_USERS: tuple[str, ...] = (
    "CREATE TABLE actatek_profiles ("
    " user_id TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,"
    " status TEXT NOT NULL DEFAULT '{}',"
    " fingerprints TEXT,"
    " facial_records TEXT NOT NULL DEFAULT '[]',"
    " score_threshold INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE credential_keys ("
    " kind TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " key_id TEXT NOT NULL,"
    " PRIMARY KEY (kind, value)) WITHOUT ROWID",
    "CREATE INDEX credential_keys_user ON credential_keys(user_id)",
    # sealed: the secret encrypted with the device key (gateway/access/totp.py), never clear.
    "CREATE TABLE totp_secrets ("
    " user_id TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,"
    " sealed TEXT NOT NULL)",
    *(
        f"CREATE TRIGGER totp_secrets_{op.lower()}_rules AFTER {op} ON totp_secrets BEGIN "
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'rules_version'; END"
        for op in ("INSERT", "UPDATE", "DELETE")
    ),
)

# The direction of a passage is part of what happened: an OpenDoor request says it
# (AntiPassbackMode), a reader has one. Stored with the event, so getLogs and agents show
# IN/OUT as it was, not as the readers are configured today. NULL: not said (older rows,
# events that are not passages).
_V5_EVENT_DIRECTION: tuple[str, ...] = (
    "ALTER TABLE events ADD COLUMN direction TEXT "
    "CHECK (direction IS NULL OR direction IN ('in', 'out'))",
)

# deleteLogs / resetLog take rows out of the access log at once. A row an active agent has
# not received yet is not deleted (retention keeps undelivered rows too): it is marked
# here, no longer listed by getLogs, still forwarded, and dropped by retention later.
_V6_LOG_CLEARED: tuple[str, ...] = (
    "ALTER TABLE events ADD COLUMN log_cleared INTEGER NOT NULL DEFAULT 0 "
    "CHECK (log_cleared IN (0, 1))",
)

# Retention keeps two classes of events, each within its own bound (EventJournal): the
# oldest rows of one class are found without reading past the other's.
_V7_RETENTION_CLASSES: tuple[str, ...] = (
    "CREATE INDEX events_administrative ON events(seq) WHERE type = 'api'",
    "CREATE INDEX events_evidence ON events(seq) WHERE type <> 'api'",
)

# Technician accounts can be disabled (kept, but no login and no session), and every
# change of an account's password, level or state moves its credential version: a session
# remembers the version it was opened under and ends when the account's has moved, even
# when the change came from another process (`door-gateway passwd`).
_V8_TECHNICIAN_STATE: tuple[str, ...] = (
    "ALTER TABLE technicians ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 "
    "CHECK (disabled IN (0, 1))",
    "ALTER TABLE technicians ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 1",
)

# Opening a door in lockdown is a privilege of its own (it used to follow from any
# admin_level but PERSONALUSER). Existing users get 0: an upgrade grants it to nobody; a
# SUPERADMIN session grants it afterwards. `users` has its rules triggers already.
_V9_LOCKDOWN_OVERRIDE: tuple[str, ...] = (
    "ALTER TABLE users ADD COLUMN lockdown_override INTEGER NOT NULL DEFAULT 0 "
    "CHECK (lockdown_override IN (0, 1))",
)

# The frame a reader sent for a decision (Wiegand bits, a serial frame, a card UID), so the
# decision trace can show what came down the wire. NULL for a PIN or a QR code (the frame
# is the secret), for events that are not a presentation, and for older rows.
_V10_EVENT_RAW_FRAME: tuple[str, ...] = ("ALTER TABLE events ADD COLUMN raw TEXT",)

# The rules' change log: what each write to a table the engine reads touched, so a daemon
# re-reads only that (a `RulesDelta`) instead of every rule. scope 'user': the user's row,
# groups, doors or TOTP secret (user_id); 'credential': one credential (kind, value; user_id
# says whose it was or is); 'shared': a small table every user shares (groups, rights,
# holidays, public PINs), reloaded whole. Departments decide nothing: not logged.
# AUTOINCREMENT: a seq is never reused after the daemon prunes what it applied; meta
# 'rule_changes_pruned' is the highest seq pruned, so a reader whose position is older knows
# the log no longer reaches back to it.
USER_CHANGE_TABLES: tuple[str, ...] = (
    "users",
    "user_groups",
    "user_doors",
    "totp_secrets",
)
SHARED_CHANGE_TABLES: tuple[str, ...] = (
    "public_pins",
    "access_rights",
    "access_groups",
    "group_rights",
    "holidays",
)


# A bulk write (`gateway.store.rules.changes_logged_as_one`) sets this meta key inside its
# transaction: the triggers then log nothing and count nothing per row; its end moves
# rules_version once and logs one entry that sends every reader to a full load.
_NOT_PAUSED = "WHEN (SELECT 1 FROM meta WHERE key = 'rule_changes_paused') IS NULL"


def _change_log_triggers() -> tuple[str, ...]:
    into = "INSERT INTO rule_changes (scope, user_id, kind, value)"
    log = f"{into} VALUES"
    statements = []
    for table in USER_CHANGE_TABLES:
        statements += [
            f"CREATE TRIGGER {table}_insert_log AFTER INSERT ON {table} {_NOT_PAUSED} BEGIN "
            f"{log} ('user', NEW.user_id, NULL, NULL); END",
            f"CREATE TRIGGER {table}_delete_log AFTER DELETE ON {table} {_NOT_PAUSED} BEGIN "
            f"{log} ('user', OLD.user_id, NULL, NULL); END",
            f"CREATE TRIGGER {table}_update_log AFTER UPDATE ON {table} {_NOT_PAUSED} BEGIN "
            f"{log} ('user', OLD.user_id, NULL, NULL); "
            f"{into} SELECT 'user', NEW.user_id, NULL, NULL"
            " WHERE NEW.user_id IS NOT OLD.user_id; END",
        ]
    statements += [
        f"CREATE TRIGGER credentials_insert_log AFTER INSERT ON credentials {_NOT_PAUSED} BEGIN "
        f"{log} ('credential', NEW.user_id, NEW.kind, NEW.value); END",
        f"CREATE TRIGGER credentials_delete_log AFTER DELETE ON credentials {_NOT_PAUSED} BEGIN "
        f"{log} ('credential', OLD.user_id, OLD.kind, OLD.value); END",
        f"CREATE TRIGGER credentials_update_log AFTER UPDATE ON credentials {_NOT_PAUSED} BEGIN "
        f"{log} ('credential', OLD.user_id, OLD.kind, OLD.value); "
        f"{into} SELECT 'credential', NEW.user_id, NEW.kind, NEW.value "
        "WHERE NEW.kind IS NOT OLD.kind OR NEW.value IS NOT OLD.value; END",
    ]
    for table in SHARED_CHANGE_TABLES:
        statements += [
            f"CREATE TRIGGER {table}_{op.lower()}_log AFTER {op} ON {table} {_NOT_PAUSED} "
            f"BEGIN {log} ('shared', NULL, NULL, NULL); END"
            for op in ("INSERT", "UPDATE", "DELETE")
        ]
    return tuple(statements)


def _paused_rules_version_triggers() -> tuple[str, ...]:
    """Step 1's and step 4's rules_version triggers, again with the bulk-write pause: a bulk
    write moves rules_version once, at its end."""
    statements = []
    for table in (*RULE_TABLES, "totp_secrets"):
        for op in ("INSERT", "UPDATE", "DELETE"):
            name = f"{table}_{op.lower()}_rules"
            statements += [
                f"DROP TRIGGER {name}",
                f"CREATE TRIGGER {name} AFTER {op} ON {table} {_NOT_PAUSED} BEGIN "
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                "WHERE key = 'rules_version'; END",
            ]
    return tuple(statements)


_V11_RULE_CHANGES: tuple[str, ...] = (
    "CREATE TABLE rule_changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " scope TEXT NOT NULL CHECK (scope IN ('user', 'credential', 'shared')),"
    " user_id TEXT,"
    " kind TEXT,"
    " value TEXT)",
    "INSERT INTO meta (key, value) VALUES ('rule_changes_pruned', '0')",
    *_change_log_triggers(),
    *_paused_rules_version_triggers(),
)

# The e-mail notifier's durable journal cursor (gateway/notify/): one row. `cursor` is
# NULL until the mailer first starts (it then starts at the journal's end, so enabling
# mail does not send the past); `outage` remembers that `notification_failed` was
# journaled, so a restart during an outage does not journal it again.
_V12_MAIL_CURSOR: tuple[str, ...] = (
    "CREATE TABLE mail_cursor ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " cursor INTEGER CHECK (cursor IS NULL OR cursor >= 0),"
    " last_sent REAL,"
    " outage INTEGER NOT NULL DEFAULT 0)",
    "INSERT INTO mail_cursor (id) VALUES (1)",
)

# The Akuvox plate "Duration": a licence plate may be valid only within a window, each end
# an ISO 8601 UTC time like users.expiry, NULL = unbounded (both NULL: a long-term plate,
# and every credential that is not a plate). `credentials` has its rules triggers already.
# And the Akuvox "Relay Schedule Activation Permission": whether a user's grant starts a
# door's first-person-in unlock schedule. Existing users get 1, as every grant did before.
# `users` has its rules triggers already.
_V13_PLATE_WINDOWS: tuple[str, ...] = (
    "ALTER TABLE credentials ADD COLUMN valid_from TEXT",
    "ALTER TABLE credentials ADD COLUMN valid_until TEXT",
    "ALTER TABLE users ADD COLUMN schedule_activation INTEGER NOT NULL DEFAULT 1 "
    "CHECK (schedule_activation IN (0, 1))",
)

# A user's elevator floors and web relay URLs: what a grant sets off besides the door, read
# after the decision (never by it), so neither table is a rules table.
_V14_USER_GRANT_ACTIONS: tuple[str, ...] = (
    "CREATE TABLE user_floors ("
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " floor TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, floor)) WITHOUT ROWID",
    "CREATE TABLE user_web_relays ("
    " user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,"
    " url TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, position)) WITHOUT ROWID",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1_TABLES + _V1_SEEDS + _rules_triggers()),
    Migration(2, "agents: journal forwarding targets and their cursors", _V2_AGENTS),
    Migration(3, "terminal settings, triggers, job codes, events by user", _V3_TERMINAL),
    Migration(4, "ACTAtek user extras: templates, key ids, TOTP secrets", _V4_ACTATEK_USERS),
    Migration(5, "events: the direction of a passage", _V5_EVENT_DIRECTION),
    Migration(6, "events: logs deleted through the API, kept for agents", _V6_LOG_CLEARED),
    Migration(7, "events: administrative and evidence retention classes", _V7_RETENTION_CLASSES),
    Migration(8, "technicians: disabled flag, credential version", _V8_TECHNICIAN_STATE),
    Migration(9, "users: lockdown override, a privilege of its own", _V9_LOCKDOWN_OVERRIDE),
    Migration(10, "events: the raw frame of a presentation", _V10_EVENT_RAW_FRAME),
    Migration(11, "rules: a change log, so a change is applied as a delta", _V11_RULE_CHANGES),
    Migration(12, "notifications: the mailer's durable journal cursor", _V12_MAIL_CURSOR),
    Migration(
        13, "plate validity windows, users' schedule activation permission", _V13_PLATE_WINDOWS
    ),
    Migration(14, "users: elevator floors and web relay URLs", _V14_USER_GRANT_ACTIONS),
)

LATEST_VERSION: int = MIGRATIONS[-1].version
