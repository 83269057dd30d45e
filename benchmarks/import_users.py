"""`make bench`: `users import` speed and peak memory, printed as JSON.

Writes a CSV of N generated users (one card and one PIN each; N is the first argument,
100,000 by default), then imports it into a fresh database in a child process, so that
the child's peak RSS (`VmHWM`) is the import's own. Figures only, nothing asserted:
users per second of wall time, and of the process's CPU time (what the import itself
costs, whatever else the machine is doing), and the load average before and after.

The import runs on two threads (the main one reads, checks and prepares a batch while a
writer thread has SQLite write the one before): the CPU time of each, per user, says
which one bounds the rate on an idle machine with two cores (the critical path: the
larger of the two, as long as the writer holds Python's lock only between statements).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.figures import Sample

USERS = 100_000

# Run in the child: import the file, print seconds and peak RSS as JSON.
_CHILD = """
import json, sys, time
from pathlib import Path
from gateway.access.pins import PinHasher
from gateway.store.importexport import import_users_file
from gateway.store.stores import Stores

stores = Stores.open(Path(sys.argv[1]), PinHasher(bytes(32)))
started, cpu_started = time.monotonic(), time.process_time()
main_started = time.thread_time()
count = import_users_file(stores.users, Path(sys.argv[2]))
seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
main_cpu = time.thread_time() - main_started  # the rest of the process: the writer thread
stores.close()
# VmHWM, not ru_maxrss: ru_maxrss carries over the parent's size through fork and exec.
status = Path("/proc/self/status").read_text()
peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) / 1024
print(json.dumps({
    "users": count, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak,
    "main_cpu_seconds": main_cpu, "writer_cpu_seconds": cpu - main_cpu,
}))
"""


def write_users_csv(path: Path, count: int) -> None:
    """A CSV users file with `count` users, each with its own card and PIN."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("user_id,first_name,last_name,cards,pin\n")
        for n in range(count):
            handle.write(f"U{n},First{n},Last{n},{n + 1:08X},{10_000_000 + n}\n")


def measure_import(path: Path, db_path: Path) -> dict[str, float]:
    """Import `path` into `db_path` in a child process; its figures."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(db_path), str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def cpu_per_user(figures: dict[str, float]) -> dict[str, float]:
    """Microseconds of CPU per user: the whole process, the reading thread, the writer
    thread, and the critical path (the larger of the two threads)."""
    users = figures["users"]
    main = figures["main_cpu_seconds"] / users * 1e6
    writer = figures["writer_cpu_seconds"] / users * 1e6
    return {
        "process": round(figures["cpu_seconds"] / users * 1e6, 1),
        "main_thread": round(main, 1),
        "writer_thread": round(writer, 1),
        "critical_path": round(max(main, writer), 1),
    }


def measure(users: int, repetitions: int) -> dict[str, Sample]:
    """For `make bench`: import_users_per_s and import_peak_rss (MiB), one fresh database
    per repetition, the same CSV of `users` users each time."""
    rates, peaks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "users.csv"
        write_users_csv(csv_path, users)
        for n in range(repetitions):
            figures = measure_import(csv_path, Path(tmp) / f"gateway-{n}.db")
            rates.append(figures["users"] / figures["seconds"])
            peaks.append(figures["peak_rss_mib"])
    return {"import_users_per_s": Sample.of(rates), "import_peak_rss": Sample.of(peaks)}


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else USERS
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "users.csv"
        write_users_csv(csv_path, count)
        load_before = os.getloadavg()[0]
        figures = measure_import(csv_path, Path(tmp) / "gateway.db")
        load_after = os.getloadavg()[0]
    result = {
        "import_users": figures["users"],
        "import_seconds": round(figures["seconds"], 2),
        "import_users_per_s": round(figures["users"] / figures["seconds"]),
        # On a shared machine the wall time includes waiting for a core; CPU time does not.
        "import_cpu_seconds": round(figures["cpu_seconds"], 2),
        "import_users_per_cpu_s": round(figures["users"] / figures["cpu_seconds"]),
        # CPU per user of each thread; the larger bounds the rate with a core for each.
        "import_cpu_us_per_user": cpu_per_user(figures),
        "import_peak_rss_mib": round(figures["peak_rss_mib"], 1),
        # What else the machine was doing: the wall-clock rate depends on it.
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
