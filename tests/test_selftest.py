"""`door-gateway selftest`: each check on fakes of the outside world (a GPIO report, a
network, the clock's sync state, free space), real directories and a real database."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.config import load_settings
from gateway.hw.gpio_info import LineReport, read_lines
from gateway.model import Event
from gateway.selftest import (
    DISK_FAIL_BELOW,
    MIB,
    CheckResult,
    System,
    configured_pins,
    print_report,
    run_selftest,
)
from gateway.settings import ReaderSettings, Settings
from gateway.store.agents import AgentStore
from gateway.store.journal import EventJournal
from gateway.tlscert import tls_files
from tests.config.helpers import MINIMAL_GPIO, write
from tests.fakes import ManualClock
from tests.hw.fake_hardware import FakeHardware, FakeInput, FakeOutput

REPO = Path(__file__).resolve().parents[1]
SIMULATE = REPO / "config" / "simulate.toml"
NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
GIB = 1024 * MIB


class FakeWorld:
    """The outside world as the checks see it, with verbs to change it."""

    def __init__(self) -> None:
        self.used_lines: dict[int, str] = {}
        self.gpio_problem = ""
        self.reachable: set[tuple[str, int]] = set()
        self.synchronised: bool | None = True
        self.free = 8 * GIB
        self.asked: list[tuple[str, int, float]] = []
        self.uid = 998  # the service user
        self.pcsc_readers: list[str] = ["ACS ACR122U PICC Interface 00 00"]

    def become_root(self) -> None:
        self.uid = 0

    def take_line(self, pin: int, user: str) -> None:
        self.used_lines[pin] = user

    def answer(self, host: str, port: int) -> None:
        self.reachable.add((host, port))

    def gpio_lines(self, pins: Sequence[int]) -> LineReport:
        if self.gpio_problem:
            return LineReport(problem=self.gpio_problem)
        used = {p: u for p, u in self.used_lines.items() if p in pins}
        return LineReport("/dev/gpiochip0 (pinctrl-bcm2711)", "", used)

    def connect(self, host: str, port: int, timeout: float) -> None:
        self.asked.append((host, port, timeout))
        if (host, port) not in self.reachable:
            raise ConnectionRefusedError(111, "Connection refused")

    def free_bytes(self, _path: Path) -> tuple[int, int]:
        return self.free, 32 * GIB

    def system(self, tmp_path: Path, in_daemon: bool = False) -> System:
        (tmp_path / "dev").mkdir(exist_ok=True)
        (tmp_path / "usb").mkdir(exist_ok=True)
        return System(
            clock=ManualClock.at(NOW),
            gpio_lines=self.gpio_lines,
            connect=self.connect,
            clock_synchronised=lambda: self.synchronised,
            free_bytes=self.free_bytes,
            dev=tmp_path / "dev",
            usb_devices=tmp_path / "usb",
            pcscd_socket=tmp_path / "pcscd.comm",
            euid=lambda: self.uid,
            pcsc_reader_names=lambda _reader: self.pcsc_readers,
            in_daemon=in_daemon,
        )


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def simulated(tmp_path: Path) -> Settings:
    settings = load_settings(SIMULATE)
    device = dataclasses.replace(settings.device, state_dir=str(tmp_path / "state"))
    return dataclasses.replace(settings, device=device)


def on_gpio(tmp_path: Path, text: str = MINIMAL_GPIO) -> Settings:
    path = write(tmp_path, text.replace('id = "gw"', f'id = "gw"\nstate_dir = "{tmp_path}/state"'))
    return load_settings(path)


def by_name(checks: Sequence[CheckResult]) -> dict[str, CheckResult]:
    return {check.name: check for check in checks}


def test_every_check_passes_on_the_simulated_configuration(
    tmp_path: Path, world: FakeWorld
) -> None:
    report = run_selftest(simulated(tmp_path), world.system(tmp_path), by="admin")
    assert not report.failed
    assert [c for c in report.checks if c.status != "ok"] == []
    names = [check.name for check in report.checks]
    assert names[:5] == ["configuration", "user", "state directory", "database", "forwarding"]
    assert names[5:7] == ["journal", "GPIO"]
    assert "reader back-qr" in names and "reader back-exit" in names
    assert names[-3:] == ["upstream", "clock", "disk"]
    assert report.as_dict()["counts"] == {"ok": len(names), "warn": 0, "fail": 0}


def test_an_existing_database_and_journal_are_checked_and_left_as_they_were(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings = simulated(tmp_path)
    (tmp_path / "state").mkdir(mode=0o700)
    db = tmp_path / "state" / "gateway.db"
    journal = EventJournal(db, ZoneInfo("UTC"), max_events=10_000)
    journal.close()
    before = sorted(p.name for p in (tmp_path / "state").iterdir())
    checks = by_name(run_selftest(settings, world.system(tmp_path)).checks)
    assert checks["database"].status == "ok" and "intact" in checks["database"].detail
    assert checks["journal"].status == "ok" and "accepts writes" in checks["journal"].detail
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == before


def test_an_unwritable_state_dir_fails_with_a_clear_line(tmp_path: Path, world: FakeWorld) -> None:
    settings = simulated(tmp_path)
    state = tmp_path / "state"
    state.write_text("a file where the directory should be")
    checks = by_name(run_selftest(settings, world.system(tmp_path)).checks)
    assert checks["state directory"].status == "fail"
    assert checks["state directory"].line() == (
        f"fail  state directory: {state} is not a directory\n"
        "      -> set [device] state_dir to a directory"
    )


def test_a_state_dir_on_a_read_only_file_system_fails(
    tmp_path: Path, world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root may write anywhere, so the one boundary, making a file, is made to fail as a
    read-only file system makes it fail."""
    settings = simulated(tmp_path)
    (tmp_path / "state").mkdir(mode=0o700)

    def read_only(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("gateway.selftest.tempfile.mkstemp", read_only)
    report = run_selftest(settings, world.system(tmp_path))
    check = by_name(report.checks)["state directory"]
    assert check.status == "fail" and report.failed
    assert "is not writable (Read-only file system)" in check.detail
    assert "chown -R door-gateway:" in check.action


def test_a_private_state_dir_is_expected(tmp_path: Path, world: FakeWorld) -> None:
    (tmp_path / "state").mkdir(mode=0o755)
    os.chmod(tmp_path / "state", 0o755)
    check = by_name(run_selftest(simulated(tmp_path), world.system(tmp_path)).checks)[
        "state directory"
    ]
    assert (check.status, check.action) == ("warn", f"chmod 700 {tmp_path / 'state'}")


def test_a_damaged_database_fails(tmp_path: Path, world: FakeWorld) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "gateway.db").write_bytes(b"not a database at all" * 100)
    checks = by_name(run_selftest(simulated(tmp_path), world.system(tmp_path)).checks)
    assert checks["database"].status == "fail"
    assert (
        "not a usable" in checks["database"].detail or "not a database" in checks["database"].detail
    )


