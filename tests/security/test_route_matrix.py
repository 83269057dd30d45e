"""Every route of the built application against every role: no session, then a session of
each ACTAtek adminLevel (docs/security.md, "What each role can read and do").

The expected answers are written out here, not read from the code: a route added without
a line below fails `test_every_route_against_every_role`, and a capability moved in the
code without changing this table fails it too."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.web.actatek.session import CAPABILITIES
from gateway.web.openapi import DOCUMENT
from gateway.web.roles import GUARDS, Guard
from tests.web.conftest import PASSWORD, Client

OPEN = "open"  # no session needed
SESSION = "session"  # any live session
BASIC = "basic auth"  # /fcgi/OpenDoor: its own credentials; a session opens nothing
SIMULATION = "simulation"  # /sim: simulated backend and loopback only; no session

ROLE_CAPABILITIES = {
    "PERSONALUSER": {"myself"},
    "USERADMIN": {"myself", "users", "departments", "groups", "rights", "holidays", "logs"},
    "NETWORKADMIN": {"myself", "time", "ntp", "agents", "terminal"},
    "SUPERADMIN": {
        *("myself", "users", "departments", "groups", "rights", "holidays", "logs"),
        *("time", "ntp", "agents", "terminal"),
    },
}
ROLES = tuple(ROLE_CAPABILITIES)
NOBODY = "no session"

NATIVE = {
    # The status page (gateway/web/page/): a page without a session redirects to /login.
    ("GET", "/"): SESSION,
    ("GET", "/login"): OPEN,
    ("POST", "/login"): OPEN,
    ("POST", "/logout"): SESSION,
    ("GET", "/password"): SESSION,
    ("POST", "/password"): SESSION,
    ("GET", "/static/{name}"): OPEN,
    ("GET", "/dashboard/live"): SESSION,
    ("GET", "/events"): "logs",
    ("GET", "/events/{seq}"): "logs",
    ("POST", "/doors/{name}/pulse"): "terminal",
    ("POST", "/doors/{name}/lockdown"): "terminal",
    ("POST", "/doors/{name}/acknowledge"): "terminal",
    ("GET", "/history"): "logs",
    ("GET", "/config"): "terminal",
    ("GET", "/selftest"): "terminal",
    ("POST", "/selftest"): "terminal",
    ("GET", "/readers"): SESSION,  # frames' values only with `logs`: test_page_readers.py
    ("GET", "/readers/{name}/learn"): "logs",
    ("POST", "/readers/{name}/enroll"): "users",
    # The JSON API.
    ("POST", "/api/v1/login"): OPEN,
    ("GET", "/api/v1/openapi.json"): OPEN,
    ("POST", "/api/v1/logout"): SESSION,
    ("POST", "/api/v1/password"): SESSION,
    ("GET", "/api/v1/status"): SESSION,  # what it shows depends on the role: test_reads.py
    ("GET", "/api/v1/events"): "logs",
    ("GET", "/api/v1/events/stream"): "logs",
    ("GET", "/api/v1/events/{seq}"): "logs",
    ("POST", "/api/v1/doors/{name}/pulse"): "terminal",
    ("POST", "/api/v1/doors/{name}/lockdown"): "terminal",
    ("POST", "/api/v1/doors/{name}/acknowledge"): "terminal",
    ("POST", "/api/v1/lockdown"): "terminal",
    ("GET", "/api/v1/history"): "logs",  # counts from the access log
    ("GET", "/api/v1/config"): "terminal",  # the device's setup, secrets masked
    ("POST", "/api/v1/selftest"): "terminal",  # an action on the device
    # Frames' values only with `logs`, as in the status: test_reader_diagnostics.py.
    ("GET", "/api/v1/readers/{name}/frames"): SESSION,
    ("POST", "/api/v1/readers/{name}/learn"): "logs",
    ("POST", "/api/v1/readers/{name}/enroll"): "users",
    ("GET", "/fcgi/OpenDoor"): BASIC,
}
# ACTAtek routes by the first path segment after /cgi-bin/restapi/ (docs/actatek-compat.md).
ACTATEK = {
    "login": OPEN,
    "apiversion": OPEN,
    "logout": SESSION,
    **dict.fromkeys(
        ("user", "activateUser", "UserMessage", "UserCount", "UserBatch", "UserAPITOTP"), "users"
    ),
    "department": "departments",
    "accessright": "rights",
    "accessgroup": "groups",
    "myself": "myself",
    "holiday": "holidays",
    **dict.fromkeys(("getLogs", "getLogPhoto", "addLog", "deleteLogs", "resetLog"), "logs"),
    "agent": "agents",
    "ntp": "ntp",
    "time": "time",
    **dict.fromkeys(
        (
            *("trigger", "opendoor", "relay", "relaysetting", "autoInOut"),
            *("logUnauthorizedEvent", "logsetting", "consent", "terminalstatus"),
            *("getCaptureFingerprint", "rtpsetting", "jobcodesetting", "jobcode"),
        ),
        "terminal",
    ),
}
ACTATEK_PREFIX = "/cgi-bin/restapi/"
# Calls that end the caller's session go last.
ENDS_SESSION = {
    ("POST", "/api/v1/logout"),
    ("POST", "/logout"),
    ("DELETE", "/cgi-bin/restapi/logout/{sessionid}"),
}
# The status page's routes: a session cookie (not a bearer token), the CSRF token as a
# form field, and a redirect to the login page instead of a 401.
API_PREFIXES = ("/api/", "/cgi-bin/", "/fcgi/", "/sim/")


def is_page(template: str) -> bool:
    return not template.startswith(API_PREFIXES)


def expected_need(method: str, template: str) -> str:
    """What the route needs, from the tables above."""
    if template.startswith("/sim/"):
        return SIMULATION
    if template.startswith(ACTATEK_PREFIX):
        section = template.removeprefix(ACTATEK_PREFIX).split("/")[0]
        assert section in ACTATEK, f"{method} {template}: not in the matrix; name its capability"
        return ACTATEK[section]
    assert (method, template) in NATIVE, f"{method} {template}: not in the matrix"
    return NATIVE[(method, template)]


def expected_answer(need: str, role: str) -> str:
    if need in (OPEN, SIMULATION):
        return "allowed"
    if need == BASIC or role == NOBODY:
        return "no session"
    if need == SESSION or need in ROLE_CAPABILITIES[role]:
        return "allowed"
    return "role refused"


def answer_kind(template: str, status: int, body: Any) -> str:
    """How the API answered: allowed (whatever the handler then said), or refused for the
    session or for the role."""
    message = body.get("message", "") if isinstance(body, dict) else ""
    if is_page(template):
        return page_answer_kind(template, status, body)
    if template.startswith(ACTATEK_PREFIX):
        if status == 400 and message in ("invalid session id", "invalid or expired session"):
            return "no session"
        if status == 400 and "may not do this" in message:
            return "role refused"
        return "allowed"
    if status == 401:
        return "no session"
    if status == 403 and "may not do this" in message:
        return "role refused"
    assert status != 403, (template, status, body)  # no other refusal is expected here
    return "allowed"


def page_answer_kind(template: str, status: int, body: Any) -> str:
    """A page without a session redirects to the login form (a data route answers 401);
    a role refused gets a 403 page saying so. `body` is the Location of a redirect."""
    text = body if isinstance(body, str) else str(body)
    if status == 401 or (status == 303 and body == "/login"):
        return "no session"
    if status == 403 and "may not do this" in text:
        return "role refused"
    # POST /login without the login form's own token is refused as stale: the handler's
    # answer, the route is open.
    assert status != 403 or template == "/login", (template, status, body)
    return "allowed"


def templates(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route but the HEADs aiohttp adds to each GET."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        found.append((route.method, info.get("formatter") or info.get("path", "")))
    heads = {path for method, path in found if method == "HEAD"}
    gets = {path for method, path in found if method == "GET"}
    assert heads <= gets  # each HEAD is its GET's twin, guarded the same way
    routes = [pair for pair in found if pair[0] != "HEAD"]
    return sorted(routes, key=lambda pair: pair in ENDS_SESSION)


class Caller:
    """One role's sessions on both APIs (none for NOBODY)."""

    def __init__(self, client: Client, role: str) -> None:
        self.client, self.role = client, role
        self.headers: dict[str, str] = {}
        self.sid = "1"
        self.csrf = ""  # the page session's, in the client's cookie jar

    async def log_in(self) -> None:
        if self.role == NOBODY:
            return
        name = self.role.lower()
        self.client.gateway.stores.technicians.set_technician_password(
            name, PASSWORD, level=self.role
        )
        self.headers = await self.client.token_headers(name, PASSWORD)
        body = {"username": name, "password": PASSWORD}
        status, answer, _ = await self.client.call("POST", "/cgi-bin/restapi/login", json=body)
        assert status == 200, answer
        self.sid = answer["sessionid"]
        status, answer, _ = await self.client.login(name, PASSWORD, cookie=True)
        assert status == 200, answer
        self.csrf = answer["csrf_token"]

    async def call(self, method: str, template: str) -> tuple[int, Any]:
        path = template.replace("{sessionid}", self.sid).replace("{name}", "front")
        path = re.sub(r"\{[^}]+\}", "1", path)
        if is_page(template):
            form = {"data": {"csrf_token": self.csrf}} if method == "POST" else {}
            status, answer, headers = await self.client.call(
                method, path.replace("/static/1", "/static/page.css"), allow_redirects=False,
                **form,
            )  # fmt: skip
            return status, headers.get("Location") if status == 303 else answer
        body = {"json": {}} if method in ("POST", "PUT") else {}
        url = self.client.base + path
        async with self.client.http.request(method, url, headers=self.headers, **body) as resp:
            if resp.content_type == "text/event-stream":
                return resp.status, {}  # allowed: a live stream, never read to its end
            text = await resp.text()
            answer = await resp.json() if resp.content_type == "application/json" else text
            return resp.status, answer


