"""Durable journal events per second: the writer alone, the running daemon, forwarding.

    python -m benchmarks.journal_rate [EVENTS]

Three figures, each the median and p99 over `ROUNDS` runs (figures only, nothing asserted):

- `writer`: a `JournalWriter` on its own journal file; EVENTS events submitted in bursts of
  `BURST` (as a busy site's decisions, door and alarm events arrive together), at most
  `IN_FLIGHT` waiting, timed until the last one is durable; the process's CPU time per
  event (the loop and the writer thread: what a slower CPU pays for), and the writer's own
  counters (transactions, largest batch) of the last run.
- `in_process`: the same through a running gateway in this process (`Gateway.start`:
  recorder, writer, journal, forwarder and live feed listening), events emitted as the
  doors and readers emit them, without the HTTP and simulated-reader cost of each one.
- `daemon`: the real daemon (`door-gateway run`, simulated hardware) in its own process;
  `CLIENTS` HTTP clients present unknown QR codes at the serial reader through /sim/qr as fast
  as the daemon answers, for `DAEMON_S` seconds. Durable means in the SQLite file: another
  connection counts the decisions, and the rate is decisions durable per second from the
  first request to the moment the last one is in the file. Also the daemon's CPU time
  (user + system, every thread, from /proc) per request over the same span: steadier than
  the rate on a shared machine, where the clients and other jobs take the same cores.
- `forwarding`: the same daemon with EVENTS events already in its journal and one agent
  (a loopback HTTP receiver) registered at cursor 0; events delivered per second.

`measure()` returns the same dict `main()` prints, for the bench harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from gateway.app import Gateway
from gateway.clock import SystemClock
from gateway.config import load_settings
from gateway.model import Event
from gateway.store.agents import AgentStore
from gateway.store.journal import EventJournal
from gateway.store.writer import JournalWriter

REPO = Path(__file__).resolve().parents[1]
SIMULATE = REPO / "config" / "simulate.toml"
EVENTS = 20_000
BURST = 50  # events submitted in one go, then the loop runs once
IN_FLIGHT = 2_000  # at most this many queued (the writer's queue holds 10,000)
ROUNDS = 3
CLIENTS = 16
DAEMON_S = 5.0
READER = "back-qr"  # a serial line reader: one decision per line, none lost
MAX_EVENTS = 1_000_000  # the journal's bound: no retention work inside the measurement


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spread(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "runs": len(ordered),
    }


def _count(db: Path, where: str = "1") -> int:
    """Rows in the file as another connection sees them (read-only, so: committed)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}").fetchone()[0])


def _event(n: int) -> Event:
    return Event(
        "access",
        time.time(),
        door="front",
        reader="front-wiegand",
        credential_kind="card",
        credential=f"{n:08d}",
        granted=False,
        reason="unknown_credential",
        trace="not in the local cache",
        latency_ms=0.1,
        direction="in",
        raw="1" * 26,
    )


# -- the writer alone ----------------------------------------------------------------------


async def _writer_round(db: Path, events: int) -> dict[str, Any]:
    journal = EventJournal(db, ZoneInfo("Europe/Berlin"), MAX_EVENTS)
    writer = JournalWriter(journal, SystemClock())
    try:
        before = journal.count()
        started, cpu = time.perf_counter(), time.process_time()
        futures = []
        for n in range(events):
            futures.append(writer.submit(_event(n)))
            if n % BURST == BURST - 1:
                await asyncio.sleep(0)  # other work on the loop between bursts
            if n >= IN_FLIGHT:
                await futures[n - IN_FLIGHT]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        cpu_us = (time.process_time() - cpu) / events * 1e6
        status = writer.status()
    finally:
        await writer.close()
        journal.close()
    durable = _count(db) - before
    assert durable == events, f"{durable} of {events} events in the file"
    return {"events_per_s": events / elapsed, "cpu_us": cpu_us, "status": status}


