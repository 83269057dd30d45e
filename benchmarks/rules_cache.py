"""The engine's rules cache at scale: load time, memory, one change, loop freezes, decisions.

`python -m benchmarks.rules_cache [--db DIR] [N ...]` (10,000 users by default) prints
JSON, one object per N (one N per process gives the cleanest RSS figure). For each N a
child process builds a database with direct SQL (each user with a name, one card, one PIN
and one or two of ten access groups; one user in twenty expires), then, in this process:

- `full_load_s`: a full load of the cache from SQLite (what start-up and a large change do);
- `rss_mib`: the process's resident memory after that load, once the garbage is collected;
- `change_*`: one user's card added by another connection, then the reloader applies it;
  `change_s` is the time from the reload's start to the new card deciding, `change_peak_rss_mib`
  the peak RSS while it happened (the kernel's peak counter is reset first);
- `*_max_loop_lag_ms`: the longest an asyncio task asking to wake every 1 ms woke late while
  the change, and then a full rebuild (the same kind of change, too large for a delta:
  `rebuild_s`), ran (a loop-lag probe); `idle_max_loop_lag_ms` is
  the same probe for 1 s with nothing else running (the machine's own noise);
- `decide_*`: `AccessEngine.decide` latency for cached cards, cached PINs and unknown cards.

`--daemon` starts the whole daemon on the database instead: seconds to its first HTTP
answer, seconds until the cache is fully loaded, and its RSS at both (`measure_daemon`).

Others import `build_database`, `LoopLagProbe`, `measure` and `measure_daemon`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.clock import Instant, SystemClock
from gateway.memory import limit_malloc_arenas, release_freed_memory
from gateway.model import Credential
from gateway.rules_reload import RulesReloader
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.store.db import open_database
from gateway.store.engine_state import EngineStateStore
from gateway.store.rules import load_snapshot, prune_changes, read_change_seq

HASHER = PinHasher(b"b" * 32)
GROUPS = 10
DECISIONS = 20_000
OFFICE = "0" * 16 + "1" * 20 + "0" * 12


def card_of(n: int) -> str:
    """The canonical card number of user `n`."""
    return f"{n + 1:08X}"


def pin_of(n: int) -> str:
    """The PIN of user `n`."""
    return f"{10_000_000 + n}"


def _user_rows(count: int) -> Iterator[tuple[Any, ...]]:
    for n in range(count):
        expiry = "2031-01-01T00:00:00Z" if n % 20 == 0 else None
        yield (f"U{n:07d}", f"First{n}", f"Last{n}", expiry)


def build_database(path: Path, count: int) -> None:
    """A database at `path` with `count` users (see the module docstring), written fast:
    one transaction of direct SQL on a migrated schema."""
    open_database(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for g in range(1, GROUPS + 1):
            days = ", ".join(f"'{OFFICE}'" for _ in range(5))
            conn.execute(
                "INSERT INTO access_rights (id, name, monday, tuesday, wednesday, thursday,"
                f" friday) VALUES (?, ?, {days})",
                (g, f"Right {g}"),
            )
            conn.execute(
                "INSERT INTO access_groups (id, name, department_id) VALUES (?, ?, 0)",
                (g, f"Group {g}"),
            )
            conn.execute("INSERT INTO group_rights VALUES (?, ?)", (g, g))
        conn.executemany(
            "INSERT INTO users (user_id, first_name, last_name, expiry) VALUES (?, ?, ?, ?)",
            _user_rows(count),
        )
        conn.executemany(
            "INSERT INTO user_groups (user_id, group_id, position) VALUES (?, ?, ?)",
            (
                (f"U{n:07d}", g, p)
                for n in range(count)
                for p, g in enumerate({1 + n % GROUPS, 1 + n % 3})
            ),
        )
        conn.executemany(
            "INSERT INTO credentials (kind, value, user_id) VALUES (?, ?, ?)",
            (
                row
                for n in range(count)
                for row in (
                    ("card", card_of(n), f"U{n:07d}"),
                    ("pin", HASHER.hash(pin_of(n)), f"U{n:07d}"),
                )
            ),
        )
        conn.execute("COMMIT")
    # As the daemon does once it has loaded the rules: what it has applied leaves the log.
    with closing(open_database(path)) as conn:
        prune_changes(conn, read_change_seq(conn))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def rss_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """This process's peak resident memory since the last `reset_peak_rss` (VmHWM)."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Start the kernel's peak RSS counter again from the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(key)


