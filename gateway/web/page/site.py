"""The status page's frame: templates, static files, the navigation, and the login guard
every page goes through (docs/status-page.md, "Adding a page").

A page is a route registered with `add_page`: it names the capability it needs (or none:
any logged-in technician), and the guard runs before its handler:

- no live session cookie: an HTML page answers a redirect to /login, a data route 401;
- a session that must change its one-time password: only /password (and /logout) answer;
- a role without the capability: 403;
- a POST must carry the session's CSRF token in the form field `csrf_token`.

Every answer of a page carries headers that keep it out of caches and frames and allow
only the daemon's own script and style sheet (`PAGE_HEADERS`).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.web import roles, security
from gateway.web.api import TOKENS
from gateway.web.auth import Session
from gateway.web.page.formats import FILTERS
from gateway.web.page.reasons import explain_event
from gateway.web.strictjson import BodyRejected, read_bounded_body

if TYPE_CHECKING:
    import jinja2

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOGIN_PATH = "/login"
PASSWORD_PATH = "/password"
LOGOUT_PATH = "/logout"
CSRF_FIELD = "csrf_token"
FORM_BODY_BYTES = 4096  # every form of the page is a few short fields
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 16
# Before the password is changed, only these answer (the rest redirect to /password).
CHANGE_FIRST = frozenset({PASSWORD_PATH, LOGOUT_PATH})

# The page's own script and style only: no inline code, no other origin, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
PAGE_SESSION = web.RequestKey("page_session", Session)
FORM = web.RequestKey("page_form", dict[str, str])


@dataclass(frozen=True)
class NavEntry:
    """One link of the navigation bar: shown to the roles that hold `capability`."""

    path: str
    label: str
    capability: str | None = None
    order: int = 100  # smaller comes first; the dashboard is 0


class Navigation(list[NavEntry]):
    """The navigation bar's entries, in `order`."""


class Templates:
    """The page's templates (autoescaped). jinja2 (about 2 MiB resident) is imported at
    the first page a browser asks for, not at start: a gateway nobody looks at never
    holds it (docs/performance.md, "Baseline memory")."""

    def __init__(self) -> None:
        self._environment: jinja2.Environment | None = None

    def environment(self) -> jinja2.Environment:
        """The template environment, made at the first call."""
        if self._environment is None:
            import jinja2

            self._environment = jinja2.Environment(
                loader=jinja2.PackageLoader("gateway.web.page", "templates"),
                autoescape=True,
                # Components' status dicts differ (a serial reader has no parity counter):
                # a key one does not have reads as empty, never as an error page.
                undefined=jinja2.ChainableUndefined,
            )
            self._environment.filters.update(FILTERS)
            # A reason in words is two values (what happened, what to do), not one string.
            self._environment.filters["explain"] = explain_event
        return self._environment

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        """`template` filled in with `context`."""
        return self.environment().get_template(template).render(context)


NAV = web.AppKey("page_navigation", Navigation)
TEMPLATES = web.AppKey("page_templates", Templates)
STATIC = web.AppKey("page_static", dict[str, tuple[bytes, str]])
ASSET_VERSION = web.AppKey("page_asset_version", str)


def setup_site(app: web.Application) -> None:
    """Templates, the static files and an empty navigation bar."""
    app[TEMPLATES] = Templates()
    app[NAV] = Navigation()
    app[security.PAGE_NOT_FOUND] = not_found_page
    files = _load_static()
    app[STATIC] = files
    app[ASSET_VERSION] = _version_of(files)
    app.router.add_get("/static/{name}", static_file)


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of `static/`, read once at start (the set is fixed: no path from a
    request ever reaches the file system)."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in importlib.resources.files("gateway.web.page").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


