"""The MQTT publisher's durable cursor: the last journal seq the broker acknowledged.

It is one row of the `meta` table (`mqtt_cursor`), in the same file as the journal, so no
migration is needed and a restart resumes after the last acknowledged event. The cursor
does not hold back the journal's retention (agents do, `gateway.store.agents`): a broker
unreachable for longer than the journal holds loses the oldest events, and the publisher
says so (`MqttPublisher.status()["lost"]`, and a warning in the service log).

One connection of its own, shared by the event loop's executor threads, hence a lock.
Call it from a worker thread, not the event loop.
"""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.store.db import open_database, sqlite_errors, write_transaction

CURSOR_KEY = "mqtt_cursor"


class MqttCursorStore:
    """Reads and moves the MQTT cursor."""

    def __init__(self, db_path: Path) -> None:
        self._what = f"MQTT cursor in {db_path}"
        self._lock = threading.Lock()
        self._conn = open_database(db_path, check_same_thread=False)

    def read(self) -> int | None:
        """The last acknowledged seq; None before the first start with MQTT."""
        with self._lock, sqlite_errors(self._what):
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)
            ).fetchone()
        return None if row is None else int(row[0])

    def write(self, seq: int) -> None:
        """Remember `seq` as acknowledged (durably: the journal's own sync settings)."""
        with self._lock, sqlite_errors(self._what), write_transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (CURSOR_KEY, str(seq)),
            )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
