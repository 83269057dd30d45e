"""The Debian package under real systemd: a Debian bookworm root (arm64 by default, through
qemu-user-static) booted with `systemd-nspawn -b`, the .deb installed with apt, the
packaged unit enabled and started, then broken on purpose.

Run by `make system-test` (docs/testing.md); skipped in the plain test run. The tests
run in order on one container: each step starts from where the previous one left off.
The packaged configuration is replaced by config/simulate.toml (mock pins, loopback
web server) because a container has no GPIO; everything else is what an installer gets.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.container import Container, ContainerError

REPO = Path(__file__).resolve().parents[2]
UNIT = "door-gateway.service"
RESCUE = "door-gateway-rescue.service"  # Super Mode (docs/rescue.md)
CONFIG = "/etc/door-gateway/gateway.toml"
STATE_DIR = "/var/lib/door-gateway"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The container shares the host's network (apt needs the archive), so its loopback too:
# a port nobody on the host holds, as the whole-daemon tests do.
PORT = _free_port()
PACKAGES_INSIDE = "/run/door-gateway-packages"
# Under qemu a Python daemon starts in tens of seconds, not one: generous, but bounded.
START_S = 180.0
# WatchdogSec= + RestartSec= + a start, with room for an emulated CPU.
WATCHDOG_RESTART_S = 240.0

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("DOOR_GATEWAY_SYSTEM_TEST") != "1",
        reason="system test: run it with `make system-test` (boots a container, needs root)",
    ),
    pytest.mark.timeout(1800),  # boot + apt install under qemu, each bounded below
]


def _deb() -> Path:
    """The package under test: $DOOR_GATEWAY_DEB, else the newest `make deb` output."""
    given = os.environ.get("DOOR_GATEWAY_DEB")
    if given:
        return Path(given).resolve()
    built = sorted(REPO.glob("dist/door-gateway_*.deb"), key=lambda p: p.stat().st_mtime)
    if not built:
        pytest.fail("no package: run `make deb` first, or set DOOR_GATEWAY_DEB")
    return built[-1]


def _simulated_config() -> str:
    """config/simulate.toml with the packaged paths: state in the state dir, web on a port
    of its own on loopback."""
    text = (REPO / "config" / "simulate.toml").read_text()
    text, states = re.subn(r"(?m)^state_dir = .*$", f'state_dir = "{STATE_DIR}"', text)
    text, listens = re.subn(r"(?m)^listen = .*$", f'listen = "127.0.0.1:{PORT}"', text)
    assert states == 1 and listens == 1, "config/simulate.toml changed shape: adapt this test"
    return text


@pytest.fixture(scope="module")
def deb() -> Path:
    return _deb()


@pytest.fixture(scope="module")
def box(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    if not os.environ.get("DOOR_GATEWAY_TEST_ROOT"):
        pytest.fail("DOOR_GATEWAY_TEST_ROOT: the Debian root to boot (scripts/debian-root.sh)")
    root = Path(os.environ["DOOR_GATEWAY_TEST_ROOT"])
    logs = tmp_path_factory.mktemp("container")
    container = Container(
        root=root,
        name=f"door-gateway-test-{os.getpid()}",  # runs side by side never clash
        console_log=logs / "console.log",
        binds={deb.parent: PACKAGES_INSIDE},
    )
    try:
        seconds = container.start(boot_timeout=300)
        print(f"\nboot: {seconds:.1f} s")
        yield container
    finally:
        container.stop()


def _show(box: Container, prop: str, unit: str = UNIT) -> str:
    return box.run(f"systemctl show --property={prop} --value {unit}").stdout.strip()


def _main_pid(box: Container) -> int:
    return int(_show(box, "MainPID") or 0)


def _restarts(box: Container) -> int:
    return int(_show(box, "NRestarts") or 0)


def _wait_active(box: Container, timeout: float, what: str) -> float:
    def active() -> bool:
        return _show(box, "ActiveState") == "active" and _main_pid(box) != 0

    try:
        return box.wait_until(active, timeout, what)
    except ContainerError as exc:
        raise ContainerError(f"{exc}\n{_unit_log(box)}") from exc


def _unit_log(box: Container, unit: str = UNIT) -> str:
    status = box.run(f"systemctl status --no-pager --lines=0 {unit}").stdout
    journal = box.run(f"journalctl --no-pager --unit={unit} --lines=60").stdout
    return f"--- systemctl status\n{status}\n--- journal\n{journal}"


def _relays(box: Container) -> dict[str, str]:
    """Each door's relay as the running daemon drives it (GET /sim/outputs)."""
    result = box.run(
        "python3 -c 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("
        f'"http://127.0.0.1:{PORT}/sim/outputs", timeout=10).read().decode())\'',
        timeout=30,
    )
    if result.returncode != 0:
        raise ContainerError("the daemon's /sim/outputs did not answer\n" + result.explain())
    doors = json.loads(result.stdout)["doors"]
    return {name: door["relay"] for name, door in doors.items()}