def _version_of(files: Mapping[str, tuple[bytes, str]]) -> str:
    """A short digest of the static files: their URLs carry it (`?v=`), so a browser
    never keeps last version's style sheet after an upgrade."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name][0])
    return digest.hexdigest()[:12]


async def static_file(request: web.Request) -> web.Response:
    """GET /static/{name}: one of the page's own files (no login: they hold no data)."""
    found = request.app[STATIC].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = "max-age=86400"  # the URL changes with the file
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def add_page(
    app: web.Application,
    method: str,
    path: str,
    handler: PageHandler,
    *,
    capability: str | None = None,
    data: bool = False,
    nav: str | None = None,
    nav_order: int = 100,
    public: bool = False,
) -> None:
    """Register a page route behind the login guard (see the module docstring).

    `capability`: what the role must hold (None: any session). `data`: a route scripts
    read (answers 401, never a redirect). `nav`: the label of its link in the navigation
    bar. `public`: no login at all (the login page itself)."""
    if capability is not None:
        roles.needs(capability)  # a typo must not make a page nobody may open
    guarded = html_errors(handler) if public else login_required(handler, capability, data)
    app.router.add_route(method, path, guarded)
    if method == "POST":
        app[security.BODY_LIMITS][(method, path)] = FORM_BODY_BYTES
    if nav is not None:
        app[NAV].append(NavEntry(path, nav, capability, nav_order))
        app[NAV].sort(key=lambda entry: entry.order)


