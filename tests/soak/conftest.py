"""What the soak parts share: how long each part runs, the report files, memory and
latency figures, a fake systemd notification socket, and a client for the running daemon.

`make test` runs every part in its short form (SOAK_MINUTES unset). `make soak` sets
SOAK_MINUTES=30 and the parts share those minutes as SHARES says.

The API, for every part:
- `soak_minutes()`: the minutes of the whole soak, or None in the short form.
- `soak_seconds(part, short)`: the seconds `part` runs: `short` in the short form, else its
  share of the soak.
- `soak_count(part, short, full)`: a count (of kills, of frames) for `part`: `short` in the
  short form, else `full` scaled by SOAK_MINUTES / 30 (never below `short`).
- `write_report(name, report)`: `test-artifacts/soak-NAME.json` (machine described); its path.
- `rss_kib(pid)`, `percentiles(values)`, `seeded_random(part)` (SOAK_SEED replays a run).
- fixture `systemd`: a `FakeSystemd` (tests/daemon/test_systemd_notify.py) to hand a daemon as
  NOTIFY_SOCKET; `DaemonClient`: logged-in native and ACTAtek calls on a daemon.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.conftest import REPO
from tests.daemon.test_systemd_notify import FakeSystemd

ARTIFACTS = REPO / "test-artifacts"
FULL_SOAK_MINUTES = 30.0
# How the soak's minutes are shared. The chaos and noise parts take a quarter each
# (chaos_support.part_seconds); the kill part counts kills
# (300 at 30 minutes, about 2.5 s each on a quiet 2-core machine: a daemon start is about
# a second of CPU), its share is what that takes; the load part has the rest.
SHARES = {"kill": 0.35, "load": 0.15, "chaos": 0.25, "noise": 0.25}


def soak_minutes() -> float | None:
    """SOAK_MINUTES from the environment; None when unset or empty (the short form)."""
    value = os.environ.get("SOAK_MINUTES", "").strip()
    if not value:
        return None
    minutes = float(value)
    if minutes <= 0:
        raise ValueError(f"SOAK_MINUTES: expected a positive number of minutes, found {value}")
    return minutes


def soak_seconds(part: str, short: float) -> float:
    """How long `part` runs: `short` seconds in the short form, else its share of the soak."""
    minutes = soak_minutes()
    if minutes is None:
        return short
    return max(short, minutes * 60.0 * SHARES[part])


def soak_count(part: str, short: int, full: int) -> int:
    """How many times `part` repeats: `short` in the short form, else `full` for a 30-minute
    soak, scaled to SOAK_MINUTES."""
    minutes = soak_minutes()
    if minutes is None or part not in SHARES:
        return short
    return max(short, round(full * minutes / FULL_SOAK_MINUTES))


def part_timeout(short_s: float, soak_s: float) -> float:
    """A pytest-timeout for a part: generous, only there to stop a hung run."""
    return short_s if soak_minutes() is None else soak_s


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "soak_minutes": soak_minutes(),
    }


def write_report(name: str, report: dict[str, Any]) -> Path:
    """Write `report` (with the machine) to test-artifacts/soak-NAME.json; its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"soak-{name}.json"
    body = {"part": name, "machine": machine(), **report}
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path


def seeded_random(part: str) -> tuple[random.Random, int]:
    """A random generator and its seed, printed so that a failure shows it (SOAK_SEED
    replays a run)."""
    seed = int(os.environ.get("SOAK_SEED", "") or time.time_ns() % 2**32)
    print(f"{part}: SOAK_SEED={seed}")
    return random.Random(seed), seed


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of `values` (nearest rank), rounded to 0.01; {} if empty."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return round(ordered[index], 2)

    return {
        "count": len(ordered),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    """A notification socket in a short directory (a socket path has at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="dg-soak-") as short:
        fake = FakeSystemd(Path(short) / "notify")
        yield fake
        fake.close()


ADMIN = {"username": "admin", "password": "simulate"}  # config/simulate.toml


class DaemonClient:
    """The native API (bearer token) and the ACTAtek API (session id) of one running daemon,
    logged in as the simulation's technician."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.headers: dict[str, str] = {}
        self.sid = ""

    async def login(self) -> None:
        async with self.http.post(f"{self.base}/api/v1/login", json=ADMIN) as resp:
            assert resp.status == 200, await resp.text()
            self.headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        async with self.http.post(f"{self.base}/cgi-bin/restapi/login", json=ADMIN) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["status"] == "success", body
            self.sid = body["sessionid"]

    async def events_after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        """One page of the journal, oldest first, from the seq after `seq`."""
        url = f"{self.base}/api/v1/events?after={seq}&limit={limit}"
        async with self.http.get(url, headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            return list((await resp.json())["events"])

    async def all_events_after(self, seq: int) -> list[dict[str, Any]]:
        """Every event of the journal after `seq`, page by page."""
        found: list[dict[str, Any]] = []
        while page := await self.events_after(seq):
            found.extend(page)
            seq = page[-1]["seq"]
        return found

    async def status(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/api/v1/status", headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def actatek(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """`METHOD /cgi-bin/restapi/PATH/{sessionid}[?query]`: (status, JSON answer)."""
        name, _, query = path.partition("?")
        url = f"{self.base}/cgi-bin/restapi/{name}/{self.sid}" + (f"?{query}" if query else "")
        async with self.http.request(method, url, json=body) as resp:
            return resp.status, await resp.json()

    async def sim(self, path: str, body: dict[str, Any]) -> None:
        """POST /sim/PATH: returns once the input reached the simulated hardware."""
        async with self.http.post(f"{self.base}/sim/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def outputs(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/sim/outputs") as resp:
            return dict(await resp.json())
