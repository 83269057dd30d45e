"""Agents: HTTP endpoints that receive the event journal by push (ACTAtek REST API, 9).

An agent is identified by its URL, as in the reference (`register Agent` takes `url`,
`agentVersion`, `magic`, `initSync`; `unregister Agent` takes the `url`). Each agent has a
durable cursor: the last journal `seq` it acknowledged with an HTTP 2xx. It lives in the
same SQLite file as the journal, so the journal's retention rule (`min_active_cursor`) and
the forwarder agree on what was delivered.

A URL may carry `user:password@` for HTTP basic auth; that part is a secret. Lists, status
pages, events and logs show `public_url` (the URL without it), which is also unique, so an
agent can be unregistered by either form. Put secrets in `magic` or the user info, never
in the query string: the query is shown.

`AgentStore` has one connection of its own, shared by the event loop's executor threads
(the forwarder, the management API), hence `check_same_thread=False` and a lock. Every call
is short; call it from a worker thread, not the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.store.connection import LockedConnection, TableStore
from gateway.store.db import open_database
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.validate import MAX_URL_LENGTH

__all__ = [
    "DEFAULT_AGENT_VERSION",
    "MAX_AGENTS",
    "Agent",
    "AgentStore",
    "agents_behind",
    "iso_utc",
    "min_active_cursor",
    "public_url",
    "validate_url",
]

MAX_AGENTS = 16  # each one is a task and an HTTP client on a Raspberry Pi
MAX_VERSION_LENGTH = 16
MAX_MAGIC_LENGTH = 256
DEFAULT_AGENT_VERSION = "1.2"  # the reference's default when `agentVersion` is absent
NEVER = "1970-01-01T00:00:00Z"  # how the reference lists a time that never happened
MAX_STATUS_LENGTH = 200

_COLUMNS = (
    "id, url, public_url, agent_version, magic, active, cursor, init_sync, registered_at, "
    "last_update, last_check, last_check_ok, last_check_status, backlog_alarm"
)


def iso_utc(epoch: float | None) -> str:
    """`2025-08-29T07:11:04Z` (the reference's agent time format); `NEVER` for None."""
    if epoch is None:
        return NEVER
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Agent:
    """One registered agent as stored. `url` and `magic` are secrets: never shown."""

    id: int
    url: str = field(repr=False)
    public_url: str
    agent_version: str
    magic: str = field(repr=False)
    active: bool
    cursor: int
    init_sync: bool  # a full resend was requested and the forwarder has not taken it yet
    registered_at: float
    last_update: float | None  # last successful push (UTC epoch seconds)
    last_check: float | None  # last attempt, successful or not
    last_check_ok: bool
    last_check_status: str  # "HTTP 200", "HTTP 500", "timeout", "ClientConnectorError"
    backlog_alarm: bool

    def as_reference(self) -> dict[str, Any]:
        """The `get Registered Agents` fields, plus our `agentVersion`, `initSync`,
        `lastCheckDetail` and `cursor` (documented in docs/forwarding.md)."""
        return {
            "url": self.public_url,
            "registrationTime": iso_utc(self.registered_at),
            "lastUpdate": iso_utc(self.last_update),
            "lastCheck": iso_utc(self.last_check),
            "lastCheckStatus": self.last_check_ok,
            "active": self.active,
            "agentVersion": self.agent_version,
            "initSync": self.init_sync,
            "lastCheckDetail": self.last_check_status,
            "cursor": self.cursor,
        }


def _agent(row: Any) -> Agent:
    (id_, url, public, version, magic, active, cursor, init_sync, registered) = row[:9]
    (last_update, last_check, ok, status, alarm) = row[9:]
    return Agent(
        id=id_,
        url=url,
        public_url=public,
        agent_version=version,
        magic=magic,
        active=bool(active),
        cursor=cursor,
        init_sync=bool(init_sync),
        registered_at=registered,
        last_update=last_update,
        last_check=last_check,
        last_check_ok=bool(ok),
        last_check_status=status,
        backlog_alarm=bool(alarm),
    )


# --------------------------------------------------------------------------- validation


def validate_url(url: object) -> str:
    """The URL if it is an http(s) URL with a host an agent can be reached at.

    Raises `ValidationError("url", ...)`. Spaces and control characters are refused rather
    than quoted: a URL that needs quoting was most likely pasted wrong.
    """
    if not isinstance(url, str) or not url:
        raise ValidationError("url", "expected an http:// or https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError("url", f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("url", "contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ValidationError("url", f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("url", "expected an http:// or https:// URL with a host")
    if port == 0:
        raise ValidationError("url", "port 0 is not a port an agent can listen on")
    if parts.fragment:
        raise ValidationError("url", "a URL sent to a server has no #fragment")
    return url


def public_url(url: str) -> str:
    """The URL without `user:password@`: what lists, status pages and events show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url  # nothing to hide: shown exactly as registered
    host_port = parts.netloc.rpartition("@")[2]  # a password may itself hold an "@"
    return urlunsplit((parts.scheme, host_port, parts.path, parts.query, parts.fragment))


def _check_text(field_name: str, value: str, limit: int) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError(field_name, "contains control characters")
    if len(value) > limit:
        raise ValidationError(field_name, f"longer than {limit} characters")
    return value


# --------------------------------------------------------------------------- retention


def min_active_cursor(conn: sqlite3.Connection) -> int | None:
    """The lowest cursor among active agents: every row with seq <= it was delivered to
    all of them. None without an active agent (then nothing waits for delivery)."""
    row = conn.execute("SELECT MIN(cursor) FROM agents WHERE active = 1").fetchone()
    return None if row[0] is None else int(row[0])


def agents_behind(conn: sqlite3.Connection, seq: int) -> list[tuple[int, str, int]]:
    """(id, public_url, cursor) of the active agents that have not acknowledged `seq`."""
    rows = conn.execute(
        "SELECT id, public_url, cursor FROM agents WHERE active = 1 AND cursor < ? ORDER BY id",
        (seq,),
    ).fetchall()
    return [(int(i), str(u), int(c)) for i, u, c in rows]


def _journal_last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return 0 if row is None else int(row[0])


# --------------------------------------------------------------------------- store


class AgentStore(TableStore):
    """The agents table, over a connection of its own (see `open`); close with `close()`
    (or with its `Stores`)."""

    @classmethod
    def open(cls, db_path: Path) -> AgentStore:
        """Open (create, migrate) the database at `db_path`; raises `StoreError`.

        The agents have their own connection: a cursor is the proof of delivery the
        journal's retention trusts, so it is synced to disk at every commit (one per pushed
        batch, on a worker thread), which the other stores' writes need not pay for."""
        conn = open_database(db_path, check_same_thread=False)
        conn.execute("PRAGMA synchronous = FULL")
        return cls(LockedConnection(conn, db_path, "agents in database"))

    # -- the management API (ACTAtek register / unregister / list) -----------------------

    def register(
        self,
        url: str,
        *,
        now: float,
        agent_version: str | None = None,
        magic: str | None = None,
        init_sync: bool = False,
    ) -> Agent:
        """Register an agent, or update the one with the same public URL; returns it.

        A new agent starts after the newest journal row (only new events are pushed)
        unless `init_sync`, which sends the whole journal. Registering a known URL again
        keeps its cursor (`init_sync` resets it) and makes it active. `ValidationError`
        for a bad field or when `MAX_AGENTS` are already registered.
        """
        url = validate_url(url)
        version = _check_text(
            "agentVersion", agent_version or DEFAULT_AGENT_VERSION, MAX_VERSION_LENGTH
        )
        secret = _check_text("magic", magic or "", MAX_MAGIC_LENGTH)
        public = public_url(url)
        with self._writing() as conn:
            row = conn.execute("SELECT id FROM agents WHERE public_url = ?", (public,)).fetchone()
            if row is None:
                agent_id = self._insert(conn, url, public, version, secret, init_sync, now)
            else:
                agent_id = int(row[0])
                self._update(conn, agent_id, url, version, secret, init_sync)
            return self._get(conn, agent_id)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        url: str,
        public: str,
        version: str,
        magic: str,
        init_sync: bool,
        now: float,
    ) -> int:
        count = int(conn.execute("SELECT COUNT(*) FROM agents").fetchone()[0])
        if count >= MAX_AGENTS:
            raise ValidationError("url", f"at most {MAX_AGENTS} agents can be registered")
        cursor = 0 if init_sync else _journal_last_seq(conn)
        inserted = conn.execute(
            "INSERT INTO agents (url, public_url, agent_version, magic, cursor, init_sync, "
            "registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (url, public, version, magic, cursor, int(init_sync), now),
        )
        assert inserted.lastrowid is not None
        return inserted.lastrowid

    @staticmethod
    def _update(
        conn: sqlite3.Connection,
        agent_id: int,
        url: str,
        version: str,
        magic: str,
        init_sync: bool,
    ) -> None:
        conn.execute(
            "UPDATE agents SET url = ?, agent_version = ?, magic = ?, active = 1 WHERE id = ?",
            (url, version, magic, agent_id),
        )
        if init_sync:
            conn.execute("UPDATE agents SET cursor = 0, init_sync = 1 WHERE id = ?", (agent_id,))

    def unregister(self, url: str) -> Agent:
        """Remove the agent registered as `url` (full or public form); `NotFoundError`."""
        with self._writing() as conn:
            agent = self._find(conn, url)
            conn.execute("DELETE FROM agents WHERE id = ?", (agent.id,))
        return agent

    def set_active(self, url: str, active: bool) -> Agent:
        """Pause (False) or resume (True) pushing to an agent; its cursor is kept.

        An inactive agent no longer holds back the journal's retention.
        """
        with self._writing() as conn:
            agent = self._find(conn, url)
            conn.execute("UPDATE agents SET active = ? WHERE id = ?", (int(active), agent.id))
            return self._get(conn, agent.id)

    def request_init_sync(self, url: str) -> Agent:
        """Send the whole journal again: cursor back to 0, flagged for the forwarder."""
        with self._writing() as conn:
            agent = self._find(conn, url)
            conn.execute("UPDATE agents SET cursor = 0, init_sync = 1 WHERE id = ?", (agent.id,))
            return self._get(conn, agent.id)

    def list(self) -> list[Agent]:
        """Every agent, oldest registration first."""
        with self._reading() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM agents ORDER BY id").fetchall()
        return [_agent(row) for row in rows]

    def find(self, url: str) -> Agent | None:
        """The agent registered as `url` (full or public form), or None."""
        with self._reading() as conn:
            try:
                return self._find(conn, url)
            except NotFoundError:
                return None

    def get(self, agent_id: int) -> Agent | None:
        """The agent with internal id `agent_id`, or None."""
        with self._reading() as conn:
            try:
                return self._get(conn, agent_id)
            except NotFoundError:
                return None

    @staticmethod
    def _find(conn: sqlite3.Connection, url: str) -> Agent:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM agents WHERE url = ? OR public_url = ? ORDER BY id LIMIT 1",
            (url, url),
        ).fetchone()
        if row is None:
            raise NotFoundError("agent", _shown(url))
        return _agent(row)

    @staticmethod
    def _get(conn: sqlite3.Connection, agent_id: int) -> Agent:
        row = conn.execute(f"SELECT {_COLUMNS} FROM agents WHERE id = ?", (agent_id,)).fetchone()
        if row is None:
            raise NotFoundError("agent", agent_id)
        return _agent(row)

    # -- the forwarder ------------------------------------------------------------------

    def take_init_sync(self, agent_id: int) -> Agent | None:
        """The agent as the forwarder resumes it, with a pending init-sync request taken
        (cleared) in the same transaction; None when it was unregistered."""
        with self._writing() as conn:
            try:
                agent = self._get(conn, agent_id)
            except NotFoundError:
                return None
            if agent.init_sync:
                conn.execute("UPDATE agents SET init_sync = 0 WHERE id = ?", (agent_id,))
        return agent

    def record_success(self, agent_id: int, cursor: int, now: float, status: str) -> bool:
        """A batch up to `cursor` was acknowledged with a 2xx at `now`.

        The cursor is stored only when no init sync is pending (a request made while the
        batch was in flight wins) and only forwards. True when it was stored.
        """
        with self._writing() as conn:
            conn.execute(
                "UPDATE agents SET last_update = ?, last_check = ?, last_check_ok = 1, "
                "last_check_status = ? WHERE id = ?",
                (now, now, status[:MAX_STATUS_LENGTH], agent_id),
            )
            moved = conn.execute(
                "UPDATE agents SET cursor = ? WHERE id = ? AND init_sync = 0 AND cursor <= ?",
                (cursor, agent_id, cursor),
            )
            return moved.rowcount == 1

    def record_failure(self, agent_id: int, now: float, status: str) -> None:
        """An attempt at `now` failed with `status` (no secret in it: see the forwarder)."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE agents SET last_check = ?, last_check_ok = 0, last_check_status = ? "
                "WHERE id = ?",
                (now, status[:MAX_STATUS_LENGTH], agent_id),
            )

    def set_backlog_alarm(self, agent_id: int, on: bool) -> None:
        """Remember that the backlog alarm is raised, so a restart does not repeat it."""
        with self._writing() as conn:
            conn.execute("UPDATE agents SET backlog_alarm = ? WHERE id = ?", (int(on), agent_id))

    def user_labels(self, user_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """user id -> (userName, departmentName) as getFullLogs shows them: first and
        last name, and the user's first department. Unknown ids are left out."""
        ids = json.dumps(sorted(set(user_ids)))
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT u.user_id, u.first_name, u.last_name, COALESCE(("
                " SELECT d.name FROM user_departments ud"
                " JOIN departments d ON d.id = ud.department_id"
                " WHERE ud.user_id = u.user_id ORDER BY ud.position LIMIT 1), '')"
                " FROM users u WHERE u.user_id IN (SELECT value FROM json_each(?))",
                (ids,),
            ).fetchall()
        return {
            user: (" ".join(p for p in (first, last) if p), department)
            for user, first, last, department in rows
        }


def _shown(url: str) -> str:
    # An unknown URL in an error message: never echo a password someone typed.
    try:
        return public_url(url)
    except ValueError:
        return "(unparsable url)"
