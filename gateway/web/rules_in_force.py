"""An answer leaves once the access rules it changed are in force.

Handlers write through the stores and never ask for a reload themselves: the stores
report every committed change of the rules (`gateway.rule_changes`), and this middleware
waits, after any handler, until the engine decides on them. So a client that deletes a
user and then presents their card is refused, and a new handler cannot forget the reload.
When nothing changed, the wait costs nothing.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler


class RulesInForce(Protocol):
    """Waits until every rules change made so far is in the engine's rules."""

    async def settled(self) -> None: ...


RULES = web.AppKey("rules_in_force", RulesInForce)


@web.middleware
async def rules_in_force(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler, then wait for the rules it changed, even when it failed half-way
    (an array whose later items were refused has written the earlier ones)."""
    try:
        return await handler(request)
    finally:
        rules = request.app.get(RULES)
        if rules is not None:
            await rules.settled()
