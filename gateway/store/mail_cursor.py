"""The e-mail notifier's durable cursor over the event journal (`gateway.notify`).

Every journal row with `seq <= cursor` has been looked at, and every one of them that was
to be mailed was accepted by the mail server. The mailer moves it only after the server
accepted a mail, so a crash or a mail outage sends a notification again at worst, never
loses one. Rows it skips (nothing to mail) may move it later, lazily: reading them again
after a crash sends nothing.

Its own connection, synced at every commit like the agents' cursors: it is a proof of
delivery. Every call is short; call it from a worker thread, not the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.store.connection import LockedConnection, TableStore
from gateway.store.db import open_database

__all__ = ["MailCursor", "MailCursorStore"]


@dataclass(frozen=True)
class MailCursor:
    """The stored state of the mailer."""

    cursor: int  # the last journal seq looked at and, if it was to be mailed, mailed
    last_sent: float | None  # UTC epoch seconds of the last mail the server accepted
    outage: bool  # notification_failed is journaled, notification_recovered not yet


class MailCursorStore(TableStore):
    """The `mail_cursor` row, over a connection of its own."""

    @classmethod
    def open(cls, db_path: Path) -> MailCursorStore:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`."""
        conn = open_database(db_path, check_same_thread=False)
        conn.execute("PRAGMA synchronous = FULL")
        return cls(LockedConnection(conn, db_path, "mail cursor in database"))

    def resume(self) -> MailCursor:
        """The stored state; a cursor never set starts at the journal's newest row (so
        turning mail on does not send the past), and is stored as such."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE mail_cursor SET cursor = COALESCE((SELECT seq FROM sqlite_sequence "
                "WHERE name = 'events'), 0) WHERE id = 1 AND cursor IS NULL"
            )
            cursor, last_sent, outage = conn.execute(
                "SELECT cursor, last_sent, outage FROM mail_cursor WHERE id = 1"
            ).fetchone()
        return MailCursor(int(cursor), last_sent, bool(outage))

    def sent(self, cursor: int, now: float) -> None:
        """The server accepted a mail of every row to be mailed up to `cursor`, at `now`."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE mail_cursor SET cursor = MAX(cursor, ?), last_sent = ? WHERE id = 1",
                (cursor, now),
            )

    def skipped(self, cursor: int) -> None:
        """Rows up to `cursor` held nothing to mail (only forwards)."""
        with self._writing() as conn:
            conn.execute("UPDATE mail_cursor SET cursor = MAX(cursor, ?) WHERE id = 1", (cursor,))

    def set_outage(self, on: bool) -> None:
        """Remember whether `notification_failed` is journaled and not yet recovered."""
        with self._writing() as conn:
            conn.execute("UPDATE mail_cursor SET outage = ? WHERE id = 1", (int(on),))
