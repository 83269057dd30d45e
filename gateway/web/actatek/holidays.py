"""Section 13: holidays (capability "holidays"). On a holiday the HOLIDAY pattern of every
access right replaces the weekday's (docs/access-rules.md).

- `GET holiday/{sessionid}?date=Y-M-D` -> `{"dates": ["2025-12-25", ...]}`, sorted. 0 in
  a part is a wildcard: `2025-0-0` is every holiday of 2025, `0-12-25` every Christmas,
  no `date` every holiday. The path line (`{sessionid?date}`) is followed, a query
  parameter; the example URI's `/date=...` path segment is taken as a typo.
- `POST holiday/{sessionid}` adds, `DELETE holiday/{sessionid}` removes; the body is
  `{"dates": [...]}` (or one date as a string). The reference's example `{ [...] }` is not
  JSON; its nearest reading, a bare array of dates, is accepted too. Dates are YYYY-MM-DD.
  The answer is success with `invalid_dates`: the inputs that were not dates (and, for a
  removal, dates that were not holidays), exactly as given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from aiohttp import web

from gateway.store.records import HolidayChange
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.inputs import query_params, read_json
from gateway.web.actatek.sections import in_thread
from gateway.web.actatek.session import endpoint

CAPABILITY = "holidays"
PATH = "/cgi-bin/restapi/holiday/{sessionid}"
MAX_DATES = 1000
MAX_DATE_TEXT = 32
_PATTERN = re.compile(r"([0-9]{1,4})-([0-9]{1,2})-([0-9]{1,2})")


def parse_wildcard(text: str) -> Callable[[date], bool]:
    """A predicate for `Y-M-D` with 0 as "any" in each part."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ActatekError("date: expected YYYY-MM-DD, 0 in a part meaning any")
    year, month, day = (int(part) for part in match.groups())
    if month > 12 or day > 31:
        raise ActatekError("date: month must be 0-12 and day 0-31")
    return lambda d: year in (0, d.year) and month in (0, d.month) and day in (0, d.day)


def parse_dates(body: Any) -> list[str]:
    """The dates of a POST/DELETE body, as given (validity is the store's to judge)."""
    if isinstance(body, dict):
        if set(body) != {"dates"}:
            raise ActatekError('expected {"dates": [...]}')
        body = body["dates"]
    dates = [body] if isinstance(body, str) else body
    if not isinstance(dates, list) or not dates:
        raise ActatekError("dates: expected a date or a non-empty array of dates")
    if len(dates) > MAX_DATES:
        raise ActatekError(f"dates: at most {MAX_DATES} in one request")
    for value in dates:
        if not isinstance(value, str) or len(value) > MAX_DATE_TEXT or not value.isprintable():
            raise ActatekError(f"dates: expected texts of at most {MAX_DATE_TEXT} characters")
    return dates


def _answer(change: HolidayChange, verb: str) -> web.Response:
    count = len(change.changed)
    noun = "holiday" if count == 1 else "holidays"
    return success(f"{count} {noun} {verb}", invalid_dates=list(change.invalid))


async def _change(request: web.Request, adding: bool) -> web.Response:
    dates = parse_dates(await read_json(request))
    store = context_of(request).stores.organisation
    method = store.add_holidays if adding else store.remove_holidays
    change: HolidayChange = await in_thread(method, dates)
    if change.changed:
        shown = ",".join(day.isoformat() for day in change.changed[:10])
        more = f" (+{len(change.changed) - 10})" if len(change.changed) > 10 else ""
        journal(request, "holidays_added" if adding else "holidays_deleted", shown + more)
    return _answer(change, "added" if adding else "deleted")


@endpoint(CAPABILITY)
async def get_holidays(request: web.Request) -> web.Response:
    """GET holiday/{sessionid}?date=Y-M-D."""
    params = query_params(request, ("date",))
    wanted = parse_wildcard(params["date"]) if "date" in params else (lambda _d: True)
    days = await in_thread(context_of(request).stores.organisation.list_holidays)
    return web.json_response({"dates": [day.isoformat() for day in days if wanted(day)]})


@endpoint(CAPABILITY)
async def add_holidays(request: web.Request) -> web.Response:
    """POST holiday/{sessionid} {"dates": [...]}."""
    return await _change(request, adding=True)


@endpoint(CAPABILITY)
async def delete_holidays(request: web.Request) -> web.Response:
    """DELETE holiday/{sessionid} {"dates": [...]}."""
    return await _change(request, adding=False)


def add_routes(app: web.Application) -> None:
    for path in (PATH, PATH + "/"):  # the reference's example URIs end with a slash
        app.router.add_get(path, get_holidays)
        app.router.add_post(path, add_holidays)
        app.router.add_delete(path, delete_holidays)