@dataclass
class LoopLagProbe:
    """A task that asks to wake every `interval_s` and records how late it wakes."""

    interval_s: float = 0.001
    lags_s: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.lags_s.append(max(0.0, loop.time() - due))

    def start(self) -> None:
        """Start probing on the running loop (clears what was recorded)."""
        self.lags_s.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        """Stop probing; the longest lag seen, in milliseconds."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task})
        return round(max(self.lags_s, default=0.0) * 1000, 2)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 2),
    }


def _time_decisions(engine: AccessEngine, credentials: list[Credential]) -> dict[str, float]:
    samples = []
    now = Instant.read(SystemClock())
    for credential in credentials:
        started = time.perf_counter()
        engine.decide(credential, "front", now)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def _engine(snapshot: Any) -> AccessEngine:
    return AccessEngine(
        AccessSettings(),
        {"front": DoorSettings(name="front")},
        {"r": ReaderSettings(name="r", kind="wiegand", door="front")},
        ZoneInfo("UTC"),
        HASHER,
        snapshot,
    )


def _full_load(db_path: Path) -> Any:
    """A full load as the daemon does it: then the freed memory goes back to the system."""
    with closing(open_database(db_path)) as conn:
        snapshot = load_snapshot(conn)
    release_freed_memory()
    return snapshot


def _write(db_path: Path, sql: str, *args: Any) -> None:
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        conn.execute(sql, args)


async def _measure_changes(db_path: Path, engine: AccessEngine) -> dict[str, Any]:
    store = EngineStateStore.open(db_path)
    reloader = RulesReloader(store, engine, {}, db_path)
    probe = LoopLagProbe()
    figures: dict[str, Any] = {}
    try:
        gc.collect()
        probe.start()  # the machine's own noise: the same probe with nothing to do
        await asyncio.sleep(1.0)
        figures["idle_max_loop_lag_ms"] = await probe.stop()
        reset_peak_rss()
        steady = rss_mib()
        probe.start()
        await asyncio.sleep(0.05)
        new_card = f"FE{random.getrandbits(24):06X}"  # above every user's card; new each run
        await asyncio.to_thread(  # as another process would: not on this loop
            _write,
            db_path,
            "INSERT INTO credentials (kind, value, user_id) VALUES ('card', ?, 'U0000001')",
            new_card,
        )
        started = time.perf_counter()
        await reloader.reload_rules_if_changed(force=True)
        figures["change_s"] = round(time.perf_counter() - started, 4)
        await asyncio.sleep(0.05)
        figures["change_max_loop_lag_ms"] = await probe.stop()
        figures["change_steady_rss_mib"] = round(steady, 1)
        figures["change_peak_rss_mib"] = round(peak_rss_mib(), 1)
        found = engine.decide(Credential("card", new_card, "r", 0.0), "front", _now())
        figures["change_seen"] = found.user_id == "U0000001"
        # The same kind of change, made too large for a delta: the reloader's full load,
        # swap, disposal of the old snapshot and gc.freeze, as after a large import.
        full = RulesReloader(store, engine, {}, db_path, delta_limit=0)
        await asyncio.to_thread(
            _write, db_path, "DELETE FROM credentials WHERE kind = 'card' AND value = ?", new_card
        )
        probe.start()
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await full.reload_rules_if_changed(force=True)
        figures["rebuild_s"] = round(time.perf_counter() - started, 3)
        await asyncio.sleep(0.05)
        figures["rebuild_max_loop_lag_ms"] = await probe.stop()
    finally:
        store.close()
    return figures


def _now() -> Instant:
    return Instant.read(SystemClock())


def measure(db_path: Path, count: int) -> dict[str, Any]:
    """Every figure of the module docstring on the database at `db_path` (`count` users)."""
    limit_malloc_arenas()  # as the daemon does
    gc.collect()
    base = rss_mib()
    started = time.perf_counter()
    snapshot = _full_load(db_path)
    load_s = time.perf_counter() - started
    gc.collect()
    figures: dict[str, Any] = {
        "users": count,
        "full_load_s": round(load_s, 3),
        "rss_before_load_mib": round(base, 1),
        "rss_mib": round(rss_mib(), 1),
    }
    engine = _engine(snapshot)
    del snapshot  # the engine's is the only reference: a full rebuild frees it
    rng = random.Random(7)
    picks = [rng.randrange(count) for _ in range(DECISIONS)]
    figures["decide_cached_card"] = _time_decisions(
        engine, [Credential("card", card_of(n), "r", 0.0) for n in picks]
    )
    figures["decide_cached_pin"] = _time_decisions(
        engine, [Credential("pin", pin_of(n), "r", 0.0) for n in picks[:2000]]
    )
    figures["decide_unknown_card"] = _time_decisions(
        engine, [Credential("card", f"F{n:07X}", "r", 0.0) for n in picks[:2000]]
    )
    figures.update(asyncio.run(_measure_changes(db_path, engine)))
    return figures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _daemon_rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(key)


def measure_daemon(db_path: Path, timeout_s: float = 600.0) -> dict[str, float]:
    """Start `door-gateway run` (config/simulate.toml) on a copy of `db_path`: seconds to its
    first HTTP answer and its RSS then, seconds until its rules cache is fully loaded (its
    log says so) and its RSS 2 s later."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as state_dir:
        shutil.copyfile(db_path, Path(state_dir) / "gateway.db")
        port = _free_port()
        command = [
            sys.executable, "-m", "gateway", "run",
            "--config", str(repo / "config" / "simulate.toml"),
            "--state-dir", state_dir, "--listen", f"127.0.0.1:{port}", "--log-level", "INFO",
        ]  # fmt: skip
        log_path = Path(state_dir) / "daemon.log"
        with log_path.open("wb") as log_file:
            started = time.monotonic()
            daemon = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
            try:
                figures = _watch_daemon(daemon, port, log_path, started, timeout_s)
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
    return figures


