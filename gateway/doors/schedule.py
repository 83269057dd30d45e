"""Unlock and bell schedules for a door: an access right's weekly slots, read from the rules.

The door controller only sees `ScheduleCheck`, a callable `active(now) -> bool`. The app
builds one per door from the rules snapshot with `right_schedule`, so the controller needs
no store. The slot logic (device time zone, HOLIDAY pattern on holiday dates, DST) is the
engine's own (`gateway.access.schedules`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from zoneinfo import ZoneInfo

from gateway.access.schedules import local_slot, right_allows
from gateway.access.snapshot import RulesSnapshot

ScheduleCheck = Callable[[float], bool]

# Every UTC offset in the zone database is a whole number of quarter hours, so the local
# half-hour slot boundaries all fall on UTC quarter-hour boundaries.
BOUNDARY_S = 900.0


def right_schedule(
    snapshot: Callable[[], RulesSnapshot], right_id: int, tz: ZoneInfo
) -> ScheduleCheck:
    """`active(now)`: True while access right `right_id` has the local slot of `now` on.

    The snapshot is read on every call, so a reload of the rules is seen at the next
    evaluation. A right that does not exist (deleted, or not loaded yet) is never active:
    the door stays locked.
    """

    def active(now: float) -> bool:
        rules = snapshot()
        right = rules.rights.get(right_id)
        if right is None:
            return False
        where = local_slot(rules, now, tz)
        return right_allows(right, where.day, where.slot)

    return active


def next_boundary(now: float) -> float:
    """The first quarter-hour boundary (UTC epoch seconds) strictly after `now`."""
    return (math.floor(now / BOUNDARY_S) + 1) * BOUNDARY_S
