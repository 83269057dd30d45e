"""Runtime terminal settings of the ACTAtek API: key/value settings, triggers, job codes.

What the management API sets at runtime (relay settings, autoInOut, log settings, consent,
the simulated clock) is kept here as one JSON object per key; a key that is present
overrides the configuration file, one that is absent leaves the file in charge. Triggers
(IN, OUT, F1..F40) and job codes are stored and listed only: the engine never reads them.

`TerminalStore` works over the daemon's shared connection (`gateway.store.stores`), used by
the event loop and worker threads under one lock. Every write is one transaction and
validates first, so a refused call stores nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.access.snapshot import PATTERN_DAYS
from gateway.store.connection import LockedConnection, TableStore
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.records import JOB_CODE_ENABLES, JobCode, JobCodeSetting, Trigger
from gateway.store.schema import DAY_COLUMNS, TRIGGER_TYPES
from gateway.store.validate import MAX_NAME_LENGTH, check_text, normalise_patterns

__all__ = [
    "JOB_CODE_ENABLES",
    "TRIGGER_TYPES",
    "JobCode",
    "JobCodeSetting",
    "TerminalStore",
    "Trigger",
]

JOB_CODE_SETTINGS = (1, 2, 3)
FREE_JOBCODE_TRIGGERS = frozenset(f"F{n}" for n in range(1, 11))  # "only F1-F10"
_TRIGGER_COLUMNS = "type, name, enabled, free_jobcode, " + ", ".join(DAY_COLUMNS)


class TerminalStore(TableStore):
    """The terminal tables. Built by `Stores.open`, or on its own by `TerminalStore.open`."""

    @classmethod
    def open(cls, db_path: Path) -> TerminalStore:
        """Open (create, migrate) the database at `db_path` for this store alone."""
        return cls(LockedConnection.open(db_path))

    # -- key/value settings -----------------------------------------------------------

    def get(self, key: str) -> Any:
        """The JSON value stored under `key`, or None when the API never set it."""
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM terminal_settings WHERE key = ?", (key,))
            found = row.fetchone()
        return None if found is None else json.loads(found[0])

    def put(self, key: str, value: Any) -> None:
        """Store `value` (JSON-serialisable) under `key`, replacing what was there."""
        text = json.dumps(value, sort_keys=True, allow_nan=False)
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO terminal_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def delete(self, key: str) -> bool:
        """Forget `key` (the configuration file is in charge again)."""
        with self._writing() as conn:
            return conn.execute("DELETE FROM terminal_settings WHERE key = ?", (key,)).rowcount > 0

    # -- triggers -----------------------------------------------------------------------

    def triggers(self) -> list[Trigger]:
        """IN, OUT, F1..F40 in that order."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_TRIGGER_COLUMNS} FROM triggers ORDER BY position")
            return [_trigger(row) for row in rows]

    def trigger(self, type_: str) -> Trigger | None:
        """One trigger by type (IN, OUT, F1..F40), or None for another name."""
        return next((t for t in self.triggers() if t.type == type_), None)

    def put_triggers(self, triggers: Sequence[Trigger]) -> None:
        """Replace the name, flags and schedule of existing triggers: all or none."""
        rows = [_trigger_row(trigger) for trigger in triggers]
        columns = ", ".join(f"{c} = ?" for c in ("name", "enabled", "free_jobcode", *DAY_COLUMNS))
        with self._writing() as conn:
            conn.executemany(f"UPDATE triggers SET {columns} WHERE type = ?", rows)

    def clear_trigger_schedule(self, type_: str) -> None:
        """Remove a trigger's schedule (its name and flags stay); `NotFoundError`."""
        _check_trigger_type(type_)
        nulls = ", ".join(f"{c} = NULL" for c in DAY_COLUMNS)
        with self._writing() as conn:
            conn.execute(f"UPDATE triggers SET {nulls} WHERE type = ?", (type_,))

    # -- job codes ----------------------------------------------------------------------

    def job_code_settings(self) -> list[JobCodeSetting]:
        """The three job code settings, by number."""
        with self._reading() as conn:
            rows = conn.execute("SELECT jobcode, name, enabled FROM job_code_settings ORDER BY 1")
            return [JobCodeSetting(number, name, bool(on)) for number, name, on in rows]

    def put_job_code_settings(self, settings: Sequence[JobCodeSetting]) -> None:
        """Rename / enable job code settings 1-3: all or none."""
        for setting in settings:
            _check_setting_number(setting.jobcode)
            check_text("name", setting.name, MAX_NAME_LENGTH)
        with self._writing() as conn:
            conn.executemany(
                "UPDATE job_code_settings SET name = ?, enabled = ? WHERE jobcode = ?",
                [(s.name, int(s.enabled), s.jobcode) for s in settings],
            )

    def add_job_codes(self, codes: Sequence[JobCode]) -> None:
        """Add job codes: all or none; an existing (jobcode, id) is a `ValidationError`."""
        for code in codes:
            _check_job_code(code)
        with self._writing() as conn, _one_default():
            for index, code in enumerate(codes):
                if _job_code_exists(conn, code.jobcode, code.id):
                    raise ValidationError(
                        "id", f"jobcode {code.jobcode} id {code.id} already exists", index
                    )
                conn.execute(
                    "INSERT INTO job_codes (jobcode, id, name, enable) VALUES (?, ?, ?, ?)",
                    (code.jobcode, code.id, code.name, code.enable),
                )

    def update_job_codes(self, codes: Sequence[JobCode]) -> None:
        """Replace existing job codes: all or none; a missing one is `NotFoundError`.

        Demotions are written before promotions, so one request may move the default.
        """
        for code in codes:
            _check_job_code(code)
        ordered = sorted(codes, key=lambda code: code.enable == "default")
        with self._writing() as conn, _one_default():
            for code in ordered:
                updated = conn.execute(
                    "UPDATE job_codes SET name = ?, enable = ? WHERE jobcode = ? AND id = ?",
                    (code.name, code.enable, code.jobcode, code.id),
                )
                if updated.rowcount == 0:
                    raise NotFoundError("jobcode", f"{code.jobcode} id {code.id}")

    def delete_job_code(self, jobcode: int, id_: int, name: str) -> None:
        """Delete one job code; the name must be the stored one (the reference requires it,
        so a stale client cannot delete a code that was renamed meanwhile)."""
        with self._writing() as conn:
            row = conn.execute(
                "SELECT name FROM job_codes WHERE jobcode = ? AND id = ?", (jobcode, id_)
            ).fetchone()
            if row is None:
                raise NotFoundError("jobcode", f"{jobcode} id {id_}")
            if row[0] != name:
                raise ValidationError("name", f"jobcode {jobcode} id {id_} is named {row[0]!r}")
            conn.execute("DELETE FROM job_codes WHERE jobcode = ? AND id = ?", (jobcode, id_))

    def find_job_codes(
        self,
        jobcode: int | None = None,
        id_: int | None = None,
        name: str | None = None,
        enable: str | None = None,
    ) -> list[JobCode]:
        """Job codes matching every given filter (name: exact), by setting then id."""
        filters = {"jobcode": jobcode, "id": id_, "name": name, "enable": enable}
        clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
        args = [value for value in filters.values() if value is not None]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT jobcode, id, name, enable FROM job_codes {where} ORDER BY jobcode, id",
                args,
            )
            return [JobCode(*row) for row in rows]