def _watch_daemon(
    daemon: subprocess.Popen[bytes], port: int, log_path: Path, started: float, timeout_s: float
) -> dict[str, float]:
    figures: dict[str, float] = {}
    while time.monotonic() - started < timeout_s:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited: {log_path.read_text()[-2000:]}")
        if "first_http_answer_s" not in figures:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            except urllib.error.HTTPError:
                pass  # an answer all the same
            except OSError:
                time.sleep(0.05)
                continue
            figures["first_http_answer_s"] = round(time.monotonic() - started, 2)
            figures["rss_at_first_answer_mib"] = round(_daemon_rss_mib(daemon.pid), 1)
        if "access rules reloaded" in log_path.read_text(errors="replace"):
            figures["rules_loaded_s"] = round(time.monotonic() - started, 2)
            time.sleep(2.0)
            figures["rss_after_load_mib"] = round(_daemon_rss_mib(daemon.pid), 1)
            for part in ("RssAnon", "RssFile", "RssShmem"):
                figures[f"{part}_mib"] = round(_daemon_rss_mib(daemon.pid, part), 1)
            return figures
        time.sleep(0.1)
    raise TimeoutError("the daemon did not load its rules in time")


def main() -> int:
    """Figures for each N on the command line, as JSON lines.

    `--db DIR` keeps the databases in DIR (`rules-N.db`) and reuses them on the next run;
    each database is built in a child process, so the memory figures are the cache's own.
    `--daemon` (first) measures the whole daemon on it instead (`measure_daemon`).
    """
    args = sys.argv[1:]
    if args[:1] == ["--build"]:
        build_database(Path(args[1]), int(args[2]))
        return 0
    keep, daemon = None, False
    if args[:1] == ["--daemon"]:
        daemon, args = True, args[1:]
    if args[:1] == ["--db"]:
        keep, args = Path(args[1]), args[2:]
    for count in [int(arg) for arg in args] or [10_000]:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = (keep or Path(tmp)) / f"rules-{count}.db"
            started = time.perf_counter()
            if not db_path.exists():
                build = [sys.executable, "-m", "benchmarks.rules_cache", "--build"]
                subprocess.run([*build, str(db_path), str(count)], check=True)
            build_s = time.perf_counter() - started
            figures = measure_daemon(db_path) if daemon else measure(db_path, count)
            figures["users"] = count
            figures["build_database_s"] = round(build_s, 1)
            print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
