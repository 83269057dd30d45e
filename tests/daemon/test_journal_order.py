"""The journal tells events whole and in causal order: a decision before the door it
moved, times that never go backwards across seq, and a card whose upstream question was
open at SIGTERM journaled as denied for `shutdown`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.daemon.conftest import SIMULATE, free_port, start_daemon
from tests.daemon.test_simulated_daemon import login, wait_for
from tests.daemon.test_upstream_daemon import KNOWN, VISITOR, next_access, present


class SilentServer:
    """An upstream that takes every question and answers none (until stopped)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/verify", self._verify)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _verify(self, request: web.Request) -> web.Response:
        self.asked += 1
        await asyncio.sleep(30)
        return web.json_response({"isvalid": True})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    server = SilentServer(free_port())
    await server.start()
    yield server
    await server.stop()


def config(tmp_path: Path, port: int) -> Path:
    text = SIMULATE.read_text().replace(
        'url = ""                     # no upstream server: decisions come from the local cache',
        f'url = "http://127.0.0.1:{port}/verify?card={{Card}}"\ntimeout_s = 3.0',
    )
    path = tmp_path / "simulate.toml"
    path.write_text(text)
    return path


def journal(state: Path) -> list[tuple[int, str, str, str, int | None]]:
    conn = sqlite3.connect(state / "gateway.db")
    try:
        return list(conn.execute("SELECT seq, time, type, reason, granted FROM events"))
    finally:
        conn.close()


async def test_the_decision_comes_before_the_door_it_opened(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            headers = await login(session, daemon.base_url)
            for count in (1, 2, 3):
                await present(session, daemon, KNOWN)
                await next_access(session, daemon, headers, count)
    finally:
        assert daemon.stop() == 0
    rows = journal(tmp_path / "state")
    grants = [seq for seq, _, kind, _, granted in rows if kind == "access" and granted]
    unlocks = [seq for seq, _, kind, reason, _ in rows if kind == "door" and reason == "unlocked"]
    assert len(grants) == 3 and unlocks
    assert grants[0] < unlocks[0]
    times = [when for _, when, *_ in rows]
    assert times == sorted(times), "a time goes backwards across seq"


async def test_an_open_upstream_question_at_sigterm_is_journaled_as_shutdown(
    tmp_path: Path, silent: SilentServer
) -> None:
    daemon = start_daemon(tmp_path / "state", config(tmp_path, silent.port))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await present(session, daemon, VISITOR)

        async def asked() -> bool:
            return silent.asked == 1

        assert await wait_for(asked, timeout=5)
    assert daemon.stop() == 0
    rows = journal(tmp_path / "state")
    denied = [r for r in rows if r[2] == "access"]
    assert [(r[3], r[4]) for r in denied] == [("shutdown", 0)]
    stopping = next(seq for seq, _, kind, reason, _ in rows if reason == "stopping")
    assert denied[0][0] > stopping
