"""The real daemon stops promptly with event streams open, and tells them so."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp

from tests.daemon.conftest import Daemon
from tests.web.sse import open_stream


async def test_sigterm_with_streams_open_stops_promptly(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        login = {"username": "admin", "password": "simulate"}
        async with http.post(f"{daemon.base_url}/api/v1/login", json=login) as resp:
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        streams = [await open_stream(http, daemon.base_url, headers) for _ in range(8)]
        started = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(daemon.process.wait, 15)
        took = time.monotonic() - started
        assert code == 0, daemon.log()
        # the web server would wait 5 s for handlers still running: the streams end first
        assert took < 3.0, f"stopping took {took:.1f} s with 8 streams open"
        for stream in streams:
            events = []
            try:
                while True:
                    events.append((await stream.next(timeout=2)).event)
            except (EOFError, aiohttp.ClientError):
                pass
            assert events[-1] == "stopping", events
            stream.close()
