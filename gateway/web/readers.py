"""Reader diagnostics and "learn a card" on the native API (docs/readers.md, "Diagnostics
and learning a card").

- `GET /api/v1/readers/{name}/frames` (any session): the reader's counters and last
  frames, newest first, each explained format by format; without `logs` only their shape,
  as the status shows them.
- `POST /api/v1/readers/{name}/learn` (`logs`) `{"frame": ID, "printed": "..."}`: the
  formats and modes under which the frame reads as the printed number, best first, or why
  none does.
- `POST /api/v1/readers/{name}/enroll` (`users`) `{"frame": ID, "user_id": "..."}`: add
  the card the reader read in that frame to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from gateway.model import User
from gateway.store.errors import CredentialTaken, NotFoundError, StoreError, ValidationError
from gateway.store.validate import MAX_USER_ID
from gateway.web import roles, security
from gateway.web.actatek.answers import ActatekError
from gateway.web.actatek.users import guard_user
from gateway.web.api import EVENTS, session_of
from gateway.web.common import BadRequest, error, json_object

BODY_BYTES = 1024
MAX_PRINTED_FIELD = 256
FRAME_ID_MAX = 2**53  # what a browser's JSON numbers carry exactly


class ReaderDiagnosis(Protocol):
    """The readers' diagnostics (`gateway.reader_diagnostics.ReaderDiagnostics`). An
    unknown reader or frame raises LookupError; input that cannot be used, ValueError."""

    def reader_names(self) -> list[str]: ...

    def frames(self, name: str) -> dict[str, Any]: ...

    def learn(self, name: str, frame_id: int, printed: str) -> dict[str, Any]: ...

    async def enroll(
        self, name: str, frame_id: int, user_id: str, check_user: Callable[[User], None]
    ) -> dict[str, Any]: ...


DIAGNOSIS = web.AppKey("reader_diagnosis", ReaderDiagnosis)
# What a frame keeps for a role that may not read raw frames: its shape and its verdict.
SHAPE_KEYS = roles.FRAME_SHAPE | {"parity"}


def visible_frames(frames: dict[str, Any], level: str) -> dict[str, Any]:
    """The reader's diagnostics as a session of `level` may read them: without the raw
    frames capability, frames keep their shape, not their bits or numbers."""
    if roles.may(level, roles.RAW_FRAMES_CAPABILITY):
        return frames
    shapes = [{k: v for k, v in frame.items() if k in SHAPE_KEYS} for frame in frames["frames"]]
    return {**frames, "frames": shapes}


async def frames(request: web.Request) -> web.Response:
    """GET /api/v1/readers/{name}/frames."""
    name = request.match_info["name"]
    try:
        found = request.app[DIAGNOSIS].frames(name)
    except LookupError as exc:
        return error(404, str(exc))
    return web.json_response(visible_frames(found, session_of(request).level))


def frame_id(body: dict[str, Any]) -> int:
    """The `frame` field: a frame's id as the frames route lists it."""
    value = body.get("frame")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= FRAME_ID_MAX:
        raise BadRequest("frame: expected the id of one of the reader's frames (1 or more)")
    return value


def text_field(body: dict[str, Any], name: str, limit: int) -> str:
    """A required string field, 1 to `limit` characters."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{name}: expected a string of 1 to {limit} characters")
    return value


async def _body(request: web.Request, keys: frozenset[str]) -> dict[str, Any]:
    body = await json_object(request, BODY_BYTES)
    unknown = sorted(set(body) - keys)
    if unknown:
        raise BadRequest(
            f"unknown fields: {', '.join(unknown)}; expected {', '.join(sorted(keys))}"
        )
    return body


async def learn(request: web.Request) -> web.Response:
    """POST /api/v1/readers/{name}/learn {"frame": ID, "printed": "..."}."""
    name = request.match_info["name"]
    try:
        body = await _body(request, frozenset({"frame", "printed"}))
        found = request.app[DIAGNOSIS].learn(
            name, frame_id(body), text_field(body, "printed", MAX_PRINTED_FIELD)
        )
    except BadRequest as exc:
        return error(exc.status, str(exc))
    except LookupError as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(400, str(exc))
    return web.json_response(found)


def check_user(level: str) -> Callable[[User], None]:
    """The ACTAtek API's rule for changing a user: only a SUPERADMIN session may change a
    SUPERADMIN user or one who holds the lockdown override."""

    def check(user: User) -> None:
        try:
            guard_user(level, user)
        except ActatekError as exc:
            raise PermissionError(exc.message) from None

    return check


async def enroll(request: web.Request) -> web.Response:
    """POST /api/v1/readers/{name}/enroll {"frame": ID, "user_id": "..."}."""
    name = request.match_info["name"]
    session = session_of(request)
    try:
        body = await _body(request, frozenset({"frame", "user_id"}))
        frame, user_id = frame_id(body), text_field(body, "user_id", MAX_USER_ID)
        done = await request.app[DIAGNOSIS].enroll(name, frame, user_id, check_user(session.level))
    except BadRequest as exc:
        return error(exc.status, str(exc))
    except NotFoundError as exc:
        return error(404, str(exc))
    except CredentialTaken as exc:  # the caller may read every user: the owner is no secret
        return error(409, str(exc))
    except ValidationError as exc:
        return error(400, str(exc))
    except StoreError as exc:
        return error(503, f"the user store cannot be written: {exc}")
    except PermissionError as exc:
        return error(403, str(exc))
    except LookupError as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(400, str(exc))
    detail = f"userID={user_id} card from reader {name} frame {frame}"
    request.app[EVENTS].record_api("card_enrolled", session.username, detail)
    return web.json_response({"status": "success", **done})


ROUTES = (
    # Any session, as the readers' status; the frames' values need `logs` (roles.py).
    roles.NativeRoute("GET", "/api/v1/readers/{name}/frames", frames, roles.ANY_SESSION),
    roles.NativeRoute(
        "POST", "/api/v1/readers/{name}/learn", learn, roles.needs(roles.RAW_FRAMES_CAPABILITY)
    ),
    roles.NativeRoute("POST", "/api/v1/readers/{name}/enroll", enroll, roles.needs("users")),
)


def add_routes(app: web.Application, diagnosis: ReaderDiagnosis) -> None:
    """The reader diagnostics routes, on `diagnosis`."""
    app[DIAGNOSIS] = diagnosis
    roles.add_native_routes(app, ROUTES)
    limits = app[security.BODY_LIMITS]
    for route in ROUTES:
        if route.method == "POST":
            limits[(route.method, route.path)] = BODY_BYTES
