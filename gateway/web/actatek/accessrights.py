"""Section 5: access rights, the weekly schedules (capability "rights").

The reference lost this section's request table and paths; what survives is the
`timespec` table (weekday SUNDAY..SATURDAY or HOLIDAY, timePattern of 48 '0'/'1', slot 1
= 00:00-00:29) and the delete path. The structure used, in the style of sections 4 and 6:

    {"id": 14, "name": "Office hours", "description": "...",
     "timespec": [{"weekday": "MONDAY", "timePattern": "000...111...000"}, ...]}

- `POST accessright/{sessionid}`: one right or an array. `id` optional (the next free id
  when absent, as for access groups); an existing id is refused. `name` required.
  A weekday absent from `timespec` has no access that day ("only need if the weekday
  have any slot enabled"); no `timespec` at all is a right that never opens.
- `GET accessright/{sessionid}?id&name`: every match (exact), always an array; each
  timespec lists the weekdays that have a pattern, SUNDAY first, HOLIDAY last.
- `PUT accessright/{sessionid}`: `id` required; fields left out stay; a `timespec` given
  replaces the whole week.
- `DELETE accessright/{sessionid}/{id}`: right 0 (Always) cannot be deleted; groups that
  had the right simply lose it.
Weekday names are accepted in any case and answered in upper case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.access.snapshot import SLOTS_PER_DAY
from gateway.store.records import AccessRight
from gateway.store.validate import MAX_NAME_LENGTH
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.inputs import (
    ID_MAX,
    integer,
    no_unknown_keys,
    path_id,
    query_int,
    query_params,
    short,
    text,
)
from gateway.web.actatek.sections import Section, add_section, call_store, in_thread

CAPABILITY = "rights"
PATH = "/cgi-bin/restapi/accessright/{sessionid}"
WEEKDAYS = (
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "HOLIDAY",
)
FIELDS = frozenset({"id", "name", "description", "timespec"})
SPEC_FIELDS = frozenset({"weekday", "timePattern"})
MAX_DESCRIPTION = MAX_NAME_LENGTH * 4
NAMES = {"patterns": "timespec"}


def render(right: AccessRight) -> dict[str, Any]:
    """An access right in the structure above."""
    return {
        "id": right.id,
        "name": right.name,
        "description": right.description,
        "timespec": [
            {"weekday": day, "timePattern": right.patterns[day]}
            for day in WEEKDAYS
            if day in right.patterns
        ],
    }


def _day(spec: Any) -> tuple[str, str]:
    if not isinstance(spec, dict):
        raise ActatekError("timespec: expected objects with weekday and timePattern")
    no_unknown_keys(spec, SPEC_FIELDS, "timespec")
    weekday = text(spec, "weekday", 16, required=True)
    pattern = text(spec, "timePattern", SLOTS_PER_DAY, required=True)
    assert weekday is not None and pattern is not None
    if weekday.upper() not in WEEKDAYS:
        raise ActatekError(
            f"timespec: weekday {short(weekday)} is not one of {', '.join(WEEKDAYS)}"
        )
    if len(pattern) != SLOTS_PER_DAY or set(pattern) - {"0", "1"}:
        raise ActatekError(
            f"timespec: timePattern of {weekday.upper()} must be {SLOTS_PER_DAY} characters "
            "of '0' or '1'"
        )
    return weekday.upper(), pattern


def parse_timespec(value: Any) -> dict[str, str]:
    """A timespec (one object or an array) as weekday -> pattern."""
    specs = value if isinstance(value, list) else [value]
    if len(specs) > len(WEEKDAYS):
        raise ActatekError(f"timespec: at most {len(WEEKDAYS)} weekdays")
    patterns: dict[str, str] = {}
    for spec in specs:
        day, pattern = _day(spec)
        if day in patterns:
            raise ActatekError(f"timespec: {day} is given twice")
        patterns[day] = pattern
    return patterns


def _fields(
    obj: Mapping[str, Any], id_required: bool
) -> tuple[int | None, str | None, str | None, dict[str, str] | None]:
    no_unknown_keys(obj, FIELDS, "access right")
    right_id = integer(obj, "id", 0, ID_MAX, required=id_required)
    name = text(obj, "name", MAX_NAME_LENGTH, required=not id_required)
    description = text(obj, "description", MAX_DESCRIPTION)
    spec = obj.get("timespec")
    return right_id, name, description, None if spec is None else parse_timespec(spec)


async def add_accessright(request: web.Request, obj: Mapping[str, Any]) -> str:
    """POST: one access right of the body (one object or an array)."""
    right_id, name, description, patterns = _fields(obj, id_required=False)
    store = context_of(request).stores.organisation
    new_id = await call_store(
        NAMES, store.create_access_right, right_id, name, patterns or {}, description or ""
    )
    journal(request, "access_right_added", f"id={new_id}")
    return f"access right ID {new_id} Added"


async def update_accessright(request: web.Request, obj: Mapping[str, Any]) -> str:
    """PUT: one access right of the body (one object or an array)."""
    right_id, name, description, patterns = _fields(obj, id_required=True)
    assert right_id is not None
    store = context_of(request).stores.organisation
    existing = await call_store(NAMES, store.get_access_right, right_id)
    if existing is None:
        raise ActatekError(f"access right {right_id} does not exist")
    await call_store(
        NAMES,
        store.put_access_right,
        right_id,
        existing.name if name is None else name,
        existing.patterns if patterns is None else patterns,
        existing.description if description is None else description,
    )
    journal(request, "access_right_updated", f"id={right_id}")
    return f"access right ID {right_id} Updated"


async def get_rights(request: web.Request) -> web.Response:
    """GET accessright/{sessionid}?id&name: every match, as an array."""
    params = query_params(request, ("id", "name"))
    wanted_id = query_int(params, "id")
    rights = await in_thread(context_of(request).stores.organisation.list_access_rights)
    return web.json_response(
        [
            render(right)
            for right in rights
            if (wanted_id is None or right.id == wanted_id)
            and params.get("name", right.name) == right.name
        ]
    )


async def delete_right(request: web.Request) -> web.Response:
    """DELETE accessright/{sessionid}/{id}."""
    right_id = path_id(request)
    store = context_of(request).stores.organisation
    if not await call_store(NAMES, store.delete_access_right, right_id):
        raise ActatekError(f"access right {right_id} does not exist")
    journal(request, "access_right_deleted", f"id={right_id}")
    return success(f"access right ID {right_id} Deleted")


def add_routes(app: web.Application) -> None:
    add_section(
        app,
        Section(
            PATH,
            CAPABILITY,
            add=add_accessright,
            update=update_accessright,
            get=get_rights,
            delete=delete_right,
            delete_suffix="/{id}",
        ),
    )
