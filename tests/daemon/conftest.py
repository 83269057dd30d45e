"""Start the real daemon as a subprocess on simulated hardware, on a free loopback port."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIMULATE = REPO / "config" / "simulate.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_daemon(
    state_dir: Path,
    config: Path = SIMULATE,
    nofile: int | None = None,
    environ: dict[str, str] | None = None,
) -> Daemon:
    """Run `door-gateway run` and wait (bounded) until it answers HTTP; `nofile` sets the
    daemon's soft file descriptor limit (as a unit's LimitNOFILE= would); `environ` adds to
    its environment (systemd's NOTIFY_SOCKET, WATCHDOG_USEC)."""
    return wait_listening(launch_daemon(state_dir, config, nofile, environ))


def launch_daemon(
    state_dir: Path,
    config: Path = SIMULATE,
    nofile: int | None = None,
    environ: dict[str, str] | None = None,
) -> Daemon:
    """Run `door-gateway run` and return at once (it may still be starting)."""
    port = free_port()
    log_path = state_dir.parent / f"daemon-{port}.log"
    cmd = [
        sys.executable, "-m", "gateway", "run",
        "--config", str(config), "--state-dir", str(state_dir),
        "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    env.update(environ or {})
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, env=env,
            preexec_fn=None if nofile is None else _soft_nofile(nofile),
        )  # fmt: skip
    return Daemon(process, f"http://127.0.0.1:{port}", state_dir, log_path)


def wait_listening(daemon: Daemon, timeout: float = 30.0) -> Daemon:
    """`daemon`, once its web server accepts connections; AssertionError if it exits first
    or takes longer than `timeout` (it is then killed)."""
    process = daemon.process
    port = int(daemon.base_url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"daemon exited early:\n{daemon.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return daemon
        except OSError:
            time.sleep(0.1)
    daemon.stop(signal.SIGKILL)
    raise AssertionError(f"daemon did not start listening:\n{daemon.log()}")


def _soft_nofile(limit: int) -> Callable[[], None]:
    def set_limit() -> None:  # runs in the child, between fork and exec
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return set_limit


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = start_daemon(tmp_path / "state")
    yield running
    running.stop()
