"""ACTAtek user arrays through the real HTTP API: users per second, printed as JSON.

    python -m benchmarks.actatek_users [USERS] [STORED]

Starts an in-process gateway (simulated hardware, real SQLite, real HTTP on loopback, the
real clock) holding STORED users already (0 by default), logs in a USERADMIN and sends
one `POST user` array of USERS new users (2,000 by default; each with a card and a PIN),
then one `PUT user` array renaming the same users. While each array is written, a probe
measures how late the event loop wakes up (the longest lag is what a door would wait).
Figures only, nothing asserted: users per second of wall time for each array, and per
second of the process's CPU time (what the array itself costs, however busy the machine).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.app import Gateway
from gateway.config import load_settings
from gateway.model import User

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
PROBE_S = 0.005  # the loop-lag probe's period


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def array_of_users(count: int, first: int = 0) -> list[dict[str, Any]]:
    """`count` ACTAtek users, each with its own card and 8-digit PIN."""
    return [
        {
            "userID": f"B{n}",
            "firstName": f"First{n}",
            "lastName": f"Last{n}",
            "cardsn": f"{0x10000000 + n:08X}",
            "password": f"{20_000_000 + n}",
        }
        for n in range(first, first + count)
    ]


class LoopLag:
    """How late the event loop wakes a task that sleeps `PROBE_S` at a time."""

    def __init__(self) -> None:
        self.longest_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(PROBE_S)
            self.longest_s = max(self.longest_s, loop.time() - before - PROBE_S)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def _send(
    http: aiohttp.ClientSession, method: str, url: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    with LoopLag() as lag:
        async with http.request(method, url, json=items) as resp:
            results = await resp.json()
    seconds = time.perf_counter() - started
    ok = sum(1 for result in results if result["status"] == "success")
    cpu_s = time.process_time() - cpu
    return {
        "users": len(items),
        "succeeded": ok,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_s, 3),
        "users_per_s": round(len(items) / seconds),
        "users_per_cpu_s": round(len(items) / cpu_s),
        "longest_loop_lag_ms": round(lag.longest_s * 1000, 1),
    }


async def measure(users: int, stored: int) -> dict[str, Any]:
    """Add `users` in one array, then update them in one, over `stored` users."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(REPO / "config" / "simulate.toml")
        device = dataclasses.replace(settings.device, state_dir=tmp)
        web = dataclasses.replace(settings.web, listen=f"127.0.0.1:{_free_port()}")
        gateway = Gateway(dataclasses.replace(settings, device=device, web=web))
        await gateway.start()
        try:
            if stored:
                gateway.stores.users.import_users(
                    [User(f"S{n}", cards=[f"{0x20000000 + n:08X}"]) for n in range(stored)]
                )
            gateway.stores.technicians.set_technician_password("admin", PASSWORD, "USERADMIN")
            await gateway.rule_changes.settled()
            base = f"http://{web.listen}/cgi-bin/restapi/"
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                login = {"username": "admin", "password": PASSWORD}
                async with http.post(base + "login", json=login) as resp:
                    sid = (await resp.json())["sessionid"]
                items = array_of_users(users)
                added = await _send(http, "POST", f"{base}user/{sid}", items)
                renamed = [{"userID": i["userID"], "lastName": "Renamed"} for i in items]
                updated = await _send(http, "PUT", f"{base}user/{sid}", renamed)
                recarded = [{"userID": i["userID"], "cardsn": "A" + i["cardsn"]} for i in items]
                new_cards = await _send(http, "PUT", f"{base}user/{sid}", recarded)
        finally:
            await gateway.stop()
    return {
        "stored_users": stored,
        "add": added,
        "update_names": updated,
        "update_cards": new_cards,
    }


def main() -> int:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    stored = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print(json.dumps(asyncio.run(measure(users, stored)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
