"""The reader pages: `/readers` (each reader's counters, warning and last frames, each
frame explained), and `/readers/{name}/learn` ("learn a card": pick a frame, type the
number printed on the card, see which format and display mode match, enroll the card for
a user). Plain forms and full page loads: nothing here needs JavaScript.

They read the readers through the same `ReaderDiagnosis` as the JSON routes
(`gateway.web.readers`), which `add_routes` registers too, with the same capabilities:
any session sees the frames' shape, `logs` their bits and numbers and the learn page,
`users` the enroll form.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway.store.errors import CredentialTaken, NotFoundError, StoreError, ValidationError
from gateway.store.validate import MAX_USER_ID
from gateway.web import api, readers, roles
from gateway.web.page.site import add_page, may, page_session, read_form, render

LEARN_CAPABILITY = roles.RAW_FRAMES_CAPABILITY
ENROLL_CAPABILITY = "users"
MAX_PRINTED = 256
WAIT_S = 20.0  # "wait for the next card": long enough to walk to the reader
WAIT_POLL_S = 0.2


def _zone(request: web.Request) -> ZoneInfo | None:
    try:
        return ZoneInfo(request.app[api.STATUS].status()["device"]["timezone"])
    except (KeyError, ValueError):
        return None


def _clock_time(stamp: Any, zone: ZoneInfo | None) -> str:
    """A wall time as the device's local time of day (UTC, said so, without a zone)."""
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return ""
    if zone is None:
        return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S UTC")
    return datetime.fromtimestamp(stamp, zone).strftime("%H:%M:%S")


def _with_times(found: dict[str, Any], zone: ZoneInfo | None) -> dict[str, Any]:
    frames = [{**frame, "clock": _clock_time(frame.get("time"), zone)} for frame in found["frames"]]
    return {**found, "frames": frames, "last_seen_clock": _clock_time(found.get("last_seen"), zone)}


async def readers_page(request: web.Request) -> web.StreamResponse:
    """GET /readers: every reader's diagnostics, as the role may read them."""
    diagnosis = request.app[readers.DIAGNOSIS]
    level = page_session(request).level
    zone = _zone(request)
    shown = [
        _with_times(readers.visible_frames(diagnosis.frames(name), level), zone)
        for name in diagnosis.reader_names()
    ]
    context = {"readers": shown, "may_learn": may(request, LEARN_CAPABILITY)}
    return render(request, "readers.html", context)


def _frame_choice(request: web.Request, frames: list[dict[str, Any]]) -> int | None:
    """The frame asked for (`?frame=ID`), else the newest one that can be learned."""
    asked = _number(request.query.get("frame", ""))
    if asked is not None:
        return asked
    learnable = [f for f in frames if "*" not in str(f.get("bits", "*"))]
    return learnable[0]["id"] if learnable else None


async def learn_page(request: web.Request) -> web.StreamResponse:
    """GET /readers/{name}/learn[?frame=ID&printed=...]: the form, and its matches.

    With `?after=ID` (the "wait for the next card" button) the answer waits, up to
    `WAIT_S`, for a frame newer than ID and chooses it: a technician without JavaScript
    presses the button, presents the card, and the page comes back with its frame."""
    printed = request.query.get("printed", "").strip()
    after = _number(request.query.get("after", ""))
    if after is None:
        return _learn_view(request, printed, _notice(request))
    name = request.match_info["name"]
    try:
        arrived = await _wait_for_frame(request.app[readers.DIAGNOSIS], name, after)
    except LookupError as exc:
        return render(request, "refused.html", {"message": str(exc)}, status=404)
    if arrived is None:
        problem = (
            f"No frame from {name} in {WAIT_S:g} s. Is the card held flat to the reader, "
            "and is the reader powered and wired (DATA0, DATA1 and a common ground)?"
        )
        return _learn_view(request, printed, problem=problem, keep_problem=True)
    return _learn_view(request, printed, chosen=arrived)


