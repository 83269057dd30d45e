"""Helpers of the terminal sections (logs, triggers, agents, time, terminal, job codes):
xsd:datetime parsing with the reference's `Z`/local rule, strict bodies, and routes that
answer with and without the trailing slash some of the reference's paths carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.web.actatek.common import ActatekError, Handler, read_json
from gateway.web.actatek.users_common import no_unknown_keys, short

_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
MIN_YEAR = 1970


@dataclass(frozen=True)
class XsdTime:
    """A parsed xsd:datetime: the instant, and how the client wrote it."""

    when: datetime  # aware
    utc: bool  # written with 'Z'
    fraction: bool  # written with fractional seconds

    def journal_time(self) -> str:
        """The instant in the journal's UTC text form (`2027-01-15T09:00:00.123Z`)."""
        moment = self.when.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_xsd_time(field: str, raw: str, tz: ZoneInfo) -> XsdTime:
    """`2025-07-16T10:24:13Z` (UTC), `2025-07-16T10:24:13` (local time in `tz`; in a DST
    overlap the earlier instant), or with an explicit offset; fractions allowed."""
    match = _DATETIME.fullmatch(raw)
    if match is None:
        raise ActatekError(f"{field}: expected a date and time like 2025-07-16T10:24:13[Z]")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction or ".0")[1:].ljust(6, "0"))
    try:
        when = datetime(year, month, day, hour, minute, second, micro, tzinfo=_zone(zone, tz))
        when.astimezone(UTC)  # a local time at the edge of the calendar may not convert
    except (ValueError, OverflowError):
        raise ActatekError(f"{field}: {short(raw)} is not a valid date and time") from None
    if year < MIN_YEAR:
        raise ActatekError(f"{field}: expected a year from {MIN_YEAR}")
    return XsdTime(when, zone == "Z", fraction is not None)


def _zone(zone: str | None, tz: ZoneInfo) -> tzinfo:
    if zone is None:
        return tz
    if zone == "Z":
        return UTC
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(zone)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


async def read_object(request: web.Request, known: frozenset[str], what: str) -> Mapping[str, Any]:
    """The body as one JSON object with only `known` fields."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    no_unknown_keys(body, known, what)
    return body


def seconds(value: float) -> int | float:
    """A duration as the reference's integer seconds when it is whole."""
    return int(value) if float(value).is_integer() else value


def add_both(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Route `path` with and without a trailing slash (the reference writes both)."""
    app.router.add_route(method, path.rstrip("/"), handler)
    app.router.add_route(method, path.rstrip("/") + "/", handler)


def enable_word(raw: str, field: str = "enable") -> bool:
    """'enable'/'1'/'true' or 'disable'/'0'/'false' (ACTAtek path flags)."""
    words = {"enable": True, "1": True, "true": True, "disable": False, "0": False, "false": False}
    value = words.get(raw.lower()) if raw.isascii() else None
    if value is None:
        raise ActatekError(f"{field}: expected enable, disable, true, false, 1 or 0")
    return value
