"""Idle cost of the whole daemon with every simulated reader (`python -m benchmarks.daemon_idle`):
CPU share and event-loop thread wake-ups per second while nothing happens. Linux only (reads
/proc). Starts `door-gateway run` on config/simulate.toml in a temporary state directory,
lets it settle, then measures. Prints JSON.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.figures import Sample

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 8.0
MEASURE_S = 10.0
BENCH_WINDOW_S = 5.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """CPU seconds of the whole process, every thread (ended ones too), to the nanosecond:
    /proc's utime + stime count 10 ms ticks, 0.2 % of a 5 s window."""
    process_cpu_clock = ((~pid) << 3) | 2  # clock_getcpuclockid(pid): CPUCLOCK_SCHED
    try:
        return time.clock_gettime(process_cpu_clock)
    except OSError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _all_thread_wakeups(pid: int) -> int:
    """Voluntary switches of every thread alive now: each is a sleep that ended."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += _wakeups(task / "status")
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended
    return total


def _loop_thread_wakeups(pid: int) -> int:
    # The main thread runs the event loop: each sleep in epoll_wait is a voluntary switch.
    return _wakeups(Path(f"/proc/{pid}/task/{pid}/status"))


def _wakeups(status: Path) -> int:
    for line in status.read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise RuntimeError("no voluntary_ctxt_switches in /proc")


def measure(seconds: float, windows: int = 1) -> list[dict[str, float]]:
    """Start the simulated daemon, wait for it to settle, then measure `windows`
    consecutive windows of `seconds` of idling."""
    with tempfile.TemporaryDirectory() as state_dir:
        command = [
            sys.executable, "-m", "gateway", "run",
            "--config", str(REPO / "config" / "simulate.toml"),
            "--state-dir", state_dir, "--listen", f"127.0.0.1:{_free_port()}",
            "--log-level", "WARNING",
        ]  # fmt: skip
        daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(SETTLE_S)
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with {daemon.returncode}")
            return [_window(daemon.pid, seconds) for _ in range(windows)]
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def _window(pid: int, seconds: float) -> dict[str, float]:
    cpu, wall = _cpu_s(pid), time.monotonic()
    wakeups, all_wakeups = _loop_thread_wakeups(pid), _all_thread_wakeups(pid)
    time.sleep(seconds)
    cpu = _cpu_s(pid) - cpu
    wakeups = _loop_thread_wakeups(pid) - wakeups
    all_wakeups = _all_thread_wakeups(pid) - all_wakeups
    wall = time.monotonic() - wall
    return {
        "seconds": round(wall, 2),
        "cpu_percent": round(100 * cpu / wall, 3),
        "event_loop_wakeups_per_s": round(wakeups / wall, 1),
        "all_threads_wakeups_per_s": round(all_wakeups / wall, 1),
    }


def measure_figures(users: int, repetitions: int) -> dict[str, Sample]:
    """For `make bench`: idle_cpu (%) and idle_wakeups_per_s, one `BENCH_WINDOW_S` window
    per run (three per repetition) in one daemon; `users` plays no part."""
    windows = measure(BENCH_WINDOW_S, 3 * repetitions)
    return {
        "idle_cpu": Sample.of([w["cpu_percent"] for w in windows]),
        "idle_wakeups_per_s": Sample.of([w["event_loop_wakeups_per_s"] for w in windows]),
        "idle_all_wakeups_per_s": Sample.of([w["all_threads_wakeups_per_s"] for w in windows]),
    }


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else MEASURE_S
    print(json.dumps({"daemon_idle_every_simulated_reader": measure(seconds)[0]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