async def _wait_for_frame(diagnosis: readers.ReaderDiagnosis, name: str, after: int) -> int | None:
    """The id of the first frame newer than `after`, or None after `WAIT_S` (on the
    loop's monotonic clock). LookupError for an unknown reader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        ids = [int(f.get("id") or 0) for f in diagnosis.frames(name)["frames"]]
        newer = [frame_id for frame_id in ids if frame_id > after]
        if newer:
            return min(newer)
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(WAIT_POLL_S)


def _number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 16 else None


def _learn_view(
    request: web.Request,
    printed: str,
    notice: str = "",
    problem: str = "",
    status: int = 200,
    user_id: str = "",
    chosen: int | None = None,
    keep_problem: bool = False,
) -> web.Response:
    name = request.match_info["name"]
    diagnosis = request.app[readers.DIAGNOSIS]
    try:
        found = _with_times(diagnosis.frames(name), _zone(request))
    except LookupError as exc:
        return render(request, "refused.html", {"message": str(exc)}, status=404)
    if chosen is None:
        chosen = _frame_choice(request, found["frames"])
    result: dict[str, Any] | None = None
    if printed and chosen is not None and (keep_problem or not problem):
        try:
            result = diagnosis.learn(name, chosen, printed[:MAX_PRINTED])
        except LookupError as exc:
            problem, status = str(exc), 404
        except ValueError as exc:
            problem, status = str(exc), 400
    context = {
        "reader": found,
        "chosen": chosen,
        "printed": printed,
        "result": result,
        "notice": notice,
        "problem": problem,
        "may_enroll": may(request, ENROLL_CAPABILITY),
        "user_id": user_id,
        "max_user_id": MAX_USER_ID,
        "newest": max((f.get("id") or 0 for f in found["frames"]), default=0),
        "wait_s": WAIT_S,
    }
    return render(request, "reader_learn.html", context, status=status)


# What the redirect after an enrollment may announce: fixed text, nothing from the request.
NOTICES = {"enrolled": "Card enrolled. Present it at the reader: the door should open."}


def _notice(request: web.Request) -> str:
    return NOTICES.get(request.query.get("notice", ""), "")


async def enroll(request: web.Request) -> web.StreamResponse:
    """POST /readers/{name}/enroll (frame, user_id, printed): add the frame's card to the
    user, then back to the learn page (303, so a reload does not send it again)."""
    name = request.match_info["name"]
    form = await read_form(request)
    frame, user_id = str(form.get("frame", "")), str(form.get("user_id", "")).strip()
    printed = str(form.get("printed", ""))[:MAX_PRINTED].strip()
    if not (frame.isascii() and frame.isdigit() and len(frame) <= 16):
        return _learn_view(request, printed, problem="choose a frame first", status=400)
    if not user_id or len(user_id) > MAX_USER_ID:
        problem = f"type the user's ID (1 to {MAX_USER_ID} characters)"
        return _learn_view(request, printed, problem=problem, status=400)
    session = page_session(request)
    diagnosis = request.app[readers.DIAGNOSIS]
    try:
        await diagnosis.enroll(name, int(frame), user_id, readers.check_user(session.level))
    except (NotFoundError, LookupError) as exc:
        return _learn_view(request, printed, problem=str(exc), status=404, user_id=user_id)
    except CredentialTaken as exc:
        return _learn_view(request, printed, problem=str(exc), status=409, user_id=user_id)
    except (ValidationError, ValueError) as exc:
        return _learn_view(request, printed, problem=str(exc), status=400, user_id=user_id)
    except PermissionError as exc:
        return _learn_view(request, printed, problem=str(exc), status=403, user_id=user_id)
    except StoreError as exc:
        problem = f"the user store cannot be written: {exc}"
        return _learn_view(request, printed, problem=problem, status=503, user_id=user_id)
    detail = f"userID={user_id} card from reader {name} frame {frame} (page)"
    request.app[api.EVENTS].record_api("card_enrolled", session.username, detail)
    raise web.HTTPSeeOther(f"/readers/{name}/learn?notice=enrolled&frame={frame}")


def add_routes(app: web.Application, diagnosis: readers.ReaderDiagnosis) -> None:
    """The JSON routes of `gateway.web.readers` and the reader pages, on `diagnosis`."""
    readers.add_routes(app, diagnosis)
    add_page(app, "GET", "/readers", readers_page, nav="Readers", nav_order=30)
    add_page(app, "GET", "/readers/{name}/learn", learn_page, capability=LEARN_CAPABILITY)
    add_page(app, "POST", "/readers/{name}/enroll", enroll, capability=ENROLL_CAPABILITY)
