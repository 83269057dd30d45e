"""The history, configuration and self-test endpoints of the native API, and the protocol
the status page's pages of the same name read (`OperationsControl`).

- `GET /api/v1/history`: grants, denials and door alarms per local hour, last 24 hours
  (capability `logs`: the counts come from the access log);
- `GET /api/v1/config`: the effective configuration, every secret masked, and the
  check-config result of the file on disk (capability `terminal`: the device's setup);
- `POST /api/v1/selftest`: run the self-test (`terminal`: an action on the device),
  journaled with who ran it and the counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from gateway.web import roles, security
from gateway.web.api import EVENTS, session_of

if TYPE_CHECKING:
    from gateway.config.view import ConfigCheck
    from gateway.selftest import SelftestReport
    from gateway.store.history import History


class OperationsControl(Protocol):
    """What these endpoints ask of the daemon (`gateway.operations.OperationsService`)."""

    async def history(self) -> History: ...

    def configuration(self) -> dict[str, Any]: ...

    async def config_check(self) -> ConfigCheck: ...

    async def selftest(self, by: str) -> SelftestReport: ...

    def last_selftest(self) -> SelftestReport | None: ...


OPERATIONS = web.AppKey("operations", OperationsControl)


async def history(request: web.Request) -> web.Response:
    """GET /api/v1/history."""
    found = await request.app[OPERATIONS].history()
    return web.json_response(found.as_dict())


async def config(request: web.Request) -> web.Response:
    """GET /api/v1/config."""
    operations = request.app[OPERATIONS]
    check = await operations.config_check()
    return web.json_response({"settings": operations.configuration(), "check": check.as_dict()})


async def run_selftest(request: web.Request, username: str) -> SelftestReport:
    """Run the self-test for `username` and journal that it ran, with its counts (the
    API's and the page's button share this)."""
    report = await request.app[OPERATIONS].selftest(username)
    request.app[EVENTS].record_api("selftest", username, report.summary())
    return report


async def selftest(request: web.Request) -> web.Response:
    """POST /api/v1/selftest (no body)."""
    report = await run_selftest(request, session_of(request).username)
    return web.json_response(report.as_dict())


ROUTES = (
    roles.NativeRoute("GET", "/api/v1/history", history, roles.needs("logs")),
    roles.NativeRoute("GET", "/api/v1/config", config, roles.needs("terminal")),
    roles.NativeRoute("POST", "/api/v1/selftest", selftest, roles.needs("terminal")),
)


def add_routes(app: web.Application, operations: OperationsControl) -> None:
    """The endpoints, on `operations` (the pages are added by
    `gateway.web.page.operations.add_operations`, which calls this)."""
    app[OPERATIONS] = operations
    roles.add_native_routes(app, ROUTES)
    app[security.BODY_LIMITS][("POST", "/api/v1/selftest")] = security.NO_DATA_BYTES
