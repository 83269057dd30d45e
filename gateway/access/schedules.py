"""Weekly access schedules: may this user pass this door at this instant?

Access rights are ACTAtek-style weekly patterns of 48 half-hour slots of *local wall time*
per weekday, plus a HOLIDAY pattern used instead of the weekday's on holiday dates. Time
arrives as UTC epoch seconds and is converted with zoneinfo, so DST changes are handled by
the zone database: on a spring-forward day the skipped slots simply never occur, and on a
fall-back day the repeated hour is evaluated twice against the same slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.access.snapshot import (
    HOLIDAY,
    SLOTS_PER_DAY,
    WEEKDAYS,
    AccessRightRule,
    GroupRule,
    RulesSnapshot,
    UserRule,
)


@dataclass(frozen=True)
class LocalSlot:
    """Where an instant falls in the weekly schedule."""

    date: date
    day: str  # MONDAY..SUNDAY, or HOLIDAY when the local date is a holiday
    slot: int  # 0..47: hour * 2 + minute // 30 of local wall time


def local_slot(snapshot: RulesSnapshot, now: float, tz: ZoneInfo) -> LocalSlot:
    """The local date, pattern day and half-hour slot of `now` in the device time zone."""
    local = datetime.fromtimestamp(now, tz)
    today = local.date()
    day = HOLIDAY if today in snapshot.holidays else WEEKDAYS[local.weekday()]
    return LocalSlot(date=today, day=day, slot=local.hour * 2 + local.minute // 30)


def applicable_groups(snapshot: RulesSnapshot, user: UserRule, door: str) -> list[GroupRule]:
    """The user's groups that exist in the snapshot and apply to `door`, in the user's order.

    Group ids the snapshot does not know are skipped: a dangling reference grants nothing.
    """
    groups: list[GroupRule] = []
    for group_id in user.groups:
        group = snapshot.groups.get(group_id)
        if group is not None and (group.doors is None or door in group.doors):
            groups.append(group)
    return groups


def right_allows(right: AccessRightRule, day: str, slot: int) -> bool:
    """True when `right` has `slot` switched on for `day`.

    A malformed (short) pattern denies instead of raising: a bad row in the store must
    never crash the decision path, and denying is the safe side.
    """
    pattern = right.patterns.get(day)
    if pattern is None or len(pattern) < SLOTS_PER_DAY:
        return False
    return pattern[slot] == "1"


def schedule_allows(
    snapshot: RulesSnapshot, user: UserRule, door: str, now: float, tz: ZoneInfo
) -> tuple[bool, str]:
    """Whether `user`'s schedule lets them through `door` at `now`, and a trace saying why.

    Allowed when any applicable group has any existing access right whose pattern has the
    current local slot on. A group without rights means Never. The trace names the group
    and right that decided, e.g. "schedule:group=0,right=0,MONDAY,slot=17".
    """
    where = local_slot(snapshot, now, tz)
    groups = applicable_groups(snapshot, user, door)
    if not groups:
        return False, f"schedule:no_group_for_door,{where.day},slot={where.slot}"
    for group in groups:
        for right_id in group.rights:
            right = snapshot.rights.get(right_id)
            if right is not None and right_allows(right, where.day, where.slot):
                return True, (
                    f"schedule:group={group.id},right={right_id},{where.day},slot={where.slot}"
                )
    checked = ",".join(str(group.id) for group in groups)
    return False, f"schedule:denied,groups={checked},{where.day},slot={where.slot}"
