"""The OpenAPI 3.1 document of the native API (/api/v1) and the Akuvox OpenDoor endpoint.

Served at `GET /api/v1/openapi.json` without a session: it is documentation, it describes
only what any client may already try, and it holds no data of this gateway. A test
compares it with the application's routes (every /api/v1 route documented, nothing
documented that does not exist), and a schemathesis run fuzzes the live app against it.
Written as a plain dict: no run-time dependency for a static document. What each
operation needs (`x-capability`, `x-roles` and its 403 answer) is filled in from the
route tables the session middleware enforces, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.web import api, doors, live, operations, readers, roles

PATH = "/api/v1/openapi.json"
JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _retry(description: str) -> dict[str, Any]:
    answer = _error(description)
    answer["headers"] = {
        "Retry-After": {
            "description": "seconds to wait before the next attempt",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    }
    return answer


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


# Answers every session-protected endpoint may give, whatever it does; an endpoint that
# needs a capability says so in its 403 (`_with_guards`).
_SESSION_ERRORS: dict[str, Any] = {
    "401": _error("no session, or an unknown or expired one"),
    "403": _error(
        "a one-time password must be changed first, or (cookie sessions) the "
        "X-CSRF-Token header is missing or wrong"
    ),
}
_BODY_TOO_LARGE = {"413": _error("the body is larger than this endpoint takes")}
_DOOR_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "a [[doors]] name",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"},
}
_LOCKDOWN_BODY = {
    "required": True,
    "content": {JSON: {"schema": _ref("Lockdown")}},
}

_COUNT = {"type": "integer", "minimum": 0}
_CHECK_STATUS = {"enum": ["ok", "warn", "fail"]}

SCHEMAS: dict[str, Any] = {
    "History": {
        "type": "object",
        "required": ["timezone", "totals", "hours"],
        "properties": {
            "timezone": {"type": "string"},
            "totals": {
                "type": "object",
                "properties": {"granted": _COUNT, "denied": _COUNT, "alarms": _COUNT},
            },
            "hours": {
                "type": "array",
                "minItems": 24,
                "maxItems": 24,
                "items": {
                    "type": "object",
                    "required": ["start", "label", "granted", "denied", "alarms"],
                    "properties": {
                        "start": {"type": "string", "description": "ISO 8601, local offset"},
                        "label": {"type": "string", "examples": ["14:00"]},
                        "granted": _COUNT,
                        "denied": _COUNT,
                        "alarms": {**_COUNT, "description": "door alarms raised"},
                    },
                },
            },
        },
    },
    "Configuration": {
        "type": "object",
        "required": ["settings", "check"],
        "properties": {
            "settings": {
                "type": "object",
                "description": "the settings as TOML nests them; secrets read ****",
            },
            "check": {
                "type": "object",
                "required": ["path", "valid", "errors", "warnings", "summary"],
                "properties": {
                    "path": {"type": "string"},
                    "valid": {"type": "boolean"},
                    "errors": {"type": "array", "items": {"type": "string"}},
                    "warnings": {"type": "array", "items": {"type": "string"}},
                    "summary": {"type": "string"},
                },
            },
        },
    },
    "Selftest": {
        "type": "object",
        "required": ["ok", "time", "by", "counts", "checks"],
        "properties": {
            "ok": {"type": "boolean", "description": "no check failed"},
            "time": {"type": "number"},
            "by": {"type": "string"},
            "counts": {
                "type": "object",
                "properties": {"ok": _COUNT, "warn": _COUNT, "fail": _COUNT},
            },
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "status", "detail", "action"],
                    "properties": {
                        "name": {"type": "string"},
                        "status": _CHECK_STATUS,
                        "detail": {"type": "string"},
                        "action": {"type": "string", "description": "what to do; empty on ok"},
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"const": "error"}, "message": {"type": "string"}},
        "additionalProperties": False,
    },
    "Success": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "success"}},
        "additionalProperties": False,
    },
    "LoginRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[ -~]+$"},
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
            "cookie": {
                "type": "boolean",
                "description": "true: the token is set as an HttpOnly, SameSite=Strict "
                "cookie (the status page) and the answer carries the CSRF token instead",
            },
        },
        "additionalProperties": False,
    },
    "LoginAnswer": {
        "type": "object",
        "required": ["must_change"],
        "properties": {
            "token": {"type": "string", "minLength": 32},
            "csrf_token": {"type": "string", "minLength": 32},
            "must_change": {
                "type": "boolean",
                "description": "a one-time password: only POST /api/v1/password (and logout) "
                "work until it is changed",
            },
        },
        "oneOf": [{"required": ["token"]}, {"required": ["csrf_token"]}],
        "additionalProperties": False,
    },
    "PasswordChange": {
        "type": "object",
        "required": ["old", "new"],
        "properties": {
            "old": {"type": "string", "minLength": 1, "maxLength": 256},
            "new": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        "additionalProperties": False,
    },
    "Status": {
        "type": "object",
        "description": "every component's status() that the session's role may read: "
        "device, doors, readers, system and floors (the lift's floor outputs) for every "
        "role (reader frames without their values unless the role has `logs`); access "
        "needs `logs`, store `users`, upstream, journal, http_unlock, notifications and "
        "web_relay `terminal`, forwarding `agents` (docs/security.md); "
        "components may add keys",
        "required": ["device", "doors", "readers"],
        "properties": {
            "device": {
                "type": "object",
                "required": ["id", "name", "version", "backend", "timezone", "uptime_s", "time"],
            },
            "doors": {"type": "object", "additionalProperties": {"type": "object"}},
            "readers": {"type": "object", "additionalProperties": {"type": "object"}},
            "upstream": {"type": "object"},
            "store": {"type": "object"},
            "journal": {"type": "object"},
            "access": {"type": "object"},
            "system": {
                "type": "object",
                "description": "clock synchronised, CPU temperature, the Raspberry Pi's "
                "throttling flags, disk and memory; null where the machine has none",
            },
            "mqtt": {
                "type": "object",
                "description": "only with [mqtt] url, for a role with `terminal`: the broker "
                "(no credentials), connected, cursor, backlog, last publish, events lost to "
                "retention, commands (docs/fleet.md)",
            },
        },
    },
    "Event": {
        "type": "object",
        "required": [
            "seq",
            "time",
            "local_time",
            "type",
            "door",
            "reader",
            "user_id",
            "credential_kind",
            "credential",
            "granted",
            "reason",
            "source",
            "trace",
            "latency_ms",
            "direction",
            "raw",
        ],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "time": {"type": "string", "description": "UTC, ISO 8601 with Z"},
            "local_time": {"type": "string", "description": "device time zone, with offset"},
            "type": {"enum": ["access", "door", "alarm", "reader", "upstream", "api", "system"]},
            "door": _nullable("string"),
            "reader": _nullable("string"),
            "user_id": _nullable("string"),
            "credential_kind": _nullable("string"),
            "credential": {
                "type": ["string", "null"],
                "description": "a PIN is always ****; a QR code is its fingerprint, sha256: "
                "and the first 4 hex digits of the SHA-256 of its text",
            },
            "granted": _nullable("boolean"),
            "reason": {"type": "string"},
            "source": _nullable("string"),
            "trace": {"type": "string"},
            "latency_ms": _nullable("number"),
            "direction": {
                "enum": ["in", "out", None],
                "description": "which way someone passed (access events); null if not said",
            },
            "raw": {
                "type": ["string", "null"],
                "description": "the frame the reader sent (Wiegand bits, serial frame, UID); "
                "null for a PIN or a QR code, for events that are not a presentation and "
                "for rows journaled before it was kept",
            },
        },
        "additionalProperties": False,
    },
    "DecisionTrace": {
        "type": "object",
        "required": ["steps", "notes", "decided_by", "source", "latency_ms", "raw"],
        "properties": {
            "steps": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the rules (or the upstream answer) consulted, in order",
            },
            "notes": {"type": "array", "items": {"type": "string"}},
            "decided_by": {
                "type": ["string", "null"],
                "description": "the step that settled the decision",
            },
            "source": _nullable("string"),
            "latency_ms": {
                "type": ["number", "null"],
                "description": "credential delivered to the decision journaled",
            },
            "raw": _nullable("string"),
        },
        "additionalProperties": False,
    },
    "EventWithTrace": {
        "type": "object",
        "required": ["event", "trace"],
        "properties": {"event": _ref("Event"), "trace": _ref("DecisionTrace")},
        "additionalProperties": False,
    },
    "Events": {
        "type": "object",
        "required": ["events", "last_seq"],
        "properties": {
            "events": {"type": "array", "items": _ref("Event")},
            "last_seq": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": False,
    },
    "Lockdown": {
        "type": "object",
        "required": ["on"],
        "properties": {"on": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "DoorDone": {
        "type": "object",
        "required": ["status", "door"],
        "properties": {"status": {"const": "success"}, "door": {"type": "string"}},
        "additionalProperties": False,
    },
    "LockdownDone": {
        "type": "object",
        "required": ["status", "door", "lockdown"],
        "properties": {
            "status": {"const": "success"},
            "door": {"type": ["string", "null"], "description": "null: every door"},
            "lockdown": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "OpenDoorResult": {
        "type": "object",
        "required": ["result"],
        "properties": {
            "result": {"enum": ["granted", "denied", "error"]},
            "reason": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


def _open_door_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _open_door_result(description: str) -> dict[str, Any]:
    return _json(_ref("OpenDoorResult"), description)


_OPEN_DOOR: dict[str, Any] = {
    "get": {
        "operationId": "openDoor",
        "summary": "Akuvox Open Relay via HTTP, with anti-passback (docs/akuvox-opendoor.md)",
        "security": [{"basicAuth": []}],
        "parameters": [
            {
                **_open_door_param("action", {"const": "OpenDoor"}, "always OpenDoor"),
                "required": True,
            },
            {
                **_open_door_param(
                    "DoorNum", {"type": "string", "pattern": "^[0-9]{1,3}$"}, "[[doors]] from 1"
                ),
                "required": True,
            },
            _open_door_param(
                "AntiPassbackMode", {"enum": ["Entry", "Exit", ""]}, "the in/out direction"
            ),
            _open_door_param("Name", {"type": "string", "maxLength": 128}, "the user's name"),
            _open_door_param(
                "UnlockType", {"type": "string", "maxLength": 32}, "e.g. RF Card, PIN, QR Code"
            ),
            _open_door_param("Code", {"type": "string", "maxLength": 64}, "card number or PIN"),
        ],
        "responses": {
            "200": _open_door_result("the door opened"),
            "400": _open_door_result("a malformed query"),
            "401": {
                **_open_door_result("missing or wrong basic auth"),
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            },
            "403": _open_door_result("refused: unknown user, anti-passback, lockdown, rules"),
            "404": _open_door_result("no such door, or [http_unlock] is not enabled"),
            "413": _open_door_result("a body was sent"),
            "429": _open_door_result("too many failed authentications: wait Retry-After"),
        },
    }
}


PATHS: dict[str, Any] = {
    "/api/v1/login": {
        "post": {
            "operationId": "login",
            "summary": "Log in; throttled per account and per client address",
            "security": [],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("LoginRequest")}}},
            "responses": {
                "200": _json(_ref("LoginAnswer"), "logged in"),
                "400": _error("a malformed body"),
                "401": _error("wrong username or password (or a disabled account)"),
                **_BODY_TOO_LARGE,
                "429": _retry("too many failed logins: wait Retry-After seconds"),
            },
        }
    },
    "/api/v1/logout": {
        "post": {
            "operationId": "logout",
            "summary": "End this session (and drop the status page's cookie)",
            "responses": {
                "200": _json(_ref("Success"), "logged out"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/password": {
        "post": {
            "operationId": "changePassword",
            "summary": "Change one's own password (required after a one-time password)",
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("PasswordChange")}},
            },
            "responses": {
                "200": _json(_ref("Success"), "changed; the account's other sessions end"),
                "400": _error("a malformed body, or a new password that is refused"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
                "429": _retry("too many wrong old passwords: wait Retry-After seconds"),
            },
        }
    },
    "/api/v1/status": {
        "get": {
            "operationId": "status",
            "summary": "Every component's status",
            "responses": {
                "200": _json(_ref("Status"), "the status"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/events": {
        "get": {
            "operationId": "events",
            "summary": "Journal events after a sequence number, oldest first",
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            ],
            "responses": {
                "200": _json(_ref("Events"), "a page of events"),
                "400": _error("after or limit out of range"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    live.STREAM_PATH: {
        "get": {
            "operationId": "eventStream",
            "summary": "Live events as Server-Sent Events (id: the journal seq); resumes "
            "after Last-Event-ID, else after ?after, else with the next event",
            "parameters": [
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "description": "the last id received (an EventSource sends it itself)",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
                },
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                },
                *(
                    {"name": name, "in": "query", "schema": {"type": "string", "maxLength": 64}}
                    for name in ("door", "reader", "user")
                ),
                {"name": "result", "in": "query", "schema": {"enum": ["granted", "denied"]}},
            ],
            "responses": {
                "200": {
                    "description": "a stream of messages: `id: SEQ` and `data:` an Event as "
                    "JSON; `event: dropped` (too slow) or `event: stopping` before it ends; "
                    "a comment every 15 s",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": _error("a filter or the position is malformed"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
                "503": _retry("as many streams are open as the gateway serves"),
            },
        }
    },
    "/api/v1/events/{seq}": {
        "get": {
            "operationId": "eventTrace",
            "summary": "One journal event and its decision trace",
            "parameters": [
                {
                    "name": "seq",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                }
            ],
            "responses": {
                "200": _json(_ref("EventWithTrace"), "the event and what decided it"),
                **_SESSION_ERRORS,
                "404": _error("no such event (never made, or dropped by retention)"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/doors/{name}/pulse": {
        "post": {
            "operationId": "pulseDoor",
            "summary": "A remote unlock pulse (journaled with who)",
            "parameters": [_DOOR_NAME],
            "responses": {
                "200": _json(_ref("DoorDone"), "the door unlocked"),
                **_SESSION_ERRORS,
                "404": _error("no such door"),
                "409": _error("the door is in lockdown"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/doors/{name}/lockdown": {
        "post": {
            "operationId": "doorLockdown",
            "summary": "Lockdown of one door on or off",
            "parameters": [_DOOR_NAME],
            "requestBody": _LOCKDOWN_BODY,
            "responses": {
                "200": _json(_ref("LockdownDone"), "done"),
                "400": _error("a malformed body"),
                **_SESSION_ERRORS,
                "404": _error("no such door"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/doors/{name}/acknowledge": {
        "post": {
            "operationId": "acknowledgeAlarms",
            "summary": "Acknowledge a door's latched alarms",
            "parameters": [_DOOR_NAME],
            "responses": {
                "200": _json(_ref("DoorDone"), "acknowledged"),
                **_SESSION_ERRORS,
                "404": _error("no such door"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/lockdown": {
        "post": {
            "operationId": "lockdownAll",
            "summary": "Lockdown of every door on or off",
            "requestBody": _LOCKDOWN_BODY,
            "responses": {
                "200": _json(_ref("LockdownDone"), "done"),
                "400": _error("a malformed body"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/history": {
        "get": {
            "operationId": "history",
            "summary": "Grants, denials and door alarms per local hour, last 24 hours",
            "responses": {
                "200": _json(_ref("History"), "24 hours, oldest first, the current one last"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/config": {
        "get": {
            "operationId": "configuration",
            "summary": "The effective configuration, every secret masked, and check-config",
            "responses": {
                "200": _json(_ref("Configuration"), "the settings and the file's check"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/selftest": {
        "post": {
            "operationId": "selftest",
            "summary": "Run the self-test (door-gateway selftest) in the daemon; journaled",
            "responses": {
                "200": _json(_ref("Selftest"), "each check's result and what to do"),
                **_SESSION_ERRORS,
                **_BODY_TOO_LARGE,
            },
        }
    },
    PATH: {
        "get": {
            "operationId": "openapi",
            "summary": "This document (no session needed: it is documentation)",
            "security": [],
            "responses": {
                "200": _json({"type": "object", "required": ["openapi", "paths"]}, "the document"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/fcgi/OpenDoor": _OPEN_DOOR,
}


# -- reader diagnostics (gateway/web/readers.py) -----------------------------------------
_READER_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "a [[readers]] name",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"},
}
_FRAME_ID = {
    "type": "integer",
    "minimum": 1,
    "maximum": readers.FRAME_ID_MAX,
    "description": "a frame's `id` as the frames route lists it",
}
_READER_SCHEMAS: dict[str, Any] = {
    "ReaderFrames": {
        "type": "object",
        "required": ["reader", "learnable", "frames"],
        "properties": {
            "reader": {"type": "string"},
            "learnable": {"type": "boolean", "description": "a Wiegand reader"},
            "frames": {"type": "array", "items": {"type": "object"}},
        },
        "description": "the reader's status without `recent`, and its frames newest first "
        "(docs/readers.md)",
    },
    "LearnRequest": {
        "type": "object",
        "required": ["frame", "printed"],
        "properties": {
            "frame": _FRAME_ID,
            "printed": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        "additionalProperties": False,
    },
    "Learned": {
        "type": "object",
        "required": ["reader", "frame", "printed", "candidates", "reasons", "enroll_card"],
        "properties": {
            "reader": {"type": "string"},
            "frame": {"type": "object"},
            "printed": {"type": "string"},
            "candidates": {"type": "array", "items": {"type": "object"}},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "enroll_card": _nullable("string"),
            "enroll_refused": _nullable("string"),
        },
        "additionalProperties": False,
    },
    "EnrollRequest": {
        "type": "object",
        "required": ["frame", "user_id"],
        "properties": {
            "frame": _FRAME_ID,
            "user_id": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "additionalProperties": False,
    },
    "Enrolled": {
        "type": "object",
        "required": ["status", "reader", "frame", "user_id", "card"],
        "properties": {
            "status": {"const": "success"},
            "reader": {"type": "string"},
            "frame": {"type": "integer"},
            "user_id": {"type": "string"},
            "card": {"type": "string"},
        },
        "additionalProperties": False,
    },
}
SCHEMAS.update(_READER_SCHEMAS)


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


_READER_PATHS: dict[str, Any] = {
    "/api/v1/readers/{name}/frames": {
        "get": {
            "operationId": "readerFrames",
            "summary": "A reader's counters and last frames, each explained format by format",
            "parameters": [_READER_NAME],
            "responses": {
                "200": _json(_ref("ReaderFrames"), "the reader's diagnostics"),
                **_SESSION_ERRORS,
                "404": _error("no such reader"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/readers/{name}/learn": {
        "post": {
            "operationId": "learnCard",
            "summary": "Which Wiegand format and display mode make a frame read as the "
            "number printed on the card",
            "parameters": [_READER_NAME],
            "requestBody": _body("LearnRequest"),
            "responses": {
                "200": _json(_ref("Learned"), "the candidates, best first, or why none"),
                "400": _error(
                    "not a card number, a malformed body, or a frame that cannot "
                    "be learned (not a Wiegand reader, PIN digits)"
                ),
                **_SESSION_ERRORS,
                "404": _error("no such reader, or the frame is no longer listed"),
                **_BODY_TOO_LARGE,
            },
        }
    },
    "/api/v1/readers/{name}/enroll": {
        "post": {
            "operationId": "enrollCard",
            "summary": "Add the card a reader read in one frame to a user",
            "parameters": [_READER_NAME],
            "requestBody": _body("EnrollRequest"),
            "responses": {
                "200": _json(_ref("Enrolled"), "the card is the user's"),
                "400": _error(
                    "a malformed body, a frame the reader did not accept as a "
                    "card, or a user with all their cards"
                ),
                **_SESSION_ERRORS,
                "404": _error("no such reader, user, or listed frame"),
                "409": _error("the card is another user's (named)"),
                **_BODY_TOO_LARGE,
                "503": _error("the user store cannot be written"),
            },
        }
    },
}


def _forbidden(capability: str | None) -> dict[str, Any]:
    """The 403 answer of an operation that needs `capability` (None: any session)."""
    if capability is None:
        return _SESSION_ERRORS["403"]  # type: ignore[no-any-return]
    return _error(
        f"the account's level lacks the `{capability}` capability (it is held by "
        f"{', '.join(roles.roles_with(capability))}), a one-time password must be changed "
        "first, or (cookie sessions) the X-CSRF-Token header is missing or wrong"
    )


def _with_guards(paths: dict[str, Any], routes: tuple[roles.NativeRoute, ...]) -> dict[str, Any]:
    """`paths` with each guarded operation's capability, roles and 403 filled in."""
    guards = {(route.method.lower(), route.path): route.guard for route in routes}
    for path, item in paths.items():
        for method, operation in item.items():
            guard = guards.get((method, path))
            if guard is None or guard.public:
                continue
            operation["x-capability"] = guard.capability
            operation["x-roles"] = roles.roles_with(guard.capability)
            operation["responses"]["403"] = _forbidden(guard.capability)
    return paths


async def document(_request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json."""
    return web.json_response(DOCUMENT)


ROUTES = (roles.NativeRoute("GET", PATH, document, roles.PUBLIC),)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "door-gateway native API",
        "version": __version__,
        "description": "The technician API of door-gateway and the Akuvox OpenDoor endpoint. "
        "The ACTAtek-compatible API under /cgi-bin/restapi/ is described in "
        "docs/actatek-compat.md. Security rules: docs/security.md.",
    },
    "paths": _with_guards(
        {**PATHS, **_READER_PATHS},
        (*api.ROUTES, *live.ROUTES, *doors.ROUTES, *operations.ROUTES, *readers.ROUTES, *ROUTES),
    ),
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "cookieAuth": {
                "type": "apiKey",
                "in": "cookie",
                "name": "dg_session",
                "description": "the status page; writes also need the X-CSRF-Token header",
            },
            "basicAuth": {"type": "http", "scheme": "basic"},
        },
    },
    "security": [{"bearerAuth": []}, {"cookieAuth": []}],
}


def add_routes(app: web.Application) -> None:
    roles.add_native_routes(app, ROUTES)
