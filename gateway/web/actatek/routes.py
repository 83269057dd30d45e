"""Registers every ACTAtek section on the application."""

from __future__ import annotations

from aiohttp import web

from gateway.web.actatek import (
    accessgroups,
    accessrights,
    agents,
    departments,
    holidays,
    jobcodes,
    login,
    logs,
    myself,
    terminal,
    timeset,
    totp,
    triggers,
    users,
)
from gateway.web.actatek.context import CONTEXT, ManagementContext
from gateway.web.actatek.credentials import CREDENTIAL_REFUSALS, CredentialRefusals
from gateway.web.actatek.session import SESSIONS, ActatekSessions

SECTIONS = (
    login,
    users,
    totp,
    departments,
    accessrights,
    accessgroups,
    myself,
    holidays,
    logs,
    triggers,
    agents,
    timeset,
    terminal,
    jobcodes,
)


def add_actatek(app: web.Application, context: ManagementContext) -> None:
    """Mount the ACTAtek API; its error middleware must already be in `app`'s middlewares."""
    app[CONTEXT] = context
    app[SESSIONS] = ActatekSessions(context.clock, context.stores.technicians)
    app[CREDENTIAL_REFUSALS] = CredentialRefusals(context.clock)
    for section in SECTIONS:
        section.add_routes(app)
