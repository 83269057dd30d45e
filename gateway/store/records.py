"""Records the store hands back besides `User`: departments, access rights, groups, ..."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Department:
    """An ACTAtek department."""

    id: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class AccessRight:
    """A weekly schedule: day name (MONDAY..SUNDAY, HOLIDAY) -> 48 half-hour slots.

    A day missing from `patterns` has no access at all.
    """

    id: int
    name: str
    description: str = ""
    patterns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessGroup:
    """An access group: its access rights, and the doors it covers (None = every door)."""

    id: int
    name: str
    department_id: int = 0
    rights: tuple[int, ...] = ()
    doors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Technician:
    """A person allowed on the status page and the management API (no password here)."""

    username: str
    level: str
    must_change: bool = False


@dataclass(frozen=True)
class HolidayChange:
    """What an add/remove of holidays did: the dates changed, and the inputs refused.

    `invalid` holds the inputs as given (ACTAtek reports them back as `invalid_dates`):
    unparseable dates, and for a removal also dates that were not holidays.
    """

    changed: tuple[date, ...] = ()
    invalid: tuple[str, ...] = ()
