"""Section 8: the logged-in person's own record (capability "myself": every role; the
only thing a PERSONALUSER may use).

This gateway keeps API logins (technicians) apart from door users: "myself" is the user
record whose userID equals the technician's username.

- `GET myself/{sessionid}` (also with the reference's trailing slash): that record in the
  getUsers structure. `adminLevel` is the session's role, what this login may do (what a
  client asks getMyself for). A technician without a user record gets a minimal one:
  their username, groups and departments [0], inactive, nothing else; it is not stored.
- `PUT myself/{sessionid}`: `userID` (required, must be the technician's username),
  `firstName`, `lastName`, `otherName`, `password` (the own keypad PIN), `cardsn`: the
  reference's "only can update" list; any other field is refused. Fields left out keep
  their value. A technician without a user record gets the minimal record stored, still
  inactive: a login cannot give itself door access; an administrator activates it.
- Credentials (`password`, `cardsn`) only for a login that may manage users (USERADMIN,
  SUPERADMIN), through the same rules as user updates (credentials.py). Any other login
  is refused whatever the value, so the answer cannot tell whether someone else has that
  PIN or card; it may send back the card it already has (a client writing back what it
  read).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from gateway.store.records import UserFilter, UserRecord
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.credentials import (
    change_credentials,
    credential_fields,
    refuse_credentials,
)
from gateway.web.actatek.inputs import expect_object, no_unknown_keys, read_json
from gateway.web.actatek.sections import call_store
from gateway.web.actatek.session import endpoint, session_of
from gateway.web.actatek.users import device_tz, guard_user
from gateway.web.actatek.users_json import (
    NAMES,
    UserInput,
    merge,
    new_record,
    parse_user,
    render_user,
)

CAPABILITY = "myself"
PATH = "/cgi-bin/restapi/myself/{sessionid}"
UPDATABLE = frozenset({"userID", "firstName", "lastName", "otherName", "password", "cardsn"})


async def _record(request: web.Request) -> UserRecord:
    """The session's own user record, or the minimal one (not stored)."""
    username = session_of(request).username
    store = context_of(request).stores.users
    found = await call_store(NAMES, store.find_user_records, UserFilter(user_id=username))
    return found[0] if found else new_record(username, active=False)


@endpoint(CAPABILITY)
async def get_myself(request: web.Request) -> web.Response:
    """GET myself/{sessionid}."""
    record = await _record(request)
    return web.json_response(render_user(record, admin_level=session_of(request).level))


def _check(body: Mapping[str, Any], username: str) -> None:
    unknown = sorted(set(body) - UPDATABLE)
    if unknown:
        raise ActatekError(
            f"updateMyself may change only {', '.join(sorted(UPDATABLE - {'userID'}))}; "
            f"not {unknown[0][:64]!r}"
        )
    if body.get("userID") != username:
        raise ActatekError("userID: required, and must be the logged-in user's")


async def _without_card_sent_back(request: web.Request, new: UserInput) -> UserInput:
    """`new` without `cardsn` when it is the card the record already has first."""
    if new.card is None:
        return new
    user, _ = await _record(request)
    return replace(new, card=None) if new.card == (user.cards[:1] or [""])[0] else new


@endpoint(CAPABILITY)
async def update_myself(request: web.Request) -> web.Response:
    """PUT myself/{sessionid}: names; own PIN and card for user administrators."""
    session = session_of(request)
    username = session.username
    body = expect_object(await read_json(request))
    _check(body, username)
    no_unknown_keys(body, UPDATABLE, "myself")
    new = parse_user(body, device_tz(request))
    if not session.may("users"):
        new = await _without_card_sent_back(request, new)
    fields = credential_fields(new)
    if fields and not session.may("users"):
        await refuse_credentials(request, fields)

    def build(existing: UserRecord | None) -> UserRecord:
        record = existing or new_record(username, active=False)
        if fields:
            guard_user(session.level, record[0])  # e.g. the lockdown override's holder
        return merge(record, new)

    store = context_of(request).stores.users
    if fields:
        save = functools.partial(store.save_user_record, username, build, "upsert")
        await change_credentials(request, fields, save)
    else:
        await call_store(NAMES, store.save_user_record, username, build, "upsert")
    journal(request, "myself_updated", f"userID={username}")
    return success(f"User {username} Updated")


def add_routes(app: web.Application) -> None:
    for path in (PATH, PATH + "/"):
        app.router.add_get(path, get_myself)
        app.router.add_put(path, update_myself)
