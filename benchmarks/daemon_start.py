"""Start-up and memory of the real daemon on N users (`benchmarks.population`).

Each repetition copies the population's state directory, starts `door-gateway run` on
config/simulate.toml under a fake systemd (a unix datagram socket this process binds as
NOTIFY_SOCKET) and times, from the moment the process is spawned:

- `startup_to_ready`: READY=1 arriving on the socket;
- `startup_to_http`: the first HTTP answer (any status) to `GET /` on its loopback port.

Then it waits for the resident memory to settle (two readings 0.5 s apart within 1 MiB, at
most 120 s: the daemon answers and sends READY while its rules cache still loads, which
takes seconds at a million users and grows the RSS all along) and reads `rss_steady`
(VmRSS) and `rss_peak_start` (VmHWM) from /proc. Linux only.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.figures import Sample
from benchmarks.population import cached_state_dir, copy_state_dir

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "simulate.toml"
HTTP_POLL_S = 0.02
SETTLE_STEP_S = 0.5
SETTLE_MIB = 1.0
SETTLE_MAX_S = 120.0


@dataclass
class NotifySocket:
    """A fake systemd's notification socket: the monotonic arrival time of READY=1."""

    path: Path
    ready_at: float | None = None
    _sock: socket.socket = field(init=False)
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.05)
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._running:
            try:
                message = self._sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            except OSError:
                return
            if self.ready_at is None and "READY=1" in message.splitlines():
                self.ready_at = time.monotonic()

    def close(self) -> None:
        """Stop listening and close the socket."""
        self._running = False
        self._thread.join()
        self._sock.close()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status_mib(pid: int, key: str) -> float:
    """A `VmRSS`/`VmHWM`-style line of /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def _answers_http(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def _settled_rss(pid: int) -> float:
    deadline = time.monotonic() + SETTLE_MAX_S
    last = status_mib(pid, "VmRSS")
    while time.monotonic() < deadline:
        time.sleep(SETTLE_STEP_S)
        now = status_mib(pid, "VmRSS")
        if abs(now - last) <= SETTLE_MIB:
            return now
        last = now
    return last


def start_once(state_dir: Path, timeout_s: float) -> dict[str, float]:
    """One start of the daemon on `state_dir`: its four figures."""
    port = free_port()
    notify = NotifySocket(state_dir.parent / "notify.sock")
    log_path = state_dir.parent / "daemon.log"
    command = [
        sys.executable, "-m", "gateway", "run", "--config", str(CONFIG),
        "--state-dir", str(state_dir), "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING",
    ]  # fmt: skip
    environ = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    environ.pop("WATCHDOG_USEC", None)
    try:
        with log_path.open("wb") as log:
            spawned = time.monotonic()
            daemon = subprocess.Popen(command, cwd=REPO, env=environ, stdout=log, stderr=log)
        try:
            http_at = _wait_for_http(daemon, port, spawned + timeout_s)
            while notify.ready_at is None and time.monotonic() < spawned + timeout_s:
                time.sleep(0.01)
            if notify.ready_at is None:
                raise RuntimeError(f"no READY=1 within {timeout_s:.0f} s")
            rss = _settled_rss(daemon.pid)
            peak = status_mib(daemon.pid, "VmHWM")
        except BaseException as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; daemon log: {tail}") from exc
        finally:
            _stop(daemon)
    finally:
        notify.close()
    return {
        "startup_to_ready": notify.ready_at - spawned,
        "startup_to_http": http_at - spawned,
        "rss_steady": rss,
        "rss_peak_start": peak,
    }


def _wait_for_http(daemon: subprocess.Popen[bytes], port: int, deadline: float) -> float:
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited with {daemon.returncode}")
        if _answers_http(port):
            return time.monotonic()
        time.sleep(HTTP_POLL_S)
    raise RuntimeError("no HTTP answer in time")


def _stop(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


def measure(users: int, repetitions: int) -> dict[str, Sample]:
    """startup_to_ready and startup_to_http (s), rss_steady and rss_peak_start (MiB)."""
    source = cached_state_dir(users)
    runs: list[dict[str, float]] = []
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory() as tmp:
            state_dir = Path(tmp) / "state"
            copy_state_dir(source, state_dir)
            runs.append(start_once(state_dir, timeout_s=30 + users / 10_000))
    return {name: Sample.of([run[name] for run in runs]) for name in runs[0]}