def login_required(handler: PageHandler, capability: str | None, data: bool) -> PageHandler:
    """`handler` behind the login guard (see the module docstring)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(security.SESSION_COOKIE, "")
        # A data route is the script's poll, not a person: it does not defer idle expiry.
        session = request.app[TOKENS].check(token, touch=not data) if token else None
        if session is None:
            if data:
                return security.error_body("/", 401, "log in first: " + LOGIN_PATH)
            raise web.HTTPSeeOther(login_url(request))
        if session.must_change and request.path not in CHANGE_FIRST:
            if data:
                return security.error_body("/", 403, "password change required")
            raise web.HTTPSeeOther(PASSWORD_PATH)
        if capability is not None and not roles.may(session.level, capability):
            return refused(request, session, roles.refusal(session.level, capability))
        try:
            if request.method == "POST" and not await _csrf_ok(request, session):
                return refused(request, session, "the form is stale or from elsewhere: reload it")
            request[PAGE_SESSION] = session
            return await handler(request)
        except web.HTTPException as exc:
            if data or exc.status < 400:
                raise  # a redirect; or a script's route, which reads the JSON error
            return error_page(request, exc, session)

    return guarded


def html_errors(handler: PageHandler) -> PageHandler:
    """`handler` (a public page) answering its errors as pages, not JSON."""

    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_page(request, exc, None)

    return answered


# What an error page says when the handler gave no reason of its own.
ERROR_TITLES = {
    400: "The form could not be used",
    403: "Refused",
    404: "Not found",
    408: "Too slow",
    409: "Conflict",
    413: "The form is too large",
    415: "Not a form",
}


def error_page(
    request: web.Request, exc: web.HTTPException, session: Session | None
) -> web.Response:
    """An error on a page path as a page in the frame, with a way back (the API's errors
    stay JSON: `security.json_errors`)."""
    title = ERROR_TITLES.get(exc.status, "Something went wrong")
    message = "" if exc.reason == HTTPStatus(exc.status).phrase else exc.reason
    back, back_label = _way_back(request)
    context = {"title": title, "message": message, "back": back, "back_label": back_label}
    return render(request, "error.html", context, status=exc.status, session=session)


def not_found_page(request: web.Request) -> web.Response:
    """404 as a page, for an address no route has (`security.json_errors` asks)."""
    token = request.cookies.get(security.SESSION_COOKIE, "")
    session = request.app[TOKENS].check(token, touch=False) if token else None
    if session is not None and session.must_change:
        session = None  # no navigation before the password is changed
    context = {"title": ERROR_TITLES[404], "message": "No page has this address.", "back": "/"}
    context["back_label"] = "the dashboard"
    return render(request, "error.html", context, status=404, session=session)


def _way_back(request: web.Request) -> tuple[str, str]:
    """(path, label) of the page the failed one belongs to (`/events` for an unknown
    event): its navigation entry, else the dashboard."""
    top = "/" + request.path.lstrip("/").partition("/")[0]
    if request.method == "GET" and top != request.path:
        for entry in request.app[NAV]:
            if entry.path == top:
                return entry.path, entry.label
    return "/", "the dashboard"


# Where the login form may send a technician back to: a path on this gateway only.
NEXT_FIELD = "next"
NEXT_MAX_CHARS = 512


def login_url(request: web.Request) -> str:
    """/login, remembering the page asked for (a GET of a page other than the dashboard)."""
    if request.method != "GET" or request.path == "/":
        return LOGIN_PATH
    wanted = safe_next(request.path_qs)
    if wanted is None:
        return LOGIN_PATH
    return LOGIN_PATH + "?" + urllib.parse.urlencode({NEXT_FIELD: wanted})


def safe_next(wanted: str | None) -> str | None:
    """`wanted` if it is a path on this site (`/events?door=front`), else None: never
    another site (`https://...`, `//host`, `/\\host`), never the login pages themselves.
    Browsers read a backslash as a slash and drop tabs and newlines, so any of those, and
    anything that decodes to them, is refused (an open redirect sends a technician's
    browser, just logged in, to a look-alike page)."""
    if not wanted or len(wanted) > NEXT_MAX_CHARS or not wanted.startswith("/"):
        return None
    decoded = urllib.parse.unquote(wanted)
    for form in (wanted, decoded):
        if form.startswith("//") or "\\" in form or not form.isprintable() or " " in form:
            return None
    parts = urllib.parse.urlsplit(wanted)
    if parts.scheme or parts.netloc:
        return None
    if parts.path in (LOGIN_PATH, LOGOUT_PATH, PASSWORD_PATH):
        return None
    return wanted


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    given = (await read_form(request)).get(CSRF_FIELD)
    return given is not None and security.same_secret(given, session.csrf)


async def read_form(request: web.Request) -> dict[str, str]:
    """The POSTed form (`application/x-www-form-urlencoded`, as every form of the page
    sends it): at most `FORM_BODY_BYTES` even when streamed (413), UTF-8, each field at
    most once (a field given twice means different things to different readers: 400).
    Read once per request; the guard and the handler share it."""
    cached: dict[str, str] | None = request.get(FORM)
    if cached is not None:
        return cached
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(reason=f"expected {FORM_TYPE}")
    try:
        body = await read_bounded_body(request, FORM_BODY_BYTES)
    except BodyRejected as exc:
        raise _rejected(exc) from exc
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError) as exc:
        raise web.HTTPBadRequest(reason="the form is not readable") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        raise web.HTTPBadRequest(reason="a form field is given twice")
    request[FORM] = form
    return form


def _rejected(exc: BodyRejected) -> web.HTTPException:
    if exc.status == 413:
        return web.HTTPRequestEntityTooLarge(
            max_size=FORM_BODY_BYTES, actual_size=FORM_BODY_BYTES + 1, reason=exc.message
        )
    if exc.status == 408:
        return web.HTTPRequestTimeout(reason=exc.message)
    return web.HTTPBadRequest(reason=exc.message)


def refused(request: web.Request, session: Session | None, message: str) -> web.Response:
    """403 as a page: what was refused and why."""
    return render(request, "refused.html", {"message": message}, status=403, session=session)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    session: Session | None = None,
) -> web.Response:
    """`template` with the frame's values (who is logged in, their CSRF token, the
    navigation they may see) and the page headers."""
    who = session if session is not None else request.get(PAGE_SESSION)
    frame = {
        "technician": who,
        "csrf_token": who.csrf if who is not None else "",
        "nav": visible_nav(request.app[NAV], who),
        "current_path": request.path,
        "asset_version": request.app[ASSET_VERSION],
    }
    text = request.config_dict[TEMPLATES].render(template, {**frame, **context})
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def visible_nav(entries: Navigation, session: Session | None) -> list[NavEntry]:
    """The links this session's role may follow (none before login)."""
    if session is None or session.must_change:
        return []
    return [e for e in entries if e.capability is None or roles.may(session.level, e.capability)]


def may(request: web.Request, capability: str) -> bool:
    """Whether the logged-in technician's role holds `capability` (for what a page shows)."""
    session = request.get(PAGE_SESSION)
    return session is not None and roles.may(session.level, capability)


def page_session(request: web.Request) -> Session:
    """The session the guard let in."""
    return request[PAGE_SESSION]