def test_a_missing_serial_port_fails_with_a_clear_line(tmp_path: Path, world: FakeWorld) -> None:
    settings = simulated(tmp_path)
    missing = tmp_path / "dev" / "ttyUSB7"
    readers = tuple(
        dataclasses.replace(r, port=str(missing)) if r.kind == "serial" else r
        for r in settings.readers
    )
    report = run_selftest(dataclasses.replace(settings, readers=readers), world.system(tmp_path))
    check = by_name(report.checks)["reader back-qr"]
    assert report.failed
    assert check.line().splitlines()[0] == f"fail  reader back-qr: serial port {missing} not found"
    assert "/dev/serial/by-id/" in check.action


def test_a_serial_port_that_is_there_passes(tmp_path: Path, world: FakeWorld) -> None:
    reader = ReaderSettings(name="qr", kind="serial", door="front", port="/dev/null")
    checks = run_selftest(
        dataclasses.replace(on_gpio(tmp_path), readers=(reader,)), world.system(tmp_path)
    ).checks
    assert by_name(checks)["reader qr"].status == "ok"


def test_pcscd_must_answer_on_its_socket(tmp_path: Path, world: FakeWorld) -> None:
    reader = ReaderSettings(name="desk", kind="pcsc", door="front")
    settings = dataclasses.replace(on_gpio(tmp_path), readers=(reader,))
    system = world.system(tmp_path)
    assert by_name(run_selftest(settings, system).checks)["reader desk"].status == "fail"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(system.pcscd_socket))
        server.listen()
        desk = by_name(run_selftest(settings, system).checks)["reader desk"]
        assert desk.status == "ok" and "ACR122U" in desk.detail
        world.pcsc_readers = []  # pcscd answers, the reader is unplugged
        desk = by_name(run_selftest(settings, system).checks)["reader desk"]
        assert desk.status == "fail" and "lists no reader at all" in desk.detail


