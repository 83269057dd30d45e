"""The real daemon under a fake systemd: a datagram socket the test owns as NOTIFY_SOCKET.

READY=1 comes once the web server answers; WATCHDOG=1 comes from the event loop at half
WATCHDOG_USEC and stops while the loop is blocked (the simulation's /sim/block-loop);
SIGHUP reloads the file between RELOADING=1 and READY=1 (a bad file is rejected, the
running configuration kept); SIGTERM says STOPPING=1, locks the doors and exits in 5 s.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import sqlite3
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.daemon.test_simulated_daemon import KNOWN_CARD_BITS

WATCHDOG_USEC = 600_000  # a ping every 0.3 s expected


@dataclass
class FakeSystemd:
    """The notification socket: each message with the monotonic time it arrived."""

    path: Path
    sock: socket.socket = field(init=False)
    messages: list[tuple[float, str]] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.1)
        self._running = True
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join()
        self.sock.close()

    def environ(self, watchdog_usec: int = WATCHDOG_USEC) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": str(watchdog_usec)}

    def wait_for(self, text: str, after: float = 0.0, timeout: float = 10.0) -> float:
        """The arrival time of the first message containing `text` after `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for when, message in list(self.messages):
                if when >= after and text in message:
                    return when
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} from the daemon; got {self.messages}")

    def pings(self, start: float, end: float) -> list[float]:
        return [w for w, m in list(self.messages) if start <= w <= end and "WATCHDOG=1" in m]


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    # A short directory of its own: a socket path has at most 107 bytes, and pytest's
    # tmp_path with a long test name can pass that.
    with tempfile.TemporaryDirectory(prefix="dg-") as short:
        fake = FakeSystemd(Path(short) / "notify")
        yield fake
        fake.close()


def http_get(daemon: Daemon, path: str) -> int:
    with urllib.request.urlopen(f"{daemon.base_url}{path}", timeout=5) as resp:
        return int(resp.status)


def post_json(daemon: Daemon, path: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"{daemon.base_url}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(resp.status)


def test_ready_after_the_web_server_answers_then_watchdog_pings(
    tmp_path: Path, systemd: FakeSystemd
) -> None:
    daemon = start_daemon(tmp_path / "state", environ=systemd.environ())
    try:
        ready = systemd.wait_for("READY=1")
        # READY=1 is only sent once the site listens: the page answers at once.
        assert http_get(daemon, "/login") == 200
        assert "STATUS=serving on" in next(m for w, m in systemd.messages if w == ready)
        time.sleep(2.0)
        pings = systemd.pings(ready, ready + 2.0)
        assert 5 <= len(pings) <= 9, pings  # every 0.3 s, give or take
    finally:
        daemon.stop()


def test_a_blocked_loop_withholds_the_watchdog(tmp_path: Path, systemd: FakeSystemd) -> None:
    daemon = start_daemon(tmp_path / "state", environ=systemd.environ())
    try:
        systemd.wait_for("READY=1")
        time.sleep(1.0)  # a few pings first
        blocked_at = time.monotonic()
        assert post_json(daemon, "/sim/block-loop", b'{"seconds": 2}') == 200
        released_at = time.monotonic()
        assert released_at - blocked_at >= 2.0
        systemd.wait_for("WATCHDOG=1", after=released_at, timeout=2.0)  # pings again
        time.sleep(1.0)
        # While blocked, no ping: one gap of about the 2 s block among 0.3 s ones (how
        # long the request took to reach the loop does not matter).
        pings = systemd.pings(blocked_at - 1.0, released_at + 1.0)
        gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
        assert max(gaps) >= 1.8, gaps
        assert sorted(gaps)[-2] < 1.0, gaps  # the only long one
    finally:
        daemon.stop()


def test_sigterm_says_stopping_locks_and_exits_within_5_s(
    tmp_path: Path, systemd: FakeSystemd
) -> None:
    daemon = start_daemon(tmp_path / "state", environ=systemd.environ())
    systemd.wait_for("READY=1")
    body = json.dumps({"reader": "front-wiegand", "bits": KNOWN_CARD_BITS}).encode()
    assert post_json(daemon, "/sim/wiegand", body) == 200
    with urllib.request.urlopen(f"{daemon.base_url}/sim/outputs", timeout=5) as resp:
        assert json.load(resp)["doors"]["front"]["relay"] == "unlocked"
    sent = time.monotonic()
    assert daemon.stop(signal.SIGTERM, timeout=5.0) == 0
    assert time.monotonic() - sent < 5.0
    systemd.wait_for("STOPPING=1", after=sent, timeout=1.0)
    with sqlite3.connect(daemon.state_dir / "gateway.db") as db:
        rows = db.execute("SELECT door, reason, trace FROM events ORDER BY seq").fetchall()
    assert rows[-1][1] == "stopping"  # journaled and flushed before the exit
    front = [(reason, trace) for door, reason, trace in rows if door == "front"]
    assert ("granted" in [r for r, _ in front]) and front[-1] == ("locked", "stopping")


def test_sighup_applies_a_good_file_and_keeps_the_old_on_a_bad_one(
    tmp_path: Path, systemd: FakeSystemd
) -> None:
    config = tmp_path / "gateway.toml"
    text = SIMULATE.read_text()
    config.write_text(text)
    daemon = start_daemon(tmp_path / "state", config=config, environ=systemd.environ())
    try:
        systemd.wait_for("READY=1")
        # A good file: the log level applies at once; a door's relay pin needs a restart.
        config.write_text(
            text.replace("[device]\n", '[device]\nlog_level = "DEBUG"\n', 1).replace(
                "relay_pin = 17", "relay_pin = 14"
            )
        )
        sent = time.monotonic()
        daemon.process.send_signal(signal.SIGHUP)
        reloading = systemd.wait_for("RELOADING=1", after=sent)
        assert "MONOTONIC_USEC=" in next(m for w, m in systemd.messages if w == reloading)
        systemd.wait_for("READY=1", after=reloading)
        wait_for_log(daemon, "configuration reloaded: device.log_level applied")
        assert "doors changed: needs a restart, not applied" in daemon.log()
        with urllib.request.urlopen(f"{daemon.base_url}/sim/outputs", timeout=5) as resp:
            assert "front" in json.load(resp)["doors"]  # the running doors, unchanged

        # A bad file: every error logged, the daemon keeps running on the old settings.
        config.write_text(text.replace("[device]\n", "[device]\nno_such_key = 1\n", 1))
        sent = time.monotonic()
        daemon.process.send_signal(signal.SIGHUP)
        reloading = systemd.wait_for("RELOADING=1", after=sent)
        systemd.wait_for("READY=1", after=reloading)
        wait_for_log(daemon, "configuration reload rejected (1 error(s))")
        assert "device.no_such_key" in daemon.log()
        assert http_get(daemon, "/login") == 200
        assert daemon.process.poll() is None
    finally:
        daemon.stop()


def wait_for_log(daemon: Daemon, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in daemon.log():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{daemon.log()}")