def _wait_relays_locked(box: Container, timeout: float = START_S) -> None:
    """The web server answers once the doors are built: wait for it, then every relay
    must be locked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            relays = _relays(box)
            break
        except ContainerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    assert set(relays.values()) == {"locked"}, f"a relay is not locked: {relays}"


def _journal_count(box: Container, where: str) -> int:
    query = f"SELECT count(*) FROM events WHERE {where}"
    result = box.run(
        f'runuser -u door-gateway -- sqlite3 -readonly {STATE_DIR}/gateway.db "{query}"',
        check=True,
    )
    return int(result.stdout.strip())


def test_apt_install_gives_an_active_service_with_its_status_line(
    box: Container, deb: Path
) -> None:
    started = time.monotonic()
    install = box.run(f"apt-get install -y -q {PACKAGES_INSIDE}/{deb.name}", timeout=900)
    assert install.returncode == 0, "apt install of the package failed\n" + install.explain()
    print(f"\ninstall: {time.monotonic() - started:.1f} s")
    assert box.run(f"systemctl is-enabled {UNIT}").stdout.strip() == "enabled", (
        "installing the package did not enable the unit"
    )
    # The configuration holds secrets: the service's group reads it, nobody else.
    mode = box.run(f"stat -c '%a %U %G' {CONFIG}").stdout.strip()
    assert mode == "640 root door-gateway", f"{CONFIG} is {mode}"
    # No GPIO in a container: the site's configuration becomes the simulated one.
    box.run(f"cat > {CONFIG} <<'EOF'\n{_simulated_config()}EOF\n", check=True)
    box.run(f"systemctl reset-failed {UNIT}; systemctl restart --no-block {UNIT}", check=True)
    started = time.monotonic()
    _wait_active(box, START_S, f"{UNIT} to become active")
    print(f"start: {time.monotonic() - started:.1f} s")
    status = _show(box, "StatusText")
    assert status, "the daemon is active but sent no STATUS= line\n" + _unit_log(box)
    _wait_relays_locked(box)


def test_the_daemon_runs_unprivileged_under_its_system_call_filter(box: Container) -> None:
    """No capabilities and, where the kernel sees the daemon's own system calls (not
    through qemu-user, which emulates them), a system call filter of its own: more seccomp
    filters than the container's init, which has only the ones nspawn gives everything."""
    daemon = _proc_status(box, _main_pid(box))
    init = _proc_status(box, 1)
    assert daemon["Uid"].split()[0] != "0", "the daemon runs as root"
    assert int(daemon["CapEff"], 16) == 0, f"the daemon holds capabilities: {daemon['CapEff']}"
    assert daemon["NoNewPrivs"] == "1", "the daemon may gain privileges (NoNewPrivileges=)"
    emulated = box.run("uname -m").stdout.strip() != os.uname().machine
    filters, nspawn_filters = int(daemon["Seccomp_filters"]), int(init["Seccomp_filters"])
    print(f"seccomp filters: {filters}, init's {nspawn_filters} (emulated: {emulated})")
    if not emulated:
        assert filters > nspawn_filters, "no system call filter of the unit's on the daemon"