def writer_rate(events: int = EVENTS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Events/s through `JournalWriter` alone (see the module docstring)."""
    rates: list[float] = []
    cpu: list[float] = []
    last: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            last = asyncio.run(_writer_round(Path(tmp) / f"writer-{n}.db", events))
            rates.append(last["events_per_s"])
            cpu.append(last["cpu_us"])
    status = last["status"]
    counters = {key: status.get(key) for key in ("batches", "events_written", "largest_batch")}
    return {
        "events": events,
        "burst": BURST,
        "events_per_s": _spread(rates),
        "cpu_us_per_event": _spread(cpu),  # both threads: less sensitive to a loaded machine
        **counters,
    }


# -- the running daemon --------------------------------------------------------------------


class _Daemon:
    """`door-gateway run` on simulated hardware in its own process."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = state.parent / "journal_rate.toml"
        text = SIMULATE.read_text().replace("max_events = 100000", f"max_events = {MAX_EVENTS}")
        config.write_text(text)
        cmd = [
            sys.executable, "-m", "gateway", "run", "--config", str(config),
            "--state-dir", str(state), "--listen", f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        self._log = (state.parent / "daemon.log").open("wb")
        self.process = subprocess.Popen(
            cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the daemon exited at start")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.base}/sim/outputs") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError("the daemon did not answer within 60 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


async def _present(session: aiohttp.ClientSession, base: str, client: int, until: float) -> int:
    sent = 0
    while time.perf_counter() < until:
        body = {"reader": READER, "text": f"bench-{client}-{sent}"}
        async with session.post(f"{base}/sim/qr", json=body) as resp:
            assert resp.status == 200, await resp.text()
        sent += 1
    return sent


async def _wait_durable(db: Path, where: str, wanted: int, timeout_s: float) -> float:
    deadline = time.perf_counter() + timeout_s
    while (count := _count(db, where)) < wanted:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{count} of {wanted} events durable after {timeout_s} s")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def _journal_status(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """The daemon's `journal` status section (the simulation's technician)."""
    login = {"username": "admin", "password": "simulate"}
    async with session.post(f"{base}/api/v1/login", json=login) as resp:
        token = (await resp.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
        journal: dict[str, Any] = (await resp.json())["journal"]
    return journal


def _cpu_s(pid: int) -> float:
    """CPU time (user + system, all threads) of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _daemon_round(state: Path, seconds: float) -> tuple[float, float, float]:
    """(events durable per second, events per commit, daemon CPU us per request) of one
    run."""
    daemon = _Daemon(state)
    try:
        async with aiohttp.ClientSession() as session:
            await daemon.ready(session)
            where = f"type = 'access' AND reader = '{READER}'"
            before = _count(state / "gateway.db", where)
            cpu_before = _cpu_s(daemon.process.pid)
            started = time.perf_counter()
            until = started + seconds
            sent = await asyncio.gather(
                *(_present(session, daemon.base, client, until) for client in range(CLIENTS))
            )
            wanted = before + sum(sent)
            done = await _wait_durable(state / "gateway.db", where, wanted, 60)
            cpu_us = (_cpu_s(daemon.process.pid) - cpu_before) / sum(sent) * 1e6
            journal = await _journal_status(session, daemon.base)
            grouped = journal.get("events_written", 0) / max(1, journal.get("batches", 0))
            return sum(sent) / (done - started), grouped, cpu_us
    finally:
        daemon.stop()


def daemon_rate(seconds: float = DAEMON_S, rounds: int = ROUNDS) -> dict[str, Any]:
    """Decisions durable per second through the running daemon, and how many events its
    writer put in one commit on average (whole run, start-up included), and the daemon's
    CPU time per request."""
    rates: list[float] = []
    per_commit: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state"
            state.mkdir()
            rate, grouped, cpu_us = asyncio.run(_daemon_round(state, seconds))
            rates.append(rate)
            per_commit.append(grouped)
            cpu.append(cpu_us)
    return {
        "clients": CLIENTS,
        "seconds": seconds,
        "events_per_s": _spread(rates),
        "events_per_commit": _spread(per_commit),
        "daemon_cpu_us_per_request": _spread(cpu),
    }


async def _in_process_round(state: Path, events: int) -> float:
    settings = load_settings(SIMULATE)
    device = dataclasses.replace(settings.device, state_dir=str(state))
    web_settings = dataclasses.replace(settings.web, listen=f"127.0.0.1:{_free_port()}")
    journal = dataclasses.replace(settings.journal, max_events=MAX_EVENTS)
    gateway = Gateway(
        dataclasses.replace(settings, device=device, web=web_settings, journal=journal)
    )
    await gateway.start()
    try:
        await gateway.writer.flush()
        db = state / "gateway.db"
        before = await asyncio.to_thread(_count, db)
        started = time.perf_counter()
        for n in range(events):
            gateway.recorder.emit(_event(n))
            if n % BURST == BURST - 1:
                await asyncio.sleep(0)  # the loop runs between bursts, as it would
                while gateway.writer.status()["queued"] > IN_FLIGHT:
                    await asyncio.sleep(0.001)
        while await asyncio.to_thread(_count, db) < before + events:
            await asyncio.sleep(0.005)
        return events / (time.perf_counter() - started)
    finally:
        await gateway.stop()


def in_process_rate(events: int = EVENTS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Events/s made durable by the running gateway (in this process) when they arrive
    faster than the disk syncs: its recorder, writer, journal, forwarder and live feed,
    without the HTTP and simulated-reader cost of each event."""
    rates = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            rates.append(asyncio.run(_in_process_round(Path(tmp), events)))
    return {"events": events, "burst": BURST, "events_per_s": _spread(rates)}


# -- forwarding ----------------------------------------------------------------------------


class _Receiver:
    """A loopback agent that answers 200 and remembers the highest seq it received."""

    def __init__(self) -> None:
        self.highest = 0
        self.received = 0
        self.got = asyncio.Event()
        self.wanted = 0

    async def handle(self, request: web.Request) -> web.Response:
        rows = json.loads(await request.read())
        self.received += len(rows)
        for row in rows:
            self.highest = max(self.highest, int(row.get("seq") or row.get("logID") or 0))
        if self.highest >= self.wanted:
            self.got.set()
        return web.Response(text="OK")


async def _forwarding_round(state: Path, events: int) -> float:
    db = state / "gateway.db"
    journal = EventJournal(db, ZoneInfo("Europe/Berlin"), MAX_EVENTS)
    journal.append_batch([_event(n) for n in range(events)])
    wanted = journal.last_seq()
    journal.close()
    receiver = _Receiver()
    receiver.wanted = wanted
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/agent", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    with AgentStore.open(db) as agents:
        agents.register(f"http://127.0.0.1:{port}/agent", now=time.time(), init_sync=True)
    daemon = _Daemon(state)
    try:
        async with aiohttp.ClientSession() as session:
            await daemon.ready(session)
        started = time.perf_counter()
        await asyncio.wait_for(receiver.got.wait(), 300)
        return receiver.received / (time.perf_counter() - started)
    finally:
        daemon.stop()
        await runner.cleanup()


def forwarding_rate(events: int = EVENTS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Journal events delivered per second to one loopback agent."""
    rates = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state"
            state.mkdir(mode=0o700)
            rates.append(asyncio.run(_forwarding_round(state, events)))
    return {"events": events, "events_per_s": _spread(rates)}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def measure(events: int = EVENTS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Every figure of this module (see the module docstring)."""
    return {
        "machine": machine(),
        "writer": writer_rate(events, rounds),
        "in_process": in_process_rate(events, rounds),
        "daemon": daemon_rate(DAEMON_S, rounds),
        "forwarding": forwarding_rate(events, rounds),
    }


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    print(json.dumps(measure(events), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
