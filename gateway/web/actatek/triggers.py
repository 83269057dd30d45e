"""Section 7: triggers IN, OUT and F1..F40 (capability "terminal").

The reference lost getTriggers' answer and updateTrigger's path; what survives is the
field table (type, name, enable, freeJobcode for F1-F10 only, timespec of weekday +
timePattern) and the messages. The structure used, as for access rights:

    {"type": "F32", "name": "Overtime", "enable": true, "freeJobcode": false,
     "timespec": [{"weekday": "MONDAY", "timePattern": "000...111...000"}, ...]}

- `GET trigger/{sessionid}?type=IN`: that trigger; without `type`, all 42 in order.
- `PUT trigger/{sessionid}`: one object or an array (one result per item); `type`
  required, fields left out stay, a `timespec` given replaces the whole schedule.
- `DELETE trigger/{sessionid}/{type}`: clears the schedule (name and flags stay).

Triggers are stored and listed only: a log's IN/OUT is the direction journaled with the
passage (`[[readers]] direction`, or an OpenDoor request's AntiPassbackMode), and a
trigger's schedule or enable flag never changes a decision or a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from gateway.store.records import Trigger
from gateway.store.schema import TRIGGER_TYPES
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of
from gateway.web.actatek.inputs import (
    SMALL_BODY_BYTES,
    boolean,
    no_unknown_keys,
    query_params,
    short,
    text,
)
from gateway.web.actatek.sections import Section, add_section, call_store
from gateway.web.actatek.session import session_of

CAPABILITY = "terminal"
PATH = "/cgi-bin/restapi/trigger/{sessionid}"
WEEKDAYS = ("SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
SPEC_DAYS = (*WEEKDAYS, "HOLIDAY")
FIELDS = frozenset({"type", "name", "enable", "freeJobcode", "timespec"})
SPEC_FIELDS = frozenset({"weekday", "timePattern"})
NAMES = {"patterns": "timespec", "free_jobcode": "freeJobcode"}


def render(trigger: Trigger) -> dict[str, Any]:
    return {
        "type": trigger.type,
        "name": trigger.name,
        "enable": trigger.enabled,
        "freeJobcode": trigger.free_jobcode,
        "timespec": [
            {"weekday": day, "timePattern": trigger.patterns[day]}
            for day in SPEC_DAYS
            if day in trigger.patterns
        ],
    }


def trigger_type(raw: str) -> str:
    """IN, OUT or F1..F40 (any case)."""
    name = raw.upper() if raw.isascii() else raw
    if name not in TRIGGER_TYPES:
        raise ActatekError(f"type: {short(raw)} is not IN, OUT or F1..F40")
    return name


def parse_timespec(value: Any) -> dict[str, str]:
    """`[{"weekday": ..., "timePattern": ...}]` -> day -> pattern (checked by the store)."""
    if not isinstance(value, list) or len(value) > len(SPEC_DAYS):
        raise ActatekError(f"timespec: expected an array of at most {len(SPEC_DAYS)} days")
    patterns: dict[str, str] = {}
    for spec in value:
        if not isinstance(spec, dict):
            raise ActatekError("timespec: expected objects with weekday and timePattern")
        no_unknown_keys(spec, SPEC_FIELDS, "timespec")
        day = text(spec, "weekday", 16, required=True)
        pattern = text(spec, "timePattern", 48, required=True)
        assert day is not None and pattern is not None
        if day.upper() in patterns:
            raise ActatekError(f"timespec: {day.upper()} is given twice")
        patterns[day.upper()] = pattern
    return patterns


def updated(current: Trigger, item: Mapping[str, Any]) -> Trigger:
    """`current` with the fields `item` gives."""
    name = text(item, "name", 64)
    enable = boolean(item, "enable")
    free = boolean(item, "freeJobcode")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if enable is not None:
        changes["enabled"] = enable
    if free is not None:
        changes["free_jobcode"] = free
    if "timespec" in item:
        changes["patterns"] = parse_timespec(item["timespec"])
    return replace(current, **changes)


async def get_triggers(request: web.Request) -> web.Response:
    """GET trigger/{sessionid}?type."""
    raw = query_params(request, ("type",)).get("type")
    store = context_of(request).terminal.store
    if raw is None:
        return web.json_response([render(t) for t in await call_store(NAMES, store.triggers)])
    found = await call_store(NAMES, store.trigger, trigger_type(raw))
    assert found is not None  # every type of TRIGGER_TYPES has a row
    return web.json_response(render(found))


async def update_trigger(request: web.Request, item: Mapping[str, Any]) -> str:
    """PUT trigger/{sessionid}: one trigger of the body (one object or an array)."""
    store = context_of(request).terminal.store
    no_unknown_keys(item, FIELDS, "trigger")
    type_ = trigger_type(text(item, "type", 8, required=True) or "")
    current = await call_store(NAMES, store.trigger, type_)
    assert current is not None
    await call_store(NAMES, store.put_triggers, [updated(current, item)])
    _journal(request, "trigger_updated", type_)
    return f"trigger type {type_} schedule Updated"


async def clear_trigger(request: web.Request) -> web.Response:
    """DELETE trigger/{sessionid}/{type}."""
    type_ = trigger_type(request.match_info["type"])
    await call_store(NAMES, context_of(request).terminal.store.clear_trigger_schedule, type_)
    _journal(request, "trigger_cleared", type_)
    return success(f"trigger type {type_} schedule cleared")


def _journal(request: web.Request, reason: str, type_: str) -> None:
    context_of(request).record_api(reason, session_of(request).username, f"type={type_}")


def add_routes(app: web.Application) -> None:
    add_section(
        app,
        Section(
            PATH,
            CAPABILITY,
            update=update_trigger,
            get=get_triggers,
            delete=clear_trigger,
            delete_suffix="/{type}",
            max_body=SMALL_BODY_BYTES,
        ),
    )