def _proc_status(box: Container, pid: int) -> dict[str, str]:
    text = box.run(f"cat /proc/{pid}/status", check=True).stdout
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


def test_selftest_passes_as_the_service_user(box: Container) -> None:
    result = box.run(
        f"runuser -u door-gateway -- door-gateway selftest --config {CONFIG}", timeout=180
    )
    assert result.returncode == 0, "door-gateway selftest failed\n" + result.explain()


def test_a_killed_daemon_is_restarted_with_the_relay_locked(box: Container) -> None:
    pid, restarts = _main_pid(box), _restarts(box)
    box.run(f"kill -KILL {pid}", check=True)
    box.wait_until(
        lambda: _restarts(box) > restarts and _main_pid(box) not in (0, pid),
        START_S,
        f"systemd to restart {UNIT} after kill -9",
    )
    _wait_active(box, START_S, f"{UNIT} to be active again after kill -9")
    _wait_relays_locked(box)
    # systemd 252 fires OnFailure= only when a unit fails for good: a crash that Restart=
    # restarts is no reason for Super Mode.
    assert _show(box, "ActiveState", RESCUE) == "inactive", _unit_log(box, RESCUE)


def test_a_hung_daemon_is_a_watchdog_restart_with_the_relay_locked(box: Container) -> None:
    pid, restarts = _main_pid(box), _restarts(box)
    box.run(f"kill -STOP {pid}", check=True)
    box.wait_until(
        lambda: _restarts(box) > restarts and _main_pid(box) not in (0, pid),
        WATCHDOG_RESTART_S,
        f"the watchdog to restart a stopped {UNIT}",
    )
    log = box.run(f"journalctl --no-pager --unit={UNIT}").stdout
    assert "Watchdog timeout" in log, "the restart was not the watchdog's\n" + _unit_log(box)
    _wait_active(box, START_S, f"{UNIT} to be active again after the watchdog")
    _wait_relays_locked(box)


def test_a_blocked_event_loop_is_a_watchdog_restart_with_the_relay_locked(box: Container) -> None:
    """A hung loop in a live process (its threads still run): the pings come from the loop,
    so they stop, and systemd restarts the daemon. /sim/block-loop answers only when the
    loop runs again, so the client is left to its own time limit."""
    pid, restarts = _main_pid(box), _restarts(box)
    timeouts = _watchdog_timeouts(box)
    box.run(
        "timeout 5 python3 -c 'import urllib.request; urllib.request.urlopen("
        f'urllib.request.Request("http://127.0.0.1:{PORT}/sim/block-loop", method="POST",'
        ' data=b"{\\"seconds\\": 60}", headers={"Content-Type": "application/json"}),'
        " timeout=5)' || true",
        timeout=30,
    )
    box.wait_until(
        lambda: _restarts(box) > restarts and _main_pid(box) not in (0, pid),
        WATCHDOG_RESTART_S,
        f"the watchdog to restart {UNIT} with its event loop blocked",
    )
    assert _watchdog_timeouts(box) > timeouts, "the restart was not the watchdog's\n" + (
        _unit_log(box)
    )
    _wait_active(box, START_S, f"{UNIT} to be active again after the watchdog")
    _wait_relays_locked(box)


def _watchdog_timeouts(box: Container) -> int:
    log = box.run(f"journalctl --no-pager --unit={UNIT}").stdout
    return log.count("Watchdog timeout")


def test_no_door_was_unlocked_and_every_start_locked_them(box: Container) -> None:
    assert _journal_count(box, "type = 'door' AND reason = 'unlocked'") == 0
    # Four starts (install, kill -9, two watchdogs), two doors each, each locked at startup.
    assert _journal_count(box, "type = 'door' AND reason = 'locked'") >= 8


# Super Mode's time limit in the test (5 minutes in the unit): long enough for the rescue to
# start under qemu, short enough to see it hand the door back.
RESCUE_RUNTIME_S = 60
RESCUE_DROP_IN = f"/etc/systemd/system/{RESCUE}.d/50-test.conf"


def _drop_in(box: Container, path: str, section: str, line: str) -> None:
    box.run(f"mkdir -p $(dirname {path}) && printf '[{section}]\\n{line}\\n' > {path}", check=True)


