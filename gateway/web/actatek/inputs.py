"""Strict input of the ACTAtek API: bodies, fields, query parameters, path parts, times.

Every parser refuses with `ActatekError` and a message naming the field, so a typo or a
value out of range is never silently ignored or cut.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.web.actatek.answers import ActatekError
from gateway.web.strictjson import read_strict_json

MAX_BODY_BYTES = 4 * 1024 * 1024  # a 2 MB face photo in base64 fits
SMALL_BODY_BYTES = 64 * 1024
ID_MAX = 2**31 - 1  # department, access right and group ids (ACTAtek "integer")
MAX_QUERY_VALUE = 256

# -- bodies and fields ------------------------------------------------------------------


async def read_json(request: web.Request, max_bytes: int = SMALL_BODY_BYTES) -> Any:
    """The body as strict JSON (gateway.web.strictjson), at most `max_bytes`."""
    return await read_strict_json(request, max_bytes)  # BodyRejected: the common error


def one_or_many(body: Any) -> tuple[list[Mapping[str, Any]], bool]:
    """The reference's "single object or array form": (objects, was_array)."""
    if isinstance(body, dict):
        return [body], False
    if isinstance(body, list) and body and all(isinstance(item, dict) for item in body):
        if len(body) > 10_000:
            raise ActatekError("at most 10000 objects in one request")
        return list(body), True
    raise ActatekError("expected a JSON object or a non-empty array of objects")


def text(
    obj: Mapping[str, Any], name: str, max_len: int = 64, required: bool = False
) -> str | None:
    """A string field of at most `max_len` characters (no control characters)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if not isinstance(value, str) or len(value) > max_len or not value.isprintable():
        raise ActatekError(f"{name}: expected text of at most {max_len} characters")
    return value


def integer(
    obj: Mapping[str, Any], name: str, low: int, high: int, required: bool = False
) -> int | None:
    """An integer field within [low, high] (booleans and floats are refused)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ActatekError(f"{name}: expected a whole number from {low} to {high}")
    return value


def boolean(obj: Mapping[str, Any], name: str, required: bool = False) -> bool | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise ActatekError(f"{name}: required")
        return None
    if not isinstance(value, bool):
        raise ActatekError(f"{name}: expected true or false")
    return value


def integers(
    obj: Mapping[str, Any], name: str, low: int, high: int, max_items: int = 64
) -> list[int] | None:
    """An integer or an array of integers (the reference allows both)."""
    value = obj.get(name)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if len(items) > max_items:
        raise ActatekError(f"{name}: at most {max_items} values")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
            raise ActatekError(f"{name}: expected whole numbers from {low} to {high}")
    return list(items)


def path_int(request: web.Request, name: str, low: int, high: int) -> int:
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not low <= int(raw) <= high:
        raise ActatekError(f"{name}: expected a whole number from {low} to {high}")
    return int(raw)


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def short(value: str, limit: int = 64) -> str:
    """A client-supplied name quoted for an error message, cut to `limit` characters."""
    return repr(value[:limit] + ("..." if len(value) > limit else ""))


def query_params(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query string as a dict: only `allowed` names, each at most once."""
    params: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in allowed:
            raise ActatekError(
                f"unknown query parameter {short(key)}; expected {', '.join(allowed)}"
            )
        if key in params:
            raise ActatekError(f"{key}: given more than once")
        if len(value) > MAX_QUERY_VALUE or not value.isprintable():
            raise ActatekError(f"{key}: expected text of at most {MAX_QUERY_VALUE} characters")
        params[key] = value
    return params


def query_int(params: Mapping[str, str], name: str, high: int = ID_MAX) -> int | None:
    """An integer query parameter from 0 to `high`, or None when absent."""
    raw = params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > high:
        raise ActatekError(f"{name}: expected a whole number from 0 to {high}")
    return int(raw)


def path_id(request: web.Request, name: str = "id") -> int:
    """An id from the path, 0 to ID_MAX (ASCII digits only: "²" is a digit to Python)."""
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > ID_MAX:
        raise ActatekError(f"{name}: expected a whole number from 0 to {ID_MAX}")
    return int(raw)


def expect_object(body: Any) -> Mapping[str, Any]:
    """The body must be one JSON object."""
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    return body


def no_unknown_keys(obj: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    """Refuse fields this API does not know: a typo must not be silently ignored."""
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ActatekError(f"{what}: unknown field {short(unknown[0])}")


async def read_object(request: web.Request, known: frozenset[str], what: str) -> Mapping[str, Any]:
    """The body as one JSON object with only `known` fields."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    no_unknown_keys(body, known, what)
    return body


def enable_word(raw: str, field: str = "enable") -> bool:
    """'enable'/'1'/'true' or 'disable'/'0'/'false' (ACTAtek path flags)."""
    words = {"enable": True, "1": True, "true": True, "disable": False, "0": False, "false": False}
    value = words.get(raw.lower()) if raw.isascii() else None
    if value is None:
        raise ActatekError(f"{field}: expected enable, disable, true, false, 1 or 0")
    return value


# -- times --------------------------------------------------------------------------------


def journal_time(epoch: float) -> str:
    """`epoch` in the journal's UTC text form (`2027-01-15T09:00:00.123Z`), as its rows'
    times are compared."""
    return _utc_text(datetime.fromtimestamp(epoch, UTC))


def _utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        return _utc_text(self.when.astimezone(UTC))


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
