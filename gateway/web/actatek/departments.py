"""Section 4: departments (capability "departments").

`POST|PUT|GET|DELETE /cgi-bin/restapi/department/{sessionid}`

- add: `id` and `name` required, `description` optional ("" when absent: the reference
  marks it required, refusing a department for a missing description gains nothing).
  An existing id is refused (add never overwrites).
- update: `id` required; `name` / `description` left out stay as they are.
- get: query filters `id`, `name`, `description` (exact, all must match); the answer is
  always an array, also for one department (the reference shows both shapes).
- delete: by the same query filters, at least one; every department matching all of them
  goes, each on its own (per-department results when several match). Department 0
  (General) is never deleted: a match that includes it is refused before anything is
  deleted. A department still used by an access group is refused by the store.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.store.records import Department
from gateway.store.validate import MAX_NAME_LENGTH
from gateway.web.actatek.answers import ActatekError
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.inputs import (
    ID_MAX,
    integer,
    no_unknown_keys,
    query_int,
    query_params,
    text,
)
from gateway.web.actatek.sections import Section, add_section, answer_each, call_store, in_thread

CAPABILITY = "departments"
PATH = "/cgi-bin/restapi/department/{sessionid}"
FIELDS = frozenset({"id", "name", "description"})
FILTERS = ("id", "name", "description")
MAX_DESCRIPTION = MAX_NAME_LENGTH * 4  # the store's limit
NAMES = {"department_id": "id"}


def render(department: Department) -> dict[str, Any]:
    """A department as the reference shows it."""
    return {"id": department.id, "name": department.name, "description": department.description}


def _fields(obj: Mapping[str, Any], required: bool) -> tuple[int, str | None, str | None]:
    no_unknown_keys(obj, FIELDS, "department")
    dept_id = integer(obj, "id", 0, ID_MAX, required=True)
    assert dept_id is not None
    name = text(obj, "name", MAX_NAME_LENGTH, required=required)
    return dept_id, name, text(obj, "description", MAX_DESCRIPTION)


async def add_department(request: web.Request, obj: Mapping[str, Any]) -> str:
    """POST: one department of the body (one object or an array)."""
    dept_id, name, description = _fields(obj, required=True)
    store = context_of(request).stores.organisation
    await call_store(NAMES, store.add_department, dept_id, name, description or "")
    journal(request, "department_added", f"id={dept_id}")
    return f"department ID {dept_id} Added"


async def update_department(request: web.Request, obj: Mapping[str, Any]) -> str:
    """PUT: one department of the body (one object or an array)."""
    dept_id, name, description = _fields(obj, required=False)
    store = context_of(request).stores.organisation
    existing = await call_store(NAMES, store.get_department, dept_id)
    if existing is None:
        raise ActatekError(f"department {dept_id} does not exist")
    new_name = existing.name if name is None else name
    new_description = existing.description if description is None else description
    await call_store(NAMES, store.update_department, dept_id, new_name, new_description)
    journal(request, "department_updated", f"id={dept_id}")
    return f"department ID {dept_id} Updated"


async def _matching(request: web.Request) -> tuple[list[Department], bool]:
    """The departments matching the query filters, and whether any filter was given."""
    params = query_params(request, FILTERS)
    wanted_id = query_int(params, "id")
    departments = await in_thread(context_of(request).stores.organisation.list_departments)
    matches = [
        d
        for d in departments
        if (wanted_id is None or d.id == wanted_id)
        and params.get("name", d.name) == d.name
        and params.get("description", d.description) == d.description
    ]
    return matches, bool(params)


async def get_departments(request: web.Request) -> web.Response:
    """GET department/{sessionid}?id&name&description: every match, as an array."""
    matches, _ = await _matching(request)
    return web.json_response([render(d) for d in matches])


async def _delete_one(request: web.Request, department: Department) -> str:
    store = context_of(request).stores.organisation
    if not await call_store(NAMES, store.delete_department, department.id):
        raise ActatekError(f"department {department.id} does not exist")
    journal(request, "department_deleted", f"id={department.id}")
    return f"department ID {department.id} Deleted"


async def delete_departments(request: web.Request) -> web.Response:
    """DELETE department/{sessionid}?id&name&description (at least one filter)."""
    matches, filtered = await _matching(request)
    if not filtered:
        raise ActatekError("give at least one of id, name, description")
    if not matches:
        raise ActatekError("no department matches")
    if any(d.id == 0 for d in matches):
        raise ActatekError("id: department 0 (General) cannot be deleted")
    delete = functools.partial(_delete_one, request)
    return await answer_each(matches, delete, many=len(matches) > 1)


def add_routes(app: web.Application) -> None:
    add_section(
        app,
        Section(
            PATH,
            CAPABILITY,
            add=add_department,
            update=update_department,
            get=get_departments,
            delete=delete_departments,
        ),
    )