def test_a_crash_loop_gives_the_door_to_super_mode_and_super_mode_gives_it_back(
    box: Container,
) -> None:
    """Five failed starts within two minutes (here: a broken configuration; about 30 s
    under qemu) make systemd give up on the
    daemon: its OnFailure= starts the rescue unit, which reads the rescue list the daemon
    wrote. When the rescue's time is up it fails on purpose, its OnFailure= starts the
    daemon again (the configuration is fixed by then), the rescue is stopped before the
    daemon drives a line, and the daemon journals that Super Mode ended."""
    assert box.run(f"test -s {STATE_DIR}/rescue-list.json").returncode == 0, "no rescue list"
    _drop_in(box, RESCUE_DROP_IN, "Service", f"RuntimeMaxSec={RESCUE_RUNTIME_S}")
    # -p: a copy keeps the configuration's group (root:door-gateway 0640), as an admin's must
    box.run(f"cp -p {CONFIG} {CONFIG}.good && echo 'broken = [' >> {CONFIG}", check=True)
    box.run(f"systemctl daemon-reload && systemctl reset-failed {UNIT}", check=True)
    ended_before = _journal_count(box, "reason = 'rescue_ended'")
    box.run(f"systemctl restart --no-block {UNIT}", check=True)
    box.wait_until(
        lambda: _show(box, "ActiveState", RESCUE) == "active",
        600,
        f"{UNIT} to hit its start limit and OnFailure= to start {RESCUE}",
    )
    # systemd 252 keeps the last start's result (exit-code): the start limit shows in its log.
    assert _show(box, "ActiveState") == "failed", _unit_log(box)
    assert "Start request repeated too quickly" in _unit_log(box)
    rescue = _proc_status(box, int(_show(box, "MainPID", RESCUE)))
    assert rescue["Uid"].split()[0] != "0" and int(rescue["CapEff"], 16) == 0
    # Fixed while the rescue runs; its start limit from zero (the test's rescue time is
    # shorter than the unit's two minutes of start limit).
    box.run(f"mv {CONFIG}.good {CONFIG} && systemctl reset-failed {UNIT}", check=True)
    box.wait_until(
        lambda: _show(box, "ActiveState") == "active" and _main_pid(box) != 0,
        RESCUE_RUNTIME_S + START_S,
        f"{RESCUE}'s time limit to start {UNIT} again",
    )
    assert _show(box, "ActiveState", RESCUE) != "active", _unit_log(box, RESCUE)
    assert _show(box, "Result", RESCUE) == "timeout", _unit_log(box, RESCUE)
    _wait_relays_locked(box)
    box.wait_until(
        lambda: _journal_count(box, "reason = 'rescue_ended'") > ended_before,
        START_S,
        "the daemon to journal the end of Super Mode",
    )
    assert box.run(f"test -e {STATE_DIR}/rescue-log.jsonl").returncode != 0
    box.run(f"rm -f {RESCUE_DROP_IN} && systemctl daemon-reload", check=True)


def test_apt_remove_keeps_configuration_and_state(box: Container) -> None:
    result = box.run("apt-get remove -y -q door-gateway", timeout=300)
    assert result.returncode == 0, "apt remove failed\n" + result.explain()
    assert _show(box, "ActiveState") in ("inactive", "failed", ""), "the service still runs"
    assert _show(box, "ActiveState", RESCUE) in ("inactive", "failed", ""), "the rescue runs"
    kept = box.run(f"test -f {CONFIG} && test -f {STATE_DIR}/gateway.db")
    assert kept.returncode == 0, "apt remove deleted the configuration or the database"


def test_apt_purge_removes_configuration_and_state(box: Container) -> None:
    result = box.run("apt-get purge -y -q door-gateway", timeout=300)
    assert result.returncode == 0, "apt purge failed\n" + result.explain()
    left = box.run(f"ls -d /etc/door-gateway {STATE_DIR} 2>/dev/null").stdout.strip()
    assert left == "", f"apt purge left {left}"
