"""Opening the database: pragmas, migrations, and refusing files we must not touch."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.access.snapshot import ALWAYS_PATTERN
from gateway.store import db
from gateway.store.db import open_database, schema_version, write_transaction
from gateway.store.errors import StoreError
from gateway.store.schema import LATEST_VERSION, MIGRATIONS, Migration

EXPECTED_TABLES = {
    "schema_version",
    "meta",
    "users",
    "user_departments",
    "user_groups",
    "user_doors",
    "credentials",
    "public_pins",
    "departments",
    "access_rights",
    "access_groups",
    "group_rights",
    "holidays",
    "rule_changes",
    "technicians",
    "engine_state",
    "events",
    "agents",
    "terminal_settings",
    "triggers",
    "job_code_settings",
    "job_codes",
    "actatek_profiles",
    "credential_keys",
    "totp_secrets",
    "mail_cursor",
    "user_floors",
    "user_web_relays",
}


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows if not row[0].startswith("sqlite_")}


def test_new_file_gets_every_table_seeds_and_version(db_path: Path) -> None:
    conn = open_database(db_path)
    try:
        assert tables(conn) == EXPECTED_TABLES
        assert schema_version(conn) == LATEST_VERSION
        assert conn.execute("SELECT id, name FROM departments").fetchall() == [(0, "General")]
        right = conn.execute("SELECT * FROM access_rights").fetchall()
        assert right == [(0, "Always", right[0][2], *([ALWAYS_PATTERN] * 8))]
        assert conn.execute("SELECT * FROM access_groups").fetchall() == [(0, "General", 0, None)]
        assert conn.execute("SELECT * FROM group_rights").fetchall() == [(0, 0)]
        version = conn.execute("SELECT value FROM meta WHERE key = 'rules_version'").fetchone()
        assert int(version[0]) >= 1
    finally:
        conn.close()


def test_pragmas(db_path: Path) -> None:
    conn = open_database(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        conn.close()


def test_empty_file_is_a_new_database(db_path: Path) -> None:
    db_path.write_bytes(b"")
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == LATEST_VERSION
    finally:
        conn.close()


def test_reopening_keeps_data_and_runs_no_migration(db_path: Path) -> None:
    conn = open_database(db_path)
    conn.execute("INSERT INTO holidays (date) VALUES ('2027-12-25')")
    conn.close()
    again = open_database(db_path)
    try:
        assert again.execute("SELECT date FROM holidays").fetchall() == [("2027-12-25",)]
        assert schema_version(again) == LATEST_VERSION
        assert again.execute("SELECT COUNT(*) FROM departments").fetchone()[0] == 1
    finally:
        again.close()


def test_older_version_is_migrated_step_by_step(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_database(db_path).close()  # a file at today's version...
    step = Migration(
        LATEST_VERSION + 1,
        "add a column",
        ("ALTER TABLE holidays ADD COLUMN note TEXT NOT NULL DEFAULT ''",),
    )
    # ...opened by a door-gateway that knows one more step.
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(db, "LATEST_VERSION", step.version)
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == step.version
        columns = [row[1] for row in conn.execute("PRAGMA table_info(holidays)")]
        assert "note" in columns
    finally:
        conn.close()


def test_a_failing_step_leaves_the_previous_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_database(db_path).close()
    step = Migration(
        LATEST_VERSION + 1,
        "broken",
        ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"),
    )
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, step))
    monkeypatch.setattr(db, "LATEST_VERSION", step.version)
    with pytest.raises(StoreError, match=f"left at version {LATEST_VERSION}"):
        open_database(db_path)
    monkeypatch.undo()
    conn = open_database(db_path)
    try:
        assert schema_version(conn) == LATEST_VERSION
        assert "extra" not in tables(conn)  # the step's first statement was rolled back
    finally:
        conn.close()


def test_version_zero_file_is_migrated(db_path: Path) -> None:
    # A version table at 0 and nothing else (never written by us, but harmless).
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (0)")
    conn.commit()
    conn.close()
    migrated = open_database(db_path)
    try:
        assert schema_version(migrated) == LATEST_VERSION
        assert tables(migrated) == EXPECTED_TABLES
    finally:
        migrated.close()


def test_newer_version_is_refused(db_path: Path) -> None:
    open_database(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_version SET version = ?", (LATEST_VERSION + 5,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        open_database(db_path)
    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {LATEST_VERSION + 5}" in message
    assert f"knows up to {LATEST_VERSION}" in message
    assert "upgrade door-gateway or restore a backup" in message


def test_text_file_is_refused(db_path: Path) -> None:
    db_path.write_text("user_id,first_name\nA1,Ben\n")
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_database(db_path)
    assert db_path.read_text().startswith("user_id")  # untouched


def test_damaged_database_is_refused(db_path: Path) -> None:
    open_database(db_path).close()
    data = bytearray(db_path.read_bytes())
    data[16:] = b"\xff" * (len(data) - 16)  # keep the magic, wreck the rest
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="not a usable door-gateway database"):
        open_database(db_path)


def test_foreign_sqlite_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a door-gateway one"):
        open_database(db_path)


def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        open_database(tmp_path / "nowhere" / "gateway.db")


def test_two_connections_migrate_once(db_path: Path) -> None:
    first = open_database(db_path)
    second = open_database(db_path)
    try:
        assert schema_version(first) == schema_version(second) == LATEST_VERSION
        assert second.execute("SELECT COUNT(*) FROM departments").fetchone()[0] == 1
    finally:
        first.close()
        second.close()


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A COMMIT refused (here a deferred foreign key; in the field a full disk) rolls back:
    nothing is stored and the next write starts cleanly instead of failing for good."""
    conn = open_database(tmp_path / "gateway.db")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError), write_transaction(conn):
        conn.execute("INSERT INTO child (parent) VALUES (7)")  # refused only at COMMIT
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
    with write_transaction(conn):
        conn.execute("INSERT INTO parent (id) VALUES (7)")
        conn.execute("INSERT INTO child (parent) VALUES (7)")
    assert conn.execute("SELECT count(*) FROM child").fetchone() == (1,)
    conn.close()
