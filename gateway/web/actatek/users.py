"""Section 3: users (capability "users"; the structure is in users_json.py, TOTP in totp.py).

| endpoint | path |
|---|---|
| addUser(s) | `POST user/{sessionid}` one user or an array |
| getUsers | `GET user/{sessionid}?userID&partialUserID&lastName&firstName&otherName` |
| updateUser(s) | `PUT user/{sessionid}` one user or an array; fields left out keep their value |
| deleteUser | `DELETE user/{sessionid}/{userID}` |
| activateUser / deactivateUser | `POST` / `DELETE activateUser/{sessionid}/{userID}` |
| user message | `GET` / `POST {"usermessage": ...}` / `DELETE UserMessage/{sessionid}/{userID}` |
| UserCount | `GET UserCount/{sessionid}` -> `{"usercount": N}` |
| UserBatch | `GET UserBatch/{sessionid}/{offset}/{limit}`, by userID, limit at most 1000 |

- An array answers an array of per-item results (`[RESPONSE1, RESPONSE2, ...]`); each
  item is written whole or not at all, and a bad item does not stop the others. Arrays are
  written in chunks (user_arrays.py), answering exactly as one request per item would.
- getUsers filters are exact, all must match; partialUserID matches a part of the id
  (case-sensitive); no filter lists every user. Always an array.
- Items that set a PIN, a card, QR codes or plates go through credentials.py: a taken
  PIN is refused without saying why, and refusals make further changes wait.
- Only a SUPERADMIN session may create, change or delete a user whose adminLevel is
  SUPERADMIN, or give a user that level: a USERADMIN cannot raise anyone above itself.
- The same holds for `lockdownOverride` (opening a door in lockdown): only a SUPERADMIN
  session grants or revokes it, or changes, (de)activates, deletes or issues a TOTP for a
  user who holds it (their card or PIN would carry the override to whoever set it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.model import User
from gateway.store.records import UserFilter, UserRecord
from gateway.store.validate import MAX_MESSAGE_LENGTH, MAX_USER_ID
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.credentials import change_credentials, credential_fields
from gateway.web.actatek.inputs import (
    expect_object,
    no_unknown_keys,
    query_params,
    read_json,
    text,
)
from gateway.web.actatek.sections import Result, Section, add_section, call_store, in_thread
from gateway.web.actatek.session import endpoint, session_of
from gateway.web.actatek.user_arrays import Builder, write_user_array
from gateway.web.actatek.users_json import NAMES, UserInput, merge, parse_user, render_user

CAPABILITY = "users"
BASE = "/cgi-bin/restapi/"
FILTERS = ("userID", "partialUserID", "lastName", "firstName", "otherName")
MAX_BATCH = 1000
MAX_OFFSET = 10**9


def device_tz(request: web.Request) -> ZoneInfo:
    """The device time zone: an expirydate without an offset is local time there."""
    return ZoneInfo(context_of(request).settings.device.timezone)


def guard_user(session_level: str, user: User) -> None:
    """Refuse a non-SUPERADMIN session touching (or making) a SUPERADMIN user or a user
    who holds the lockdown override."""
    if session_level == "SUPERADMIN":
        return
    if user.admin_level == "SUPERADMIN":
        raise ActatekError("adminLevel: only a SUPERADMIN session may manage SUPERADMIN users")
    if user.lockdown_override:
        raise ActatekError(
            "lockdownOverride: only a SUPERADMIN session may grant or revoke it, or manage "
            "a user who holds it"
        )


def path_user_id(request: web.Request) -> str:
    """The userID path segment (aiohttp has already percent-decoded it)."""
    user_id = request.match_info.get("userID", "")
    if not user_id or len(user_id) > MAX_USER_ID:
        raise ActatekError(f"userID: expected 1 to {MAX_USER_ID} characters")
    return user_id


def record_builder(level: str) -> Builder:
    """What a session of `level` makes of a parsed user and the stored record: the merge,
    refused when it touches (or makes) a user above the session (`guard_user`)."""

    def builder(new: UserInput) -> Callable[[UserRecord | None], UserRecord]:
        def build(existing: UserRecord | None) -> UserRecord:
            if existing is not None:
                guard_user(level, existing[0])
            record = merge(existing, new)
            guard_user(level, record[0])
            return record

        return build

    return builder


async def _save(
    request: web.Request, mode: Literal["add", "update"], obj: Mapping[str, Any]
) -> str:
    new = parse_user(obj, device_tz(request))
    build = record_builder(session_of(request).level)(new)
    store = context_of(request).stores.users
    fields = credential_fields(new)
    if fields:
        save = functools.partial(store.save_user_record, new.user_id, build, mode)
        await change_credentials(request, fields, save)
    else:
        await call_store(NAMES, store.save_user_record, new.user_id, build, mode)
    verb = "Added" if mode == "add" else "Updated"
    journal(request, f"user_{verb.lower()}", f"userID={new.user_id}")
    return f"User {new.user_id} {verb}"


async def modify_user(
    request: web.Request, user_id: str, change: Callable[[User], User], reason: str
) -> None:
    """Change one stored user (not their extras) with `change`, journal it, reload."""
    level = session_of(request).level

    def build(existing: UserRecord | None) -> UserRecord:
        assert existing is not None  # mode "update" refused a missing user already
        guard_user(level, existing[0])
        return change(existing[0]), replace(existing[1], enabled={})

    store = context_of(request).stores.users
    await call_store(NAMES, store.save_user_record, user_id, build, "update")
    journal(request, reason, f"userID={user_id}")


async def find_one(request: web.Request, user_id: str) -> UserRecord:
    """The stored user, or the common error."""
    store = context_of(request).stores.users
    found = await call_store(NAMES, store.find_user_records, UserFilter(user_id=user_id))
    if not found:
        raise ActatekError(f"user {user_id} does not exist")
    return found[0]


async def add_user(request: web.Request, obj: Mapping[str, Any]) -> str:
    """POST user/{sessionid}: addUser / addUsers, one user of the body."""
    return await _save(request, "add", obj)


async def update_user(request: web.Request, obj: Mapping[str, Any]) -> str:
    """PUT user/{sessionid}: updateUser / updateUsers, one user of the body."""
    return await _save(request, "update", obj)


async def add_users(request: web.Request, objects: list[Mapping[str, Any]]) -> list[Result]:
    """POST user/{sessionid} with an array: addUsers, in chunks (user_arrays.py)."""
    return await _save_array(request, "add", objects)


async def update_users(request: web.Request, objects: list[Mapping[str, Any]]) -> list[Result]:
    """PUT user/{sessionid} with an array: updateUsers, in chunks (user_arrays.py)."""
    return await _save_array(request, "update", objects)


async def _save_array(
    request: web.Request, mode: Literal["add", "update"], objects: list[Mapping[str, Any]]
) -> list[Result]:
    builder = record_builder(session_of(request).level)
    one = functools.partial(_save, request, mode)
    return await write_user_array(request, mode, objects, builder, one, device_tz(request))


async def get_users(request: web.Request) -> web.Response:
    """GET user/{sessionid}?userID&partialUserID&lastName&firstName&otherName."""
    params = query_params(request, FILTERS)
    criteria = UserFilter(
        user_id=params.get("userID"),
        partial_user_id=params.get("partialUserID"),
        last_name=params.get("lastName"),
        first_name=params.get("firstName"),
        other_name=params.get("otherName"),
    )
    records = await call_store(NAMES, context_of(request).stores.users.find_user_records, criteria)
    return web.json_response([render_user(record) for record in records])


async def delete_user(request: web.Request) -> web.Response:
    """DELETE user/{sessionid}/{userID}."""
    user_id = path_user_id(request)
    user, _ = await find_one(request, user_id)
    guard_user(session_of(request).level, user)
    if not await call_store(NAMES, context_of(request).stores.users.delete_user, user_id):
        raise ActatekError(f"user {user_id} does not exist")
    journal(request, "user_deleted", f"userID={user_id}")
    return success(f"User {user_id} Deleted")


async def _set_active(request: web.Request, active: bool) -> web.Response:
    user_id = path_user_id(request)
    reason = "user_activated" if active else "user_deactivated"
    await modify_user(request, user_id, lambda user: replace(user, active=active), reason)
    return success()


@endpoint(CAPABILITY)
async def activate_user(request: web.Request) -> web.Response:
    """POST activateUser/{sessionid}/{userID}."""
    return await _set_active(request, True)


@endpoint(CAPABILITY)
async def deactivate_user(request: web.Request) -> web.Response:
    """DELETE activateUser/{sessionid}/{userID}: the user is suspended, not deleted."""
    return await _set_active(request, False)


@endpoint(CAPABILITY)
async def get_message(request: web.Request) -> web.Response:
    """GET UserMessage/{sessionid}/{userID} -> {"usermessage": ...}."""
    user, _ = await find_one(request, path_user_id(request))
    return web.json_response({"usermessage": user.message})


@endpoint(CAPABILITY)
async def set_message(request: web.Request) -> web.Response:
    """POST UserMessage/{sessionid}/{userID} {"usermessage": ...}."""
    user_id = path_user_id(request)
    body = expect_object(await read_json(request))
    no_unknown_keys(body, frozenset({"usermessage"}), "user message")
    message = text(body, "usermessage", MAX_MESSAGE_LENGTH, required=True)
    assert message is not None

    def change(user: User) -> User:
        return replace(user, message=message)

    await modify_user(request, user_id, change, "user_message_set")
    return success()


@endpoint(CAPABILITY)
async def delete_message(request: web.Request) -> web.Response:
    """DELETE UserMessage/{sessionid}/{userID}: the message becomes empty."""
    user_id = path_user_id(request)
    await modify_user(
        request, user_id, lambda user: replace(user, message=""), "user_message_deleted"
    )
    return success()


@endpoint(CAPABILITY)
async def user_count(request: web.Request) -> web.Response:
    """GET UserCount/{sessionid} -> {"usercount": N}."""
    count = await in_thread(context_of(request).stores.users.count_users)
    return web.json_response({"usercount": count})


def _bounded(request: web.Request, name: str, high: int) -> int:
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > high:
        raise ActatekError(f"{name}: expected a whole number from 0 to {high}")
    return int(raw)


@endpoint(CAPABILITY)
async def user_batch(request: web.Request) -> web.Response:
    """GET UserBatch/{sessionid}/{offset}/{limit}: users in userID order."""
    offset = _bounded(request, "offset", MAX_OFFSET)
    limit = _bounded(request, "limit", MAX_BATCH)
    store = context_of(request).stores.users
    records = await call_store(NAMES, store.find_user_records, None, offset, limit)
    return web.json_response([render_user(record) for record in records])


def add_routes(app: web.Application) -> None:
    user = BASE + "user/{sessionid}"
    add_section(
        app,
        Section(
            user,
            CAPABILITY,
            add=add_user,
            update=update_user,
            add_many=add_users,
            update_many=update_users,
            get=get_users,
            delete=delete_user,
            delete_suffix="/{userID}",
        ),
    )
    app.router.add_post(BASE + "activateUser/{sessionid}/{userID}", activate_user)
    app.router.add_delete(BASE + "activateUser/{sessionid}/{userID}", deactivate_user)
    message = BASE + "UserMessage/{sessionid}/{userID}"
    app.router.add_get(message, get_message)
    app.router.add_post(message, set_message)
    app.router.add_delete(message, delete_message)
    app.router.add_get(BASE + "UserCount/{sessionid}", user_count)
    app.router.add_get(BASE + "UserBatch/{sessionid}/{offset}/{limit}", user_batch)