def test_an_nfc_reader_is_found_on_usb_by_its_id(tmp_path: Path, world: FakeWorld) -> None:
    reader = ReaderSettings(name="nfc", kind="nfc", door="front", device="usb:072f:2200")
    settings = dataclasses.replace(on_gpio(tmp_path), readers=(reader,))
    system = world.system(tmp_path)
    assert by_name(run_selftest(settings, system).checks)["reader nfc"].status == "fail"
    device = system.usb_devices / "1-1.3"
    device.mkdir()
    (device / "idVendor").write_text("072f\n")
    (device / "idProduct").write_text("2200\n")
    check = by_name(run_selftest(settings, system).checks)["reader nfc"]
    assert (check.status, check.detail) == ("ok", "USB NFC reader 072f:2200 is plugged in")


def test_gpio_lines_taken_by_another_program_warn_from_the_cli(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings = on_gpio(tmp_path)
    world.take_line(17, "w1-gpio")
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["GPIO"]
    assert check.status == "warn" and "GPIO17 by 'w1-gpio'" in check.detail
    in_daemon = by_name(run_selftest(settings, world.system(tmp_path, in_daemon=True)).checks)
    assert in_daemon["GPIO"].status == "ok"


def test_no_gpio_chip_fails_on_the_gpio_backend(tmp_path: Path, world: FakeWorld) -> None:
    report = read_lines([17], dev=tmp_path)  # the real reader, on a directory with no chip
    assert report.problem == f"no GPIO chip in {tmp_path}"
    world.gpio_problem = report.problem
    check = by_name(run_selftest(on_gpio(tmp_path), world.system(tmp_path)).checks)["GPIO"]
    assert check.status == "fail" and 'backend = "simulated"' in check.action


def test_configured_pins_are_every_wired_line(tmp_path: Path) -> None:
    assert configured_pins(on_gpio(tmp_path)) == [5, 6, 16, 17]


def test_the_lift_floor_relays_are_wired_lines_too(tmp_path: Path) -> None:
    floors = '\n[[floors]]\nname = "1"\npin = 20\n\n[[floors]]\nname = "2"\npin = 4\n'
    assert configured_pins(on_gpio(tmp_path, MINIMAL_GPIO + floors)) == [4, 5, 6, 16, 17, 20]


def test_the_upstream_host_must_take_a_connection(tmp_path: Path, world: FakeWorld) -> None:
    settings = simulated(tmp_path)
    upstream = dataclasses.replace(settings.upstream, url="https://verify.example/check")
    settings = dataclasses.replace(settings, upstream=upstream)
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["upstream"]
    assert check.status == "fail"
    assert check.detail == "cannot reach verify.example:443 (Connection refused)"
    assert world.asked == [("verify.example", 443, 3.0)]
    world.answer("verify.example", 443)
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["upstream"]
    assert (check.status, check.detail) == ("ok", "verify.example:443 takes connections")


def test_an_unsynchronised_clock_warns_and_an_unset_one_fails(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings = simulated(tmp_path)
    world.synchronised = False
    assert by_name(run_selftest(settings, world.system(tmp_path)).checks)["clock"].status == "warn"
    system = dataclasses.replace(world.system(tmp_path), clock=ManualClock(0.0))
    check = by_name(run_selftest(settings, system).checks)["clock"]
    assert check.status == "fail" and "1970-01-01" in check.detail


def test_running_as_root_is_a_warning(tmp_path: Path, world: FakeWorld) -> None:
    world.become_root()
    report = run_selftest(simulated(tmp_path), world.system(tmp_path))
    check = by_name(report.checks)["user"]
    assert check.status == "warn" and "this command runs as root" in check.detail
    assert "sudo -u door-gateway" in check.action
    assert not report.failed


def test_free_space_below_the_threshold_fails(tmp_path: Path, world: FakeWorld) -> None:
    world.free = DISK_FAIL_BELOW - 1
    report = run_selftest(simulated(tmp_path), world.system(tmp_path))
    assert by_name(report.checks)["disk"].status == "fail" and report.failed


def test_an_invalid_configuration_fails_the_first_check(tmp_path: Path, world: FakeWorld) -> None:
    settings = on_gpio(tmp_path)
    Path(settings.path).write_text(MINIMAL_GPIO.replace("relay_pin = 17", "relay_pin = 99"))
    check = run_selftest(settings, world.system(tmp_path)).checks[0]
    assert check.status == "fail" and "doors[0].relay_pin" in check.detail
    assert check.action == f"door-gateway check-config {settings.path}"


def test_the_report_prints_one_line_per_check_and_returns_the_exit_status(
    tmp_path: Path, world: FakeWorld
) -> None:
    lines: list[str] = []
    report = run_selftest(simulated(tmp_path), world.system(tmp_path))
    assert print_report(report, lines.append) == 0
    assert len(lines) == len(report.checks) + 1
    assert lines[-1] == f"{len(report.checks)} ok, 0 warnings, 0 failures"
    world.free = 0
    assert (
        print_report(run_selftest(simulated(tmp_path), world.system(tmp_path)), lines.append) == 1
    )


def test_the_cli_exits_0_on_the_simulated_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    config = write(tmp_path, text)
    status = main(["selftest", "--config", str(config)])
    out = capsys.readouterr().out
    assert "ok    configuration:" in out and "ok    GPIO: simulated" in out
    assert status == 0, out


def test_the_cli_exits_1_with_a_missing_serial_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    config = write(tmp_path, text.replace('port = "sim"', f'port = "{tmp_path}/ttyUSB9"'))
    assert main(["selftest", "--config", str(config)]) == 1
    assert (
        f"fail  reader back-qr: serial port {tmp_path}/ttyUSB9 not found" in capsys.readouterr().out
    )


def test_the_cli_exits_1_on_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, MINIMAL_GPIO.replace("relay_pin = 17", "relay_pin = 99"))
    assert main(["selftest", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("fail  configuration: 1 error in ")
    assert "doors[0].relay_pin" in out


def test_the_state_dir_mode_is_not_changed(tmp_path: Path, world: FakeWorld) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    run_selftest(simulated(tmp_path), world.system(tmp_path))
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert list((tmp_path / "state").iterdir()) == []  # the test file is gone again


# -- --json, HTTPS, forwarding ------------------------------------------------------------

STABLE_IDS = ["configuration", "user", "state_directory", "database", "forwarding", "journal"]


def run_cli_json(config: Path) -> tuple[int, dict[str, Any]]:
    """`door-gateway selftest --json` as a process, as a provisioning script runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "selftest", "--json", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_json_lists_every_check_with_stable_keys(tmp_path: Path) -> None:
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    status, report = run_cli_json(write(tmp_path, text))
    assert set(report) == {"ok", "time", "by", "counts", "checks"}
    assert all(set(c) == {"id", "name", "status", "detail", "action"} for c in report["checks"])
    ids = [check["id"] for check in report["checks"]]
    readers = [f"reader.{r.name}" for r in load_settings(SIMULATE).readers]
    tail = ["https", "upstream", "clock", "disk"]
    assert ids == [*STABLE_IDS, "gpio", "door_inputs", *readers, *tail]
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert (status, report["ok"], failed) == (0, True, [])


def test_json_exit_status_is_1_when_a_check_fails(tmp_path: Path) -> None:
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    config = write(tmp_path, text.replace('port = "sim"', f'port = "{tmp_path}/ttyUSB9"'))
    status, report = run_cli_json(config)
    failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert (status, report["ok"], failed) == (1, False, ["reader.back-qr"])
    status, report = run_cli_json(write(tmp_path, "[device]\nnot toml at all", "bad.toml"))
    assert status == 1 and [c["id"] for c in report["checks"]] == ["configuration"]


def test_https_check_prints_the_fingerprint_the_daemon_serves(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings = on_gpio(tmp_path)
    (tmp_path / "state").mkdir(mode=0o700)
    before = by_name(run_selftest(settings, world.system(tmp_path)).checks)["HTTPS"]
    assert before.status == "ok" and "made at the first start" in before.detail
    files = tls_files(settings)  # what the daemon does at its first start
    assert files is not None
    after = by_name(run_selftest(settings, world.system(tmp_path)).checks)["HTTPS"]
    assert after.status == "ok" and files.fingerprint in after.detail
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", files.fingerprint)


def test_https_check_fails_on_missing_site_files(tmp_path: Path, world: FakeWorld) -> None:
    text = MINIMAL_GPIO + f'[web]\ntls = "files"\ncert_file = "{tmp_path}/c.pem"\n'
    settings = on_gpio(tmp_path, text + f'key_file = "{tmp_path}/k.pem"\n')
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["HTTPS"]
    assert check.status == "fail" and "c.pem" in check.detail


def test_forwarding_backlog_above_the_alarm_warns(tmp_path: Path, world: FakeWorld) -> None:
    settings = on_gpio(tmp_path, MINIMAL_GPIO + "[forwarding]\nbacklog_alarm = 2\n")
    (tmp_path / "state").mkdir(mode=0o700)
    db = tmp_path / "state" / "gateway.db"
    journal = EventJournal(db, ZoneInfo("UTC"), max_events=10_000)
    agents = AgentStore.open(db)
    agents.register("http://agent.example/push", now=NOW.timestamp())
    for _ in range(2):
        journal.append(Event("system", NOW.timestamp(), reason="started"))
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["forwarding"]
    assert check.status == "ok" and "http://agent.example/push: 2 waiting" in check.detail
    journal.append(Event("system", NOW.timestamp(), reason="started"))
    journal.close()
    agents.close()
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["forwarding"]
    assert check.status == "warn" and "3 waiting" in check.detail


# -- door inputs and --click --------------------------------------------------------------

WIRED_DOOR = MINIMAL_GPIO.replace(
    "relay_pin = 17\n", "relay_pin = 17\ncontact_pin = 27\nrex_pin = 22\n", 1
)


class Bench(FakeHardware):
    """FakeHardware as the self-test meets it: switches already in a position, lines that
    another process holds, and every level a relay was driven to."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed: set[int] = set()
        self.held: set[int] = set()
        self.relay_levels: dict[int, list[bool]] = {}

    def input(self, pin: int, active_low: bool = True) -> FakeInput:
        if pin in self.held:
            raise OSError(16, "GPIO busy")
        line = super().input(pin, active_low)
        line.active = pin in self.pressed
        return line

    def output(self, pin: int, active_high: bool = True, initial: bool = False) -> FakeOutput:
        if pin in self.held:
            raise OSError(16, "GPIO busy")
        line = super().output(pin, active_high, initial)
        levels = self.relay_levels.setdefault(pin, [line.level])
        original_set = line.set

        def set_and_record(active: bool) -> None:
            original_set(active)
            levels.append(line.level)

        line.set = set_and_record  # type: ignore[method-assign]
        return line


def bench_system(world: FakeWorld, tmp_path: Path, bench: Bench, **extra: Any) -> System:
    system = world.system(tmp_path, **extra)
    return dataclasses.replace(system, open_hardware=lambda _: bench, sleep=lambda _: None)


def test_door_inputs_are_read_and_a_pressed_exit_button_warns(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings, bench = on_gpio(tmp_path, WIRED_DOOR), Bench()
    check = by_name(run_selftest(settings, bench_system(world, tmp_path, bench)).checks)
    inputs = check["door inputs"]
    assert inputs.status == "ok", inputs
    assert inputs.detail == "front contact closed (GPIO27); front exit button released (GPIO22)"
    assert bench.closed  # every line given back
    bench.pressed.add(22)
    inputs = by_name(run_selftest(settings, bench_system(world, tmp_path, bench)).checks)[
        "door inputs"
    ]
    assert inputs.status == "warn" and "front exit button reads pressed" in inputs.action


def test_door_inputs_held_by_another_process_fail(tmp_path: Path, world: FakeWorld) -> None:
    bench = Bench()
    bench.held.add(27)
    report = run_selftest(on_gpio(tmp_path, WIRED_DOOR), bench_system(world, tmp_path, bench))
    inputs = by_name(report.checks)["door inputs"]
    assert report.failed and inputs.status == "fail" and "GPIO27" in inputs.detail


def test_no_relay_moves_without_click_and_click_pulses_then_locks(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings, bench = on_gpio(tmp_path, WIRED_DOOR), Bench()
    report = run_selftest(settings, bench_system(world, tmp_path, bench))
    assert bench.relay_levels == {} and not any(c.name.startswith("relay") for c in report.checks)

    report = run_selftest(settings, bench_system(world, tmp_path, bench), click=True)
    checks = by_name(report.checks)
    assert checks["relay front"].status == "ok" and checks["relay back"].status == "ok"
    # fail-secure strikes, active high: locked (low), unlocked (high), locked again.
    assert bench.relay_levels[17] == [False, True, False]
    assert bench.outputs[17].closed and not report.failed


def test_click_is_refused_while_the_daemon_holds_the_relay(
    tmp_path: Path, world: FakeWorld
) -> None:
    bench = Bench()
    bench.held.add(17)
    report = run_selftest(
        on_gpio(tmp_path, WIRED_DOOR), bench_system(world, tmp_path, bench), click=True
    )
    relay = by_name(report.checks)["relay front"]
    assert report.failed and relay.status == "fail" and "status page's Pulse" in relay.action


def test_cli_click_journals_first_then_pulses_every_relay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{tmp_path}/state"')
    config = write(tmp_path, text)
    assert main(["selftest", "--json", "--click", "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    relays = {c["id"]: c["status"] for c in report["checks"] if c["id"].startswith("relay.")}
    assert relays == {"relay.front": "ok", "relay.back": "ok"}
    with sqlite3.connect(tmp_path / "state" / "gateway.db") as db:
        rows = db.execute("SELECT reason, trace FROM events").fetchall()
    assert [reason for reason, _ in rows] == ["relay_click_test"]
    assert "door-gateway selftest --click by " in rows[0][1] and "front, back" in rows[0][1]


def test_the_mail_server_must_take_a_connection_when_notifications_are_on(
    tmp_path: Path, world: FakeWorld
) -> None:
    settings = simulated(tmp_path)
    assert "mail" not in by_name(run_selftest(settings, world.system(tmp_path)).checks)
    settings = dataclasses.replace(
        settings,
        notifications=dataclasses.replace(settings.notifications, enabled=True),
        smtp=dataclasses.replace(settings.smtp, host="mail.example.com", tls="implicit"),
    )
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["mail"]
    assert check.status == "fail"
    assert check.detail == "cannot reach mail.example.com:465 (Connection refused)"
    assert "mails wait" in check.action
    world.answer("mail.example.com", 465)
    check = by_name(run_selftest(settings, world.system(tmp_path)).checks)["mail"]
    assert (check.status, check.detail) == ("ok", "mail.example.com:465 takes connections")