async def test_every_route_against_every_role(client: Client) -> None:
    routes = templates(client.gateway.web_app)
    wrong = []
    for role in (NOBODY, *ROLES):
        caller = Caller(client, role)
        await caller.log_in()
        for method, template in routes:
            want = expected_answer(expected_need(method, template), role)
            status, body = await caller.call(method, template)
            got = answer_kind(template, status, body)
            if got != want:
                wrong.append((role, method, template, want, got, status, body))
    assert wrong == []
    assert len(routes) > 100  # the walk reached every API


def test_the_role_table_is_the_documented_one() -> None:
    assert {role: set(caps) for role, caps in CAPABILITIES.items()} == ROLE_CAPABILITIES


def declared(guard: Guard) -> str:
    if guard.public:
        return OPEN
    return guard.capability or SESSION


async def test_each_native_route_declares_what_the_matrix_expects(client: Client) -> None:
    """The guard the middleware enforces is the one place a native route names its need."""
    guards = client.gateway.web_app[GUARDS]
    for method, template in templates(client.gateway.web_app):
        if template.startswith("/api/v1/"):
            guard = guards.get((method, template))
            assert guard is not None, f"{method} {template} names no capability"
            assert declared(guard) == expected_need(method, template), (method, template)


def test_the_openapi_document_states_each_operations_capability() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            need = expected_need(method.upper(), path)
            if need in (OPEN, BASIC):
                assert operation["security"] == [] or need == BASIC, (method, path)
                assert "x-capability" not in operation, (method, path)
                continue
            capability = None if need == SESSION else need
            assert operation["x-capability"] == capability, (method, path)
            roles = [r for r in ROLES if capability is None or capability in ROLE_CAPABILITIES[r]]
            assert operation["x-roles"] == roles, (method, path)
