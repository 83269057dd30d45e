"""How the status page writes values a technician reads: times, ages, sizes (Jinja
filters, registered by `site.setup_site`). Pure functions: no clock of their own, the
present moment is the status's own `device.time`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNKNOWN = "—"


def duration(seconds: float | None) -> str:
    """`3 d 4 h`, `2 h 5 min`, `4 min 10 s`, `12 s`."""
    if seconds is None:
        return UNKNOWN
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def ago(then: float | None, now: float | None) -> str:
    """How long before `now` (both wall seconds) `then` was: `12 s ago`, or `never`."""
    if then is None:
        return "never"
    if now is None:
        return UNKNOWN
    if then > now + 1:
        return "in the future (clock stepped?)"
    return duration(now - then) + " ago"


def local_time(when: float | None, timezone: str = "UTC") -> str:
    """`2026-12-05 09:41:07` in the gateway's time zone."""
    if when is None:
        return UNKNOWN
    try:
        zone: ZoneInfo | None = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    moment = datetime.fromtimestamp(when, tz=zone or UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("" if zone else " UTC")


def size(count: int | None) -> str:
    """Bytes as a person reads them: `812 MB`, `3.6 GB`."""
    if count is None:
        return UNKNOWN
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if value >= 100 or unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover  (the loop returns at GB)


def words(name: str | None) -> str:
    """`forced_open` -> `forced open`."""
    return UNKNOWN if name is None else name.replace("_", " ")


FILTERS: dict[str, Callable[..., str]] = {
    "duration": duration,
    "ago": ago,
    "local_time": local_time,
    "size": size,
    "words": words,
}
