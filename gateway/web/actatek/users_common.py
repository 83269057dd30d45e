"""Helpers shared by the management sections (users, departments, access rights, access
groups, holidays, myself, TOTP).

- Array bodies answer an array of per-item results; each item is written in its own
  transaction, so one bad item neither aborts the others nor leaves half a record.
- Store errors become the common error with the API's field name.
- Store calls run on a worker thread: a 10,000-user array must not stall the event loop
  that opens the doors.
- After a write: one journal line per changed record. No handler asks for a rules reload:
  the stores report every change of the rules, and the answer leaves once it is in force
  (`gateway.web.rules_in_force`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web

from gateway.store.errors import NotFoundError, StoreError, ValidationError
from gateway.web.actatek.common import (
    ActatekError,
    context_of,
    one_or_many,
    session_of,
    success,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

ID_MAX = 2**31 - 1  # department, access right and group ids (ACTAtek "integer")
MAX_QUERY_VALUE = 256


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a store call on a worker thread (the store is thread-safe), in the request's
    context: its rules changes join the request's batch (`gateway.web.rules_in_force`)."""
    return await asyncio.to_thread(fn, *args)


def store_error(exc: StoreError, names: Mapping[str, str]) -> ActatekError:
    """The common error for a store refusal; `names` maps store field names to API names."""
    if isinstance(exc, ValidationError):
        return ActatekError(f"{names.get(exc.field, exc.field)}: {exc.message}")
    if isinstance(exc, NotFoundError):
        return ActatekError(str(exc))
    log.error("store failure in the ACTAtek API: %s", exc)
    return ActatekError("database error", 500)


async def call_store(names: Mapping[str, str], fn: Callable[..., T], *args: Any) -> T:
    """`in_thread(fn, *args)` with store errors turned into the common error."""
    try:
        return await in_thread(fn, *args)
    except StoreError as exc:
        raise store_error(exc, names) from exc


def short(value: str, limit: int = 64) -> str:
    """A client-supplied name quoted for an error message, cut to `limit` characters."""
    return repr(value[:limit] + ("..." if len(value) > limit else ""))


def query_params(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query string as a dict: only `allowed` names, each at most once."""
    params: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in allowed:
            raise ActatekError(
                f"unknown query parameter {short(key)}; expected {', '.join(allowed)}"
            )
        if key in params:
            raise ActatekError(f"{key}: given more than once")
        if len(value) > MAX_QUERY_VALUE or not value.isprintable():
            raise ActatekError(f"{key}: expected text of at most {MAX_QUERY_VALUE} characters")
        params[key] = value
    return params


def query_int(params: Mapping[str, str], name: str, high: int = ID_MAX) -> int | None:
    """An integer query parameter from 0 to `high`, or None when absent."""
    raw = params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > high:
        raise ActatekError(f"{name}: expected a whole number from 0 to {high}")
    return int(raw)


def path_id(request: web.Request, name: str = "id") -> int:
    """An id from the path, 0 to ID_MAX (ASCII digits only: "²" is a digit to Python)."""
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > ID_MAX:
        raise ActatekError(f"{name}: expected a whole number from 0 to {ID_MAX}")
    return int(raw)


def expect_object(body: Any) -> Mapping[str, Any]:
    """The body must be one JSON object."""
    if not isinstance(body, dict):
        raise ActatekError("expected a JSON object")
    return body


def no_unknown_keys(obj: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    """Refuse fields this API does not know: a typo must not be silently ignored."""
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ActatekError(f"{what}: unknown field {short(unknown[0])}")


Item = Callable[[Mapping[str, Any]], Awaitable[str]]


async def run_items(request: web.Request, body: Any, one: Item) -> web.Response:
    """Apply `one` to a single object or to each object of an array.

    A single object answers `{"status": "success", "message": ...}` or the common error.
    An array answers 200 with one such result per item, in order (ACTAtek's
    `[RESPONSE1, RESPONSE2, ...]`); each item is all-or-nothing on its own.
    The answer leaves once what was written is in force (`gateway.web.rules_in_force`).
    """
    items, was_array = one_or_many(body)
    if not was_array:
        return success(await one(items[0]))
    results: list[dict[str, str]] = []
    for item in items:
        try:
            results.append({"status": "success", "message": await one(item)})
        except ActatekError as exc:
            results.append({"status": "error", "message": exc.message})
    return web.json_response(results)


def journal(request: web.Request, reason: str, detail: str) -> None:
    """Record who changed what (never a PIN or a secret in `detail`)."""
    context_of(request).record_api(reason, session_of(request).username, detail)
