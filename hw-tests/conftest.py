"""Fixtures of the hardware test suite: the harness pins and the real daemon on a Pi.

Everything here skips (with the reason from `harness.skip_reason`) anywhere but a
Raspberry Pi wired as docs/hw-test-harness.md with `DOOR_GATEWAY_HARNESS` set; `make
hw-test` sets it. The harness pins are opened through the gateway's own pin factory
(gpiozero on lgpio), so their edges carry the kernel's timestamps.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from harness import HARNESS_ENV, Harness, load_harness, skip_reason

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0  # a Pi Zero 2 takes a while to import everything


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test of this directory, saying why, where the harness is not."""
    reason = skip_reason(dict(os.environ))
    if reason is None:
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Edge:
    pin: int
    ticks: float  # kernel timestamp, seconds
    level: bool


@dataclass
class HarnessPins:
    """The harness side of the wires: outputs that play devices, inputs with edge logs."""

    harness: Harness
    factory: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[int, Any] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # gpiozero pins hold their callbacks by weak reference: these keep them alive.
    callbacks: list[Any] = field(default_factory=list)

    def open(self) -> None:
        rest = {"wiegand_d0": True, "wiegand_d1": True, "contact": False, "exit_button": True}
        for name, level in rest.items():  # at rest: lines idle high, door shut, not pressed
            pin = self.factory.pin(self.harness.wires[name].harness)
            pin.function = "output"
            pin.state = level
            self.outputs[name] = pin
        watched = [self.harness.wires["relay"].harness]
        watched += [w.sense for w in self.harness.wires.values() if w.sense is not None]
        for number in watched:
            pin = self.factory.pin(number)
            pin.function = "input"
            pin.pull = "down" if number == watched[0] else "up"
            pin.edges = "both"
            callback = self._recorder(number)
            self.callbacks.append(callback)
            pin.when_changed = callback
            self.inputs[number] = pin

    def _recorder(self, number: int) -> Any:
        def record(ticks: float, state: int) -> None:
            with self.lock:
                self.edges.append(Edge(number, float(ticks), bool(state)))

        return record

    def close(self) -> None:
        for pin in self.inputs.values():
            pin.when_changed = None
        for pin in [*self.inputs.values(), *self.outputs.values()]:
            pin.close()
        self.factory.close()

    # -- verbs ---------------------------------------------------------------------------

    def set(self, name: str, level: bool) -> None:
        """Drive a harness output (a reader line, the contact, the exit button)."""
        self.outputs[name].state = level

    def relay_unlocked(self) -> bool:
        """The relay read back: high is energised, i.e. unlocked for the fail-secure strike."""
        return bool(self.inputs[self.harness.wires["relay"].harness].state)

    def play_wiegand(self, bits: str, interval_s: float = 0.002, pulse_s: float = 0.0001) -> None:
        """Send a frame as a reader does: a low pulse on D0 for 0, on D1 for 1, busy-waiting
        so that Python's sleep granularity does not split the frame."""
        start = time.perf_counter()
        for index, bit in enumerate(bits):
            line = "wiegand_d1" if bit == "1" else "wiegand_d0"
            _wait_until(start + index * interval_s)
            self.set(line, False)
            _wait_until(start + index * interval_s + pulse_s)
            self.set(line, True)

    def mark(self) -> int:
        """A position in the edge log; `edges_since` reads what came after it."""
        with self.lock:
            return len(self.edges)

    def edges_since(self, mark: int, pin: int | None = None) -> list[Edge]:
        with self.lock:
            return [e for e in self.edges[mark:] if pin is None or e.pin == pin]

    def wait_edge(self, mark: int, pin: int, level: bool, timeout_s: float) -> Edge:
        """The first edge of `pin` to `level` after `mark`, waiting at most `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for edge in self.edges_since(mark, pin):
                if edge.level == level:
                    return edge
            time.sleep(0.005)
        raise AssertionError(f"GPIO{pin} did not go {'high' if level else 'low'} in {timeout_s} s")


def _wait_until(moment: float) -> None:
    while time.perf_counter() < moment:
        pass


@pytest.fixture(scope="session")
def harness() -> Harness:
    return load_harness(Path(os.environ[HARNESS_ENV]))


@pytest.fixture(scope="session")
def pins(harness: Harness) -> Iterator[HarnessPins]:
    from gateway.hw.gpio import real_pin_factory

    harness_pins = HarnessPins(harness, real_pin_factory())
    harness_pins.open()
    yield harness_pins
    harness_pins.close()


@dataclass
class Gateway:
    """The real daemon on the gateway pins, with its own state directory."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path

    def reasons(self) -> list[str]:
        """The journal's reasons, oldest first (read-only, through SQLite)."""
        uri = f"file:{self.state_dir / 'gateway.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as db:
            return [row[0] for row in db.execute("SELECT reason FROM events ORDER BY seq")]

    def wait_reason(self, reason: str, timeout_s: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reasons = self.reasons()
            if reason in reasons:
                return reasons
            time.sleep(0.05)
        raise AssertionError(f"no {reason!r} in the journal: {self.reasons()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def gateway_config(harness: Harness, state_dir: Path) -> Path:
    """The harness's gateway configuration with this run's state directory."""
    text = harness.gateway_config.read_text()
    text = re.sub(r'(?m)^state_dir = ".*"$', f'state_dir = "{state_dir}"', text)
    config = state_dir.parent / "gateway.toml"
    config.write_text(text)
    return config


def listen_port(config: Path) -> int:
    match = re.search(r'(?m)^listen = "127\.0\.0\.1:(\d+)"$', config.read_text())
    assert match, f"{config}: [web] listen must be a loopback address for the suite"
    return int(match.group(1))


@pytest.fixture
def gateway(harness: Harness, pins: HarnessPins, tmp_path: Path) -> Iterator[Gateway]:
    """Import the test card's user, start the daemon, wait until it answers and has locked."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    config = gateway_config(harness, state_dir)
    card_hex = f"{(harness.card_facility << 16) | harness.card_number:06X}"  # as H10301 reads
    users = tmp_path / "users.csv"
    users.write_text(f"user_id,cards\n{harness.card_user},{card_hex}\n")
    command = [sys.executable, "-m", "gateway"]
    subprocess.run([*command, "users", "import", str(users), "--config", str(config)],
                   cwd=REPO, check=True, timeout=60)  # fmt: skip
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, "run", "--config", str(config)],
            cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    running = Gateway(process, state_dir, log_path)
    _wait_listening(running, listen_port(config))
    assert not pins.relay_unlocked(), "the relay must read locked once the gateway runs"
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0, running.log()
    assert not pins.relay_unlocked(), "the relay must read locked after a stop"


def _wait_listening(running: Gateway, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"the gateway exited early:\n{running.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    running.process.kill()
    raise AssertionError(f"the gateway did not start listening:\n{running.log()}")
