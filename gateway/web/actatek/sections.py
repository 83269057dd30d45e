"""How an ACTAtek section runs: store calls off the loop, store refusals as the common
error, one result per item of an array body, and the routes of its paths.

- Array bodies answer an array of per-item results; each item is written in its own
  transaction (or, where a section writes its arrays in chunks, its own SAVEPOINT), so
  one bad item neither aborts the others nor leaves half a record.
- Store errors become the common error with the API's field name.
- Store calls run on a worker thread: a 10,000-user array must not stall the event loop
  that opens the doors.
- After a write: one journal line per changed record. No handler asks for a rules reload:
  the stores report every change of the rules, and the answer leaves once it is in force
  (`gateway.web.rules_in_force`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from gateway.store.errors import StoreError
from gateway.web.actatek.answers import REFUSALS, Handler, common_error, success
from gateway.web.actatek.inputs import MAX_BODY_BYTES, one_or_many, read_json
from gateway.web.actatek.session import endpoint

T = TypeVar("T")
V = TypeVar("V")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a store call on a worker thread (the store is thread-safe), in the request's
    context: its rules changes join the request's batch (`gateway.web.rules_in_force`)."""
    return await asyncio.to_thread(fn, *args)


async def call_store(names: Mapping[str, str], fn: Callable[..., T], *args: Any) -> T:
    """`in_thread(fn, *args)`, a store refusal answered with the section's field `names`."""
    try:
        return await in_thread(fn, *args)
    except StoreError as exc:
        raise common_error(exc, names) from exc


Item = Callable[[Mapping[str, Any]], Awaitable[str]]
Result = dict[str, str]  # one item's answer in an array: {"status": ..., "message": ...}


async def run_items(request: web.Request, body: Any, one: Item) -> web.Response:
    """Apply `one` to a single object or to each object of an array.

    A single object answers `{"status": "success", "message": ...}` or the common error.
    An array answers 200 with one such result per item, in order (ACTAtek's
    `[RESPONSE1, RESPONSE2, ...]`); each item is all-or-nothing on its own.
    The answer leaves once what was written is in force (`gateway.web.rules_in_force`).
    """
    items, was_array = one_or_many(body)
    return await answer_each(items, one, was_array)


async def answer_each(
    values: Sequence[V], one: Callable[[V], Awaitable[str]], many: bool
) -> web.Response:
    """`one` applied to each value: the success or the common error of the only one, or
    (`many`) 200 with one result per value, in order, a refusal not stopping the next."""
    if not many:
        return success(await one(values[0]))
    return web.json_response([await answer_one(one, value) for value in values])


async def answer_one(one: Callable[[V], Awaitable[str]], value: V) -> Result:
    """`one(value)` as one item of an array answers: its success or its refusal."""
    try:
        return {"status": "success", "message": await one(value)}
    except REFUSALS as exc:
        return {"status": "error", "message": common_error(exc).message}


def add_both(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Route `path` with and without a trailing slash (the reference writes both)."""
    app.router.add_route(method, path.rstrip("/"), handler)
    app.router.add_route(method, path.rstrip("/") + "/", handler)


# -- a section's collection on the app ------------------------------------------------------

ItemCall = Callable[[web.Request, Mapping[str, Any]], Awaitable[str]]
# An array body's objects at once, answered one result per object, in order.
ArrayCall = Callable[[web.Request, list[Mapping[str, Any]]], Awaitable[list[Result]]]


@dataclass(frozen=True)
class Section:
    """A section's collection endpoints at `path` (with `{sessionid}`), each behind the
    session check and `capability` (`gateway.web.actatek.session.endpoint`).

    `add` (POST) and `update` (PUT) take one object of the body, parse its fields, make
    the store call and journal it, and return the success message: `add_section` reads the
    body (at most `max_body` bytes) and answers one result or one per item (`run_items`).
    `add_many` / `update_many`, when given, take an array body instead (a section whose
    arrays are large writes them in chunks): the same answers as `add` / `update` applied
    to each object in turn.
    `get` and `delete` are whole handlers (their filters and answers differ between
    sections); DELETE is routed at `path + delete_suffix` (`"/{id}"` for a path id).
    `with_slash`: each path also with a trailing slash (the reference writes both).
    Home Assistant's `StorageCollectionWebsocket` is the model: a collection declares its
    parser and store calls, one function registers the commands."""

    path: str
    capability: str
    add: ItemCall | None = None
    update: ItemCall | None = None
    get: Handler | None = None
    delete: Handler | None = None
    delete_suffix: str = ""
    add_many: ArrayCall | None = None
    update_many: ArrayCall | None = None
    max_body: int = MAX_BODY_BYTES
    with_slash: bool = False  # also answer at the path with a trailing slash


def add_section(app: web.Application, section: Section) -> None:
    """Route the methods `section` has."""
    checked = endpoint(section.capability)
    add, update, limit = section.add, section.update, section.max_body
    routes: list[tuple[str, str, Handler | None]] = [
        ("POST", section.path, add and _items(add, section.add_many, limit)),
        ("PUT", section.path, update and _items(update, section.update_many, limit)),
        ("GET", section.path, section.get),
        ("DELETE", section.path + section.delete_suffix, section.delete),
    ]
    for method, path, handler in routes:
        if handler is None:
            continue
        if section.with_slash:
            add_both(app, method, path, checked(handler))
        else:
            app.router.add_route(method, path, checked(handler))


def _items(one: ItemCall, many: ArrayCall | None, max_body: int) -> Handler:
    """A handler applying `one` to each object of the body (`many` to an array, if given)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await read_json(request, max_body)
        items, was_array = one_or_many(body)
        if was_array and many is not None:
            return web.json_response(await many(request, items))
        return await answer_each(items, functools.partial(one, request), was_array)

    handle.__name__ = one.__name__
    handle.__doc__ = one.__doc__
    return handle
