"""Section 12: job codes (capability "terminal").

Job codes are what a person may pick at a time-attendance terminal when they punch in
(a job, an occupation, ...). They are stored and answered; they never change a decision
or a log here.

- `GET jobcodesetting/{sessionid}` -> the three settings [{"jobcode": 1..3, "name",
  "enable": "enable"|"disable"}]; `PUT` one object or an array (one result per item),
  `jobcode` required, fields left out stay.
- `POST jobcode/{sessionid}` adds {"jobcode": 1..3, "id": 1..999999, "name", "enable":
  "enable"|"disable"|"default"} (all required); `PUT` updates (`jobcode`, `id` required,
  fields left out stay); one object or an array each. One default per setting.
- `DELETE jobcode/{sessionid}?jobcode&id&name`: all three required, as the reference's
  table says; the name must be the stored one.
- `GET jobcode/{sessionid}?jobcode&id&name&enable`: every match (name exact), always an
  array. The reference gives this one Method DELETE, the delete's; GET is what its title
  and description say, and the only way both can exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from gateway.store.records import JOB_CODE_ENABLES, JobCode, JobCodeSetting
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.inputs import (
    SMALL_BODY_BYTES,
    integer,
    no_unknown_keys,
    query_int,
    query_params,
    short,
    text,
)
from gateway.web.actatek.sections import Section, add_section, in_thread

CAPABILITY = "terminal"
PREFIX = "/cgi-bin/restapi"
SETTING_FIELDS = frozenset({"jobcode", "name", "enable"})
CODE_FIELDS = frozenset({"jobcode", "id", "name", "enable"})
MAX_ID = 999_999


def _setting_json(setting: JobCodeSetting) -> dict[str, Any]:
    enable = "enable" if setting.enabled else "disable"
    return {"jobcode": setting.jobcode, "name": setting.name, "enable": enable}


def _code_json(code: JobCode) -> dict[str, Any]:
    return {"jobcode": code.jobcode, "id": code.id, "name": code.name, "enable": code.enable}


def _enable(item: Mapping[str, Any], allowed: tuple[str, ...]) -> str | None:
    value = text(item, "enable", 16)
    if value is not None and value not in allowed:
        raise ActatekError(f"enable: expected {', '.join(allowed)}")
    return value


async def get_settings(request: web.Request) -> web.Response:
    """GET jobcodesetting/{sessionid}."""
    settings = await in_thread(context_of(request).terminal.store.job_code_settings)
    return web.json_response([_setting_json(s) for s in settings])


async def put_setting(request: web.Request, item: Mapping[str, Any]) -> str:
    """PUT jobcodesetting/{sessionid}: one setting of the body (one object or an array)."""
    store = context_of(request).terminal.store
    no_unknown_keys(item, SETTING_FIELDS, "jobcode setting")
    number = integer(item, "jobcode", 1, 3, required=True)
    current = {s.jobcode: s for s in await in_thread(store.job_code_settings)}
    setting = current[number or 0]
    name = text(item, "name", 64)
    enable = _enable(item, ("enable", "disable"))
    setting = replace(
        setting,
        name=setting.name if name is None else name,
        enabled=setting.enabled if enable is None else enable == "enable",
    )
    await in_thread(store.put_job_code_settings, [setting])
    journal(request, "jobcode_setting_updated", f"jobcode={setting.jobcode}")
    return f"jobcode setting {setting.jobcode} updated"


def _key(item: Mapping[str, Any]) -> tuple[int, int]:
    """(jobcode, id) of a job code object, both required."""
    no_unknown_keys(item, CODE_FIELDS, "jobcode")
    number = integer(item, "jobcode", 1, 3, required=True)
    id_ = integer(item, "id", 1, MAX_ID, required=True)
    assert number is not None and id_ is not None
    return number, id_


def _code(item: Mapping[str, Any], base: JobCode, new: bool) -> JobCode:
    """`base` with the name and enable `item` gives (both required for a `new` code)."""
    name = text(item, "name", 64, required=new)
    enable = _enable(item, JOB_CODE_ENABLES)
    if new and enable is None:
        raise ActatekError("enable: required")
    return replace(base, name=base.name if name is None else name, enable=enable or base.enable)


async def add_code(request: web.Request, item: Mapping[str, Any]) -> str:
    """POST jobcode/{sessionid}: one job code of the body (one object or an array)."""
    code = _code(item, JobCode(*_key(item), "", "disable"), new=True)
    await in_thread(context_of(request).terminal.store.add_job_codes, [code])
    journal(request, "jobcode_added", f"jobcode={code.jobcode} id={code.id}")
    return f"jobcode {code.jobcode} id {code.id} added"


async def update_code(request: web.Request, item: Mapping[str, Any]) -> str:
    """PUT jobcode/{sessionid}: one job code of the body (one object or an array)."""
    store = context_of(request).terminal.store
    number, id_ = _key(item)
    found = await in_thread(store.find_job_codes, number, id_)
    if not found:
        raise ActatekError(f"jobcode {number} id {id_} does not exist")
    code = _code(item, found[0], new=False)
    await in_thread(store.update_job_codes, [code])
    journal(request, "jobcode_updated", f"jobcode={code.jobcode} id={code.id}")
    return f"jobcode {code.jobcode} id {code.id} updated"


async def delete_code(request: web.Request) -> web.Response:
    """DELETE jobcode/{sessionid}?jobcode&id&name."""
    params = query_params(request, ("jobcode", "id", "name"))
    number, id_ = query_int(params, "jobcode", 3), query_int(params, "id", MAX_ID)
    name = params.get("name")
    if number is None or id_ is None or name is None:
        raise ActatekError("jobcode, id and name: required")
    store = context_of(request).terminal.store
    await in_thread(store.delete_job_code, number, id_, name)
    journal(request, "jobcode_deleted", f"jobcode={number} id={id_}")
    return success(f"jobcode {number} id {id_} deleted")


async def get_codes(request: web.Request) -> web.Response:
    """GET jobcode/{sessionid}?jobcode&id&name&enable."""
    params = query_params(request, ("jobcode", "id", "name", "enable"))
    number, id_ = query_int(params, "jobcode", 3), query_int(params, "id", MAX_ID)
    if id_ is not None and number is None:
        raise ActatekError("jobcode: required with id")
    enable = params.get("enable")
    if enable is not None and enable not in JOB_CODE_ENABLES:
        raise ActatekError(f"enable: expected {', '.join(JOB_CODE_ENABLES)}; got {short(enable)}")
    store = context_of(request).terminal.store
    codes = await in_thread(store.find_job_codes, number, id_, params.get("name"), enable)
    return web.json_response([_code_json(code) for code in codes])


def add_routes(app: web.Application) -> None:
    add_section(
        app,
        Section(
            f"{PREFIX}/jobcodesetting/{{sessionid}}",
            CAPABILITY,
            update=put_setting,
            get=get_settings,
            max_body=SMALL_BODY_BYTES,
            with_slash=True,
        ),
    )
    add_section(
        app,
        Section(
            f"{PREFIX}/jobcode/{{sessionid}}",
            CAPABILITY,
            add=add_code,
            update=update_code,
            get=get_codes,
            delete=delete_code,
            max_body=SMALL_BODY_BYTES,
            with_slash=True,
        ),
    )
