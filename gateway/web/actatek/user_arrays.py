"""User arrays (`POST` / `PUT user` with up to 10,000 users), written in chunks.

An array answers exactly as if each of its users had been sent on its own, in order
(`users.py` `_save`): the same result per item, a refused item changing nothing while the
others are stored, the same journal lines, the same PIN-oracle rules (`credentials.py`).
Only the cost differs. Up to `CHUNK` items (and `CHUNK_S` of time) are parsed, checked and
written per call on a worker thread and per transaction, each item in its own SAVEPOINT;
one transaction and one thread hop per item made 2,000 users take seconds.

- The event loop stays free: it only journals and counts between chunks, and other
  requests are answered meanwhile (a store call waits at most one chunk for the database).
- Credential changes keep their rules exactly: the chunk runs under the refusals' lock, an
  item that sets a credential first checks the wait as of that moment, and a refusal that
  must be counted (a taken PIN) ends its chunk there, so it is counted and journaled on
  the loop before the next item is looked at. Such refusals are few (the waits begin
  after 3), so the chunks stay few.
- A database fault rolls back its chunk, which is then written again one user per
  transaction, as before: whichever users the fault was about get "database error", the
  others are stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.store.errors import CredentialTaken, StoreError
from gateway.store.records import UserRecord
from gateway.web import security
from gateway.web.actatek.answers import REFUSALS, ActatekError, common_error
from gateway.web.actatek.context import context_of, journal
from gateway.web.actatek.credentials import (
    CREDENTIAL_REFUSALS,
    count_refusal,
    credential_fields,
    taken_refusal,
    waiting_refusal,
)
from gateway.web.actatek.sections import Result, answer_one, in_thread
from gateway.web.actatek.session import session_of
from gateway.web.actatek.users_json import NAMES, UserInput, parse_user

if TYPE_CHECKING:
    from gateway.store.users import RecordBatch, UserStore

CHUNK = 500  # items at most per worker-thread call and per transaction
# Time at most per transaction (after that item, the chunk ends). A chunk holds the stores'
# connection, and some loop code reads it without a thread (the rules watch's
# `data_version`): a chunk of 500 users (about 0.25 s here, seconds on a Pi) froze the
# loop that long. Each chunk costs about 0.5 ms more than its items.
CHUNK_S = 0.01

Mode = Literal["add", "update"]
Build = Callable[[UserRecord | None], UserRecord]
Builder = Callable[[UserInput], Build]  # the record a parsed item makes of the stored one


@dataclass(frozen=True)
class ArrayWrite:
    """What every item of one array is written with (read on the loop, used on the thread).

    `builder` lays an item over the stored record, refusing what the session may not do;
    `wait_s` is how long a credential change must still wait (the refusals' lock is held
    while a chunk runs, so nothing else moves the counts meanwhile)."""

    store: UserStore
    mode: Mode
    tz: ZoneInfo
    builder: Builder
    wait_s: Callable[[], float]
    may_read_users: bool
    monotonic: Callable[[], float]
    chunk_s: float


@dataclass
class Done:
    """One item written (or refused) on the thread: its answer, and what the loop does for
    it afterwards: journal the user saved, or count the refusal of `counted` fields."""

    result: Result
    saved: str | None = None
    counted: list[str] = field(default_factory=list)


async def write_user_array(
    request: web.Request,
    mode: Mode,
    objects: Sequence[Mapping[str, Any]],
    builder: Builder,
    one: Callable[[Mapping[str, Any]], Awaitable[str]],
    tz: ZoneInfo,
) -> list[Result]:
    """Every object of the array written in order, in chunks; one result per object.
    `one` writes a single object as a request of one would (after a database fault)."""
    refusals = request.app[CREDENTIAL_REFUSALS]
    session = session_of(request)
    address = security.client_address(request)
    write = ArrayWrite(
        context_of(request).stores.users,
        mode,
        tz,
        builder,
        lambda: refusals.wait_s(session.username, address),
        session.may("users"),
        context_of(request).clock.monotonic,
        CHUNK_S,
    )
    verb = "user_added" if mode == "add" else "user_updated"
    results: list[Result] = []
    while len(results) < len(objects):
        chunk = objects[len(results) : len(results) + CHUNK]
        async with refusals.lock:  # a refusal is counted before any other change is made
            try:
                done = await in_thread(write_chunk, write, chunk)
            except StoreError:  # a fault, not a refusal: nothing of the chunk stayed
                done = None
            for item in done or ():
                if item.saved is not None:
                    journal(request, verb, f"userID={item.saved}")
                if item.counted:
                    count_refusal(request, refusals, item.counted)
                results.append(item.result)
        if done is None:  # one user per transaction, as a request of one
            results += [await answer_one(one, obj) for obj in chunk]
    return results


def write_chunk(write: ArrayWrite, objects: Sequence[Mapping[str, Any]]) -> list[Done]:
    """Write `objects` in one transaction (on a worker thread), each alone in a savepoint;
    stops after an item whose refusal the loop must count first, or once `chunk_s` has
    passed (the caller sends the rest again)."""
    done: list[Done] = []
    with write.store.saving_records() as batch:
        until = write.monotonic() + write.chunk_s
        for obj in objects:
            item = write_one(write, batch, obj)
            done.append(item)
            if item.counted or write.monotonic() >= until:
                break
    return done


def write_one(write: ArrayWrite, batch: RecordBatch, obj: Mapping[str, Any]) -> Done:
    """One item as `users._save` and `credentials.change_credentials` answer it."""
    try:
        new = parse_user(obj, write.tz)
    except REFUSALS as exc:
        return _refused(common_error(exc))
    fields = credential_fields(new)
    if fields:
        wait = write.wait_s()
        if wait > 0:
            return _refused(waiting_refusal(fields, wait))  # not looked at, not counted
    try:
        batch.save(new.user_id, write.builder(new), write.mode)
    except CredentialTaken as exc:
        if not fields or (exc.kind != "pin" and write.may_read_users):
            return _refused(common_error(exc, NAMES))  # it can read the owner anyway
        return Done(_error(taken_refusal(exc)), counted=fields)
    except StoreError as exc:
        return _refused(common_error(exc, NAMES))
    except ActatekError as exc:  # the builder's: what this session may not do
        return _refused(exc)
    verb = "Added" if write.mode == "add" else "Updated"
    return Done({"status": "success", "message": f"User {new.user_id} {verb}"}, new.user_id)


def _error(refusal: ActatekError) -> Result:
    return {"status": "error", "message": refusal.message}


def _refused(refusal: ActatekError) -> Done:
    return Done(_error(refusal))
