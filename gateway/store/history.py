"""The last 24 hours of the journal, per local hour: grants, denials and door alarms.

One SQL statement counts them: SQLite finds the window through the `events_time` index
and sums inside the query, so a busy site's day of events is never loaded into Python.
Hours are local hours of the site's time zone (in a +05:30 zone they start at :30 UTC),
the last one being the current hour so far. Rows the API cleared from the access log
(`log_cleared`, kept only for agents) are not counted, as the access log no longer lists
them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.store.db import open_database, sqlite_errors
from gateway.store.journal import utc_iso

HOURS = 24
HOUR_S = 3600
# The alarms a door raises; their clears and acknowledgements are not new alarms.
DOOR_ALARMS = ("forced_open", "held_open", "tamper")

_DOOR_ALARM_LIST = ", ".join(f"'{reason}'" for reason in DOOR_ALARMS)
# strftime('%s') drops the milliseconds, which never moves a row across an hour boundary.
_COUNT_BY_HOUR = f"""
SELECT (CAST(strftime('%s', time) AS INTEGER) - :start) / {HOUR_S} AS hour,
       SUM(type = 'access' AND granted = 1),
       SUM(type = 'access' AND granted = 0),
       SUM(type = 'alarm' AND door IS NOT NULL AND reason IN ({_DOOR_ALARM_LIST}))
FROM events
WHERE time >= :first AND time < :end AND log_cleared = 0
GROUP BY hour
"""


@dataclass(frozen=True)
class HourCounts:
    """One hour of the chart: when it starts (epoch seconds) and what happened in it."""

    start: float
    label: str  # its local start, "14:00"
    local_start: str  # ISO 8601 with the offset, "2027-01-15T14:00:00+01:00"
    granted: int = 0
    denied: int = 0
    alarms: int = 0


@dataclass(frozen=True)
class History:
    """The last `HOURS` local hours, oldest first, the current hour last."""

    hours: tuple[HourCounts, ...]
    timezone: str

    def totals(self) -> dict[str, int]:
        """Each count summed over the window."""
        return {
            "granted": sum(hour.granted for hour in self.hours),
            "denied": sum(hour.denied for hour in self.hours),
            "alarms": sum(hour.alarms for hour in self.hours),
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of `GET /api/v1/history`."""
        return {
            "timezone": self.timezone,
            "totals": self.totals(),
            "hours": [
                {
                    "start": hour.local_start,
                    "label": hour.label,
                    "granted": hour.granted,
                    "denied": hour.denied,
                    "alarms": hour.alarms,
                }
                for hour in self.hours
            ],
        }


def hour_starts(now: float, tz: ZoneInfo) -> list[float]:
    """The epoch starts of the `HOURS` local hours that end with the one holding `now`."""
    local = datetime.fromtimestamp(now, tz)
    current = local.replace(minute=0, second=0, microsecond=0).timestamp()
    return [current - HOUR_S * (HOURS - 1 - index) for index in range(HOURS)]


def hourly_history(conn: sqlite3.Connection, now: float, tz: ZoneInfo) -> History:
    """Count the window ending with the current local hour on `conn` (one statement)."""
    starts = hour_starts(now, tz)
    first = int(starts[0])
    rows = conn.execute(
        _COUNT_BY_HOUR,
        {"start": first, "first": utc_iso(first), "end": utc_iso(starts[-1] + HOUR_S)},
    ).fetchall()
    found = {int(row[0]): (int(row[1]), int(row[2]), int(row[3])) for row in rows}
    hours = []
    for index, start in enumerate(starts):
        granted, denied, alarms = found.get(index, (0, 0, 0))
        local = datetime.fromtimestamp(start, tz)
        hours.append(
            HourCounts(start, local.strftime("%H:%M"), local.isoformat(), granted, denied, alarms)
        )
    return History(tuple(hours), str(tz))


def read_history(db_path: Path, now: float, tz: ZoneInfo) -> History:
    """`hourly_history` on a short-lived connection of its own (call it off the loop)."""
    with sqlite_errors(f"event journal {db_path}"):
        conn = open_database(db_path)
        try:
            return hourly_history(conn, now, tz)
        finally:
            conn.close()
