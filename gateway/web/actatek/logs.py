"""Section 2: event logs (capability "logs": USERADMIN and SUPERADMIN).

- `GET getLogs/{sessionid}` (getLogs) and `GET getLogs/{sessionid}/{limit}` (getFullLogs,
  with userName, departmentName, terminalName, accessMethod, remarks and our `door`).
  `limit` 1..1000000 caps the answer; 0 means no limit (the reference's "not present"
  cannot be written in a path). Filters: `from`, `to`, `employeeName` (case-insensitive
  part of "first last"), `employeeID`, `departmentID` (a department the user belongs to),
  `trigger` (event name, case-insensitive), `terminalSN` (this device's id, else nothing).
  Logs come oldest first (time, then logID), so `from` pages through them; `logID` is the
  journal's seq. See `gateway.store.log_query` for which rows are logs and their names.
- Times: `from`/`to` with `Z` are UTC, without it local time ([device] timezone); `to` is
  inclusive to its second. Answers use local time without an offset unless every bound
  given was UTC: then UTC with `Z`.
- The log settings hide refused attempts (`log_unAuth_event`, logUnauthorizedEvent),
  refused unregistered cards, tamper ("case") events, user or audit events; the journal
  itself always keeps everything.
- `GET getLogPhoto/{sessionid}/{timestamp}`: this device has no camera: the common error.
- `POST addLog/{sessionId}/{timestamp}/{employeeID}/{trigger}`: an existing user, a
  trigger IN, OUT or F1..F40, a time not in the future; journaled as an `api` event
  naming who added it.
- `DELETE deleteLogs/{sessionId}/{daysToKeep}` (0..36500; 0 keeps nothing older than
  now) and `DELETE resetLog/{sessionid}`: what getLogs lists goes (under the log settings
  in force: what they hide stays), every other event stays; the answer counts what went.
  A log an active agent has not received yet is kept for it, no longer listed (see
  `EventJournal.delete_logs`); the sequence never moves back. Each is journaled
  afterwards, with who and how many, before the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.store.log_records import LogQuery, LogRow
from gateway.store.schema import TRIGGER_TYPES
from gateway.web.actatek.answers import ActatekError, success
from gateway.web.actatek.context import LogListing, context_of
from gateway.web.actatek.inputs import (
    XsdTime,
    journal_time,
    parse_xsd_time,
    path_int,
    query_int,
    query_params,
    short,
)
from gateway.web.actatek.sections import in_thread
from gateway.web.actatek.session import endpoint, session_of

log = logging.getLogger(__name__)

CAPABILITY = "logs"
FILTERS = ("from", "to", "employeeName", "employeeID", "departmentID", "trigger", "terminalSN")
CHUNK = 1000
MAX_LIMIT = 1_000_000
MAX_DAYS_TO_KEEP = 36_500
FUTURE_SLACK_S = 300.0  # an added log may be this far ahead of our clock (clock skew)
LOCAL_SECONDS = len("2025-07-16T10:24:13")


def _time_bounds(request: web.Request, params: Mapping[str, str]) -> tuple[LogQuery, bool]:
    """The time bounds as a query, and whether answers are in UTC."""
    tz = context_of(request).terminal.tz
    start, end = (_xsd(params, name, tz) for name in ("from", "to"))
    if start is not None and end is not None and start.when > end.when:
        raise ActatekError("from: must not be after to")
    given = [bound for bound in (start, end) if bound is not None]
    query = LogQuery(
        start=None if start is None else start.journal_time(),
        end=None if end is None else _exclusive_end(end),
    )
    return query, bool(given) and all(bound.utc for bound in given)


def _xsd(params: Mapping[str, str], name: str, tz: ZoneInfo) -> XsdTime | None:
    raw = params.get(name)
    return None if raw is None else parse_xsd_time(name, raw, tz)


def _exclusive_end(end: XsdTime) -> str:
    """`to=10:24:13` takes in what happened during that second; with a fraction, that ms."""
    step = timedelta(milliseconds=1) if end.fraction else timedelta(seconds=1)
    return replace(end, when=end.when + step).journal_time()


def _query(request: web.Request, limit: int | None, full: bool) -> tuple[LogQuery, bool]:
    """Every filter of the request (the common error for a bad one) and the UTC flag."""
    params = query_params(request, FILTERS)
    query, utc = _time_bounds(request, params)
    view = context_of(request).terminal.log_settings().view()
    text = {name: _text(params, name) for name in ("employeeName", "employeeID", "trigger")}
    query = replace(
        query,
        employee_name=text["employeeName"],
        employee_id=text["employeeID"],
        department_id=query_int(params, "departmentID"),
        trigger=text["trigger"],
        limit=limit,
        full=full,
        view=view,
    )
    return query, utc


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not 1 <= len(value) <= 64:
        raise ActatekError(f"{name}: expected 1 to 64 characters")
    return value


def _other_terminal(request: web.Request) -> bool:
    """A `terminalSN` that is not this device: it holds no logs of other terminals."""
    serial = request.query.get("terminalSN")
    return serial is not None and serial != context_of(request).settings.device.id


def _entry(row: LogRow, utc: bool, full: bool, serial: str, name: str) -> dict[str, object]:
    timestamp = row.time[:LOCAL_SECONDS] + "Z" if utc else row.local_time[:LOCAL_SECONDS]
    entry: dict[str, object] = {
        "logID": row.seq,
        "userID": row.user_id or "",
        "timestamp": timestamp,
        "trigger": row.trigger,
        "terminalSN": serial,
    }
    if full:
        entry.update(
            userName=row.user_name,
            departmentName=row.department_name,
            terminalName=name,
            accessMethod=row.access_method,
            remarks=row.remarks,
            door=row.door,
        )
    return entry


async def _list(request: web.Request, limit: int | None, full: bool) -> web.StreamResponse:
    """Validate, then stream the matching logs as one JSON array, chunk by chunk."""
    query, utc = _query(request, limit, full)
    ctx = context_of(request)
    if _other_terminal(request):
        return web.json_response([])
    await ctx.flush_journal()  # a client sees the events that happened before it asked
    outs = [reader.name for reader in ctx.settings.readers if reader.direction == "out"]
    cursor = await in_thread(ctx.open_logs, query, outs)
    try:
        rows = await in_thread(cursor.fetch, CHUNK)  # a failure here is still the common error
        device = ctx.settings.device
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        await _stream(
            response, cursor, rows, lambda r: _entry(r, utc, full, device.id, device.name)
        )
    finally:
        await in_thread(cursor.close)
    return response


async def _stream(
    response: web.StreamResponse,
    cursor: LogListing,
    rows: list[LogRow],
    render: Callable[[LogRow], dict[str, object]],
) -> None:
    """Write `rows` and every further chunk of `cursor`, one write per chunk."""
    opening = b"["
    try:
        while rows:
            chunk = json.dumps([render(row) for row in rows])[1:-1].encode()  # no brackets
            await response.write(opening + chunk)
            opening = b","
            rows = await in_thread(cursor.fetch, CHUNK)
    except ConnectionResetError:
        return  # the client went away: nothing to tell it
    except Exception:
        # The status line is sent: cut the body short, so the client sees invalid JSON
        # rather than a list that silently misses logs.
        log.exception("getLogs failed while streaming")
        response.force_close()
        return
    await response.write(b"[]" if opening == b"[" else b"]")
    await response.write_eof()


@endpoint(CAPABILITY)
async def get_logs(request: web.Request) -> web.StreamResponse:
    """GET getLogs/{sessionid}: logID, userID, timestamp, trigger, terminalSN."""
    return await _list(request, None, full=False)


@endpoint(CAPABILITY)
async def get_full_logs(request: web.Request) -> web.StreamResponse:
    """GET getLogs/{sessionid}/{limit}: every field; limit 0 = no limit."""
    limit = path_int(request, "limit", 0, MAX_LIMIT)
    return await _list(request, limit or None, full=True)


@endpoint(CAPABILITY)
async def get_log_photo(request: web.Request) -> web.Response:
    """GET getLogPhoto/{sessionid}/{timestamp}: no camera, so never a photo."""
    query_params(request, ("terminalSN",))
    parse_xsd_time("timestamp", request.match_info["timestamp"], context_of(request).terminal.tz)
    raise ActatekError("no photo: this terminal has no camera")


@endpoint(CAPABILITY)
async def add_log(request: web.Request) -> web.Response:
    """POST addLog/{sessionId}/{timestamp}/{employeeID}/{trigger}."""
    ctx = context_of(request)
    info = request.match_info
    when = parse_xsd_time("timestamp", info["timestamp"], ctx.terminal.tz).when.timestamp()
    if when > ctx.clock.time() + FUTURE_SLACK_S:
        raise ActatekError("timestamp: must not be in the future")
    trigger = info["trigger"].upper()
    if trigger not in TRIGGER_TYPES:
        raise ActatekError("trigger: expected IN, OUT or F1..F40")
    employee = info["employeeID"]
    if await in_thread(ctx.stores.users.get_user, employee) is None:
        raise ActatekError(f"employeeID: no user {short(employee)}")
    ctx.terminal.add_log(when, employee, trigger, session_of(request).username)
    await ctx.journal_durable()  # success means durable: a full disk answers an error
    return success("log added")


@endpoint(CAPABILITY)
async def delete_logs(request: web.Request) -> web.Response:
    """DELETE deleteLogs/{sessionId}/{daysToKeep}."""
    days = path_int(request, "days", 0, MAX_DAYS_TO_KEEP)
    before = journal_time(context_of(request).clock.time() - days * 86_400)
    return await _delete(request, before, "logs_deleted", f"days_to_keep={days} ")


@endpoint(CAPABILITY)
async def reset_log(request: web.Request) -> web.Response:
    """DELETE resetLog/{sessionid}."""
    return await _delete(request, None, "logs_reset", "")


async def _delete(request: web.Request, before: str | None, reason: str, what: str) -> web.Response:
    """Take the logs up to the newest durable row (older than `before`) out of the access
    log, journal who did it and how many, and answer how many getLogs listed. Rows
    appended meanwhile stay."""
    ctx = context_of(request)
    await ctx.flush_journal()
    last = await in_thread(ctx.journal.last_seq)
    view = ctx.terminal.log_settings().view()
    taken = await in_thread(ctx.journal.delete_logs, last, before, view)
    detail = (
        f"{what}deleted={taken.listed} kept_for_agents={taken.kept_for_agents} up_to_seq={last}"
    )
    ctx.record_api(reason, session_of(request).username, detail)
    await ctx.journal_durable()  # success means the audit event is durable
    return success(f"{taken.listed} logs deleted")


def add_routes(app: web.Application) -> None:
    prefix = "/cgi-bin/restapi"
    app.router.add_get(f"{prefix}/getLogs/{{sessionid}}", get_logs)
    app.router.add_get(f"{prefix}/getLogs/{{sessionid}}/{{limit}}", get_full_logs)
    app.router.add_get(f"{prefix}/getLogPhoto/{{sessionid}}/{{timestamp}}", get_log_photo)
    app.router.add_post(
        f"{prefix}/addLog/{{sessionid}}/{{timestamp}}/{{employeeID}}/{{trigger}}", add_log
    )
    app.router.add_delete(f"{prefix}/deleteLogs/{{sessionid}}/{{days}}", delete_logs)
    app.router.add_delete(f"{prefix}/resetLog/{{sessionid}}", reset_log)
