"""A real aiohttp agent on 127.0.0.1 that receives pushed journal batches, with verbs for
how it answers (`answer`, `script`, `hang`) and what it saw (`delivered_seqs`, `attempts`).

Used by the forwarder unit tests and by the whole-daemon forwarding test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

HANG = -1  # a scripted answer: never answer (the client's timeout fires)
HANG_LIMIT_S = 5.0


@dataclass(frozen=True)
class Attempt:
    """One POST as the agent received it, and what it answered."""

    entries: list[dict[str, Any]]
    headers: dict[str, str]
    status: int  # HANG when it did not answer
    at: float  # time.monotonic() on arrival

    @property
    def seqs(self) -> list[int]:
        return [int(entry["seq"]) for entry in self.entries]


class AgentServer:
    """An agent endpoint at `url` (path /agent). Answers 200 unless told otherwise."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self._script: list[int] = []
        self._default = 200
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/agent"

    async def start(self, port: int = 0) -> AgentServer:
        """Listen on `port` (0: any free one; the same port again after `stop`)."""
        app = web.Application()
        app.router.add_post("/agent", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._release.clear()
        return self

    async def stop(self) -> None:
        """Stop listening: further POSTs are refused at the TCP level."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def answer(self, status: int) -> None:
        """Answer every POST from now on with `status` (after any scripted answers)."""
        self._default = status

    def script(self, *statuses: int) -> None:
        """Answer the next POSTs with these statuses, in order (`HANG`: no answer)."""
        self._script.extend(statuses)

    async def _handle(self, request: web.Request) -> web.Response:
        entries = await request.json()
        status = self._script.pop(0) if self._script else self._default
        self.attempts.append(Attempt(entries, dict(request.headers), status, time.monotonic()))
        if status == HANG:
            # Released at stop(), or by the limit, so a server never outlives its test.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), HANG_LIMIT_S)
            return web.Response(status=504)
        return web.json_response({"status": "ok"}, status=status)

    def delivered(self) -> list[Attempt]:
        """The attempts it acknowledged with a 2xx."""
        return [a for a in self.attempts if 200 <= a.status < 300]

    def delivered_seqs(self) -> list[int]:
        """Every seq it acknowledged, in arrival order (repeats included)."""
        return [seq for attempt in self.delivered() for seq in attempt.seqs]


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` every 20 ms until it holds; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
