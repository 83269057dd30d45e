"""An answer leaves once the access rules it changed are in force.

Handlers write through the stores and never ask for a reload themselves: the stores
report every committed change of the rules (`gateway.rule_changes`), and this middleware
runs each handler in a batch of those changes: reloaded once when the handler is done, and
waited for before the answer leaves. So a client that deletes a user and then presents
their card is refused, an array of 500 users builds one snapshot, and a new handler cannot
forget the reload. When nothing changed, the wait costs nothing.

Handlers run store calls on worker threads with `asyncio.to_thread`, which carries the
batch along; a thread started otherwise makes its changes reload at once (still in force
before the answer, only not shared with the others).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler


class RulesInForce(Protocol):
    """Batches the rules changes of a piece of work and waits until they are in force."""

    def batch(self) -> AbstractAsyncContextManager[None]: ...


RULES = web.AppKey("rules_in_force", RulesInForce)


@web.middleware
async def rules_in_force(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler in a batch: the answer waits for the rules it wrote, even when it
    failed half-way (an array whose later items were refused wrote the earlier ones)."""
    rules = request.app.get(RULES)
    if rules is None:
        return await handler(request)
    async with rules.batch():
        return await handler(request)