def _trigger(row: Any) -> Trigger:
    # DAY_COLUMNS are PATTERN_DAYS in lower case, in the same order.
    type_, name, enabled, free, *days = row
    patterns = {day: p for day, p in zip(PATTERN_DAYS, days, strict=True) if p is not None}
    return Trigger(type_, name, bool(enabled), bool(free), patterns)


def _trigger_row(trigger: Trigger) -> tuple[object, ...]:
    _check_trigger_type(trigger.type)
    check_text("name", trigger.name, MAX_NAME_LENGTH)
    if not trigger.name.strip():
        raise ValidationError("name", "must not be empty")
    if trigger.free_jobcode and trigger.type not in FREE_JOBCODE_TRIGGERS:
        raise ValidationError("freeJobcode", "only F1-F10 can have a free job code")
    days = normalise_patterns(trigger.patterns)
    patterns = [days.get(day) for day in PATTERN_DAYS]
    return (trigger.name, int(trigger.enabled), int(trigger.free_jobcode), *patterns, trigger.type)


def _check_trigger_type(type_: str) -> None:
    if type_ not in TRIGGER_TYPES:
        raise ValidationError("type", f"{type_!r} is not IN, OUT or F1..F40")


def _check_setting_number(jobcode: int) -> None:
    if jobcode not in JOB_CODE_SETTINGS:
        raise ValidationError("jobcode", f"{jobcode!r} is not 1, 2 or 3")


def _check_job_code(code: JobCode) -> None:
    _check_setting_number(code.jobcode)
    if isinstance(code.id, bool) or not 1 <= code.id <= 999_999:
        raise ValidationError("id", f"{code.id!r} is not from 1 to 999999")
    check_text("name", code.name, MAX_NAME_LENGTH)
    if code.enable not in JOB_CODE_ENABLES:
        raise ValidationError("enable", f"{code.enable!r} is not enable, disable or default")


def _job_code_exists(conn: sqlite3.Connection, jobcode: int, id_: int) -> bool:
    found = conn.execute("SELECT 1 FROM job_codes WHERE jobcode = ? AND id = ?", (jobcode, id_))
    return found.fetchone() is not None


@contextmanager
def _one_default() -> Iterator[None]:
    """The partial unique index keeps one default per setting; say so in the API's words."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise ValidationError("enable", "only one default per jobcode setting") from exc
