"""The history, configuration and self-test pages (docs/status-page.md).

- `/history`: the last 24 hours as a chart drawn on the server (`history_chart`), with
  the same numbers as a table for screen readers and copying;
- `/config`: the check-config result of the running file, then every setting the daemon
  runs with, secrets masked (`gateway.config.view`), one `key = value` row each;
- `/selftest`: a button (a form with the CSRF token) that runs the self-test, then the
  last report: each check, its result and what to do.

They read the daemon through `OperationsControl`, as the JSON endpoints do, and need the
same capabilities.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web
from markupsafe import Markup

from gateway.web import operations as api
from gateway.web.history_chart import history_svg, hour_range
from gateway.web.operations import OPERATIONS, OperationsControl, run_selftest
from gateway.web.page.site import add_page, page_session, render

HISTORY_CAPABILITY = "logs"
DEVICE_CAPABILITY = "terminal"


async def history_page(request: web.Request) -> web.Response:
    """GET /history."""
    found = await request.app[OPERATIONS].history()
    rows = [{"hour": hour, "range": hour_range(hour)} for hour in found.hours]
    context = {
        "chart": Markup(history_svg(found)),  # escaped by history_svg itself
        "history": found,
        "totals": found.totals(),
        "rows": rows,
    }
    return render(request, "history.html", context)


async def config_page(request: web.Request) -> web.Response:
    """GET /config."""
    operations = request.app[OPERATIONS]
    check = await operations.config_check()
    sections = settings_rows(operations.configuration())
    return render(request, "config.html", {"check": check, "sections": sections})


def settings_rows(settings: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section, [(dotted key, value as TOML writes it), ...]), ...], one section per
    top-level table (plain keys first, under "file")."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for key, value in settings.items():
        section = key if isinstance(value, (dict, list)) and _has_tables(value) else "file"
        sections.setdefault(section, []).extend(_flatten(key, value))
    return list(sections.items())


def _has_tables(value: dict[str, Any] | list[Any]) -> bool:
    return isinstance(value, dict) or any(isinstance(item, dict) for item in value)


def _flatten(path: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in _flatten(f"{path}.{key}", item)]
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [row for i, item in enumerate(value) for row in _flatten(f"{path}[{i}]", item)]
    return [(path, _toml(value))]


def _toml(value: Any) -> str:
    """A value as it would be written in the file (secrets are already `****`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


async def selftest_page(request: web.Request) -> web.Response:
    """GET /selftest: the button, and the last report since the daemon started."""
    report = request.app[OPERATIONS].last_selftest()
    when = (
        "" if report is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.time))
    )
    return render(request, "selftest.html", {"report": report, "report_time": when})


async def selftest_run(request: web.Request) -> web.Response:
    """POST /selftest: run it (journaled with who), then show it (a reload does not run
    it again)."""
    await run_selftest(request, page_session(request).username)
    raise web.HTTPSeeOther("/selftest")


def add_operations(app: web.Application, operations: OperationsControl | None) -> None:
    """The JSON endpoints and the three pages with their links in the navigation bar,
    when the daemon has the service (a test app may leave it out)."""
    if operations is None:
        return
    api.add_routes(app, operations)
    add_page(
        app,
        "GET",
        "/history",
        history_page,
        capability=HISTORY_CAPABILITY,
        nav="History",
        nav_order=40,
    )
    add_page(
        app,
        "GET",
        "/config",
        config_page,
        capability=DEVICE_CAPABILITY,
        nav="Configuration",
        nav_order=60,
    )
    add_page(
        app,
        "GET",
        "/selftest",
        selftest_page,
        capability=DEVICE_CAPABILITY,
        nav="Self-test",
        nav_order=70,
    )
    add_page(app, "POST", "/selftest", selftest_run, capability=DEVICE_CAPABILITY)
