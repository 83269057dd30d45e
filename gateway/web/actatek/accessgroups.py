"""Section 6: access groups (capability "groups").

    {"id": 14, "name": "new manager3", "departmentid": 1, "accessrightid": [1, 2],
     "doors": ["front"]}

- `POST accessgroup/{sessionid}`: one group or an array. `id` optional (the next free id
  when absent); an existing id is refused. `departmentid` required; `name` optional
  ("Group <id>"); `accessrightid` an integer or an array, absent = no right = Never.
- `GET accessgroup/{sessionid}?groupid&deptid`: every match, always an array.
  `departmentid` is answered as an integer (the field table's type; the example's "0"
  string is taken as a typo).
- `PUT accessgroup/{sessionid}`: `id` required; fields left out stay. The answer says
  "Updated" (the reference's example repeats "Added", taken as a copy slip).
- `DELETE accessgroup/{sessionid}/{id}`: group 0 (General) cannot be deleted, nor a group
  that users still belong to (move them first: no user silently ends up in no group).

`doors` is this gateway's extension: the door names (as in gateway.toml) the group
applies to. Absent on add, or null, means every door; absent on update leaves it as it
is. A name that is not a configured door is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.store.records import AccessGroup
from gateway.store.validate import MAX_DOOR_LENGTH, MAX_NAME_LENGTH
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.inputs import (
    ID_MAX,
    integer,
    integers,
    no_unknown_keys,
    path_id,
    query_int,
    query_params,
    short,
    text,
)
from gateway.web.actatek.sections import Section, add_section, call_store, in_thread

CAPABILITY = "groups"
PATH = "/cgi-bin/restapi/accessgroup/{sessionid}"
FIELDS = frozenset({"id", "name", "departmentid", "accessrightid", "doors"})
MAX_RIGHTS = 64
NAMES = {"department_id": "departmentid", "rights": "accessrightid"}


@dataclass(frozen=True)
class GroupInput:
    """An access group as sent; None = left out. `keep_doors`: `doors` was left out."""

    id: int | None
    name: str | None
    department: int | None
    rights: list[int] | None
    doors: list[str] | None
    keep_doors: bool


def render(group: AccessGroup) -> dict[str, Any]:
    """An access group as the reference shows it, plus `doors`."""
    return {
        "id": group.id,
        "name": group.name,
        "departmentid": group.department_id,
        "accessrightid": list(group.rights),
        "doors": None if group.doors is None else list(group.doors),
    }


def _doors(request: web.Request, value: Any) -> list[str] | None:
    """`doors`: null for every door, else names of configured doors."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(door, str) for door in value):
        raise ActatekError("doors: expected null or an array of door names")
    known = {door.name for door in context_of(request).settings.doors}
    for door in value:
        if len(door) > MAX_DOOR_LENGTH or door not in known:
            raise ActatekError(
                f"doors: no door named {short(door)}; known: {', '.join(sorted(known))}"
            )
    return list(value)


def _fields(request: web.Request, obj: Mapping[str, Any], adding: bool) -> GroupInput:
    no_unknown_keys(obj, FIELDS, "access group")
    return GroupInput(
        id=integer(obj, "id", 0, ID_MAX, required=not adding),
        name=text(obj, "name", MAX_NAME_LENGTH),
        department=integer(obj, "departmentid", 0, ID_MAX, required=adding),
        rights=integers(obj, "accessrightid", 0, ID_MAX, MAX_RIGHTS),
        doors=_doors(request, obj.get("doors")),
        keep_doors="doors" not in obj,
    )


async def add_accessgroup(request: web.Request, obj: Mapping[str, Any]) -> str:
    """POST: one access group of the body (one object or an array)."""
    new = _fields(request, obj, adding=True)
    assert new.department is not None
    store = context_of(request).stores.organisation
    new_id = await call_store(
        NAMES,
        store.create_access_group,
        new.id,
        new.name,
        new.department,
        new.rights or [],
        new.doors,
    )
    journal(request, "access_group_added", f"id={new_id}")
    return f"access group ID {new_id} Added"


async def update_accessgroup(request: web.Request, obj: Mapping[str, Any]) -> str:
    """PUT: one access group of the body (one object or an array)."""
    new = _fields(request, obj, adding=False)
    assert new.id is not None
    store = context_of(request).stores.organisation
    group = await call_store(NAMES, store.get_access_group, new.id)
    if group is None:
        raise ActatekError(f"access group {new.id} does not exist")
    await call_store(
        NAMES,
        store.put_access_group,
        group.id,
        group.name if new.name is None else new.name,
        group.department_id if new.department is None else new.department,
        group.rights if new.rights is None else new.rights,
        group.doors if new.keep_doors else new.doors,
    )
    journal(request, "access_group_updated", f"id={group.id}")
    return f"access group ID {group.id} Updated"


async def get_groups(request: web.Request) -> web.Response:
    """GET accessgroup/{sessionid}?groupid&deptid: every match, as an array."""
    params = query_params(request, ("groupid", "deptid"))
    group_id, dept_id = query_int(params, "groupid"), query_int(params, "deptid")
    groups = await in_thread(context_of(request).stores.organisation.list_access_groups)
    return web.json_response(
        [
            render(group)
            for group in groups
            if group_id in (None, group.id) and dept_id in (None, group.department_id)
        ]
    )


async def delete_group(request: web.Request) -> web.Response:
    """DELETE accessgroup/{sessionid}/{id}."""
    group_id = path_id(request)
    store = context_of(request).stores.organisation
    if not await call_store(NAMES, store.delete_access_group, group_id):
        raise ActatekError(f"access group {group_id} does not exist")
    journal(request, "access_group_deleted", f"id={group_id}")
    return success(f"access group ID {group_id} Deleted")


def add_routes(app: web.Application) -> None:
    add_section(
        app,
        Section(
            PATH,
            CAPABILITY,
            add=add_accessgroup,
            update=update_accessgroup,
            get=get_groups,
            delete=delete_group,
            delete_suffix="/{id}",
        ),
    )
