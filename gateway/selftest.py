"""`door-gateway selftest`: the checks an installer wants after installing, one line each.

Each check is a small function of the settings and the seams in `System` (paths, the
clock, how to look at GPIO lines, reach a host, ask whether the clock is synchronised,
measure free space), so tests hand it fakes. A check answers ok, warn (works, but look at
it) or fail (something will not work), and for anything but ok what to do about it. The
checks change nothing: no line is claimed (a relay's line would be driven), no file is
created but a temporary one in the state directory, the database is opened by SQLite
only and its write test is rolled back. `POST /api/v1/selftest` runs the same checks in
the daemon (docs/operations.md, "Self-test").
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.clock import Clock, SystemClock
from gateway.config.view import ConfigCheck, check_file
from gateway.host import kernel_clock_synchronised
from gateway.hw.factory import BACKENDS, SIMULATED_SERIAL_PORTS, Hardware
from gateway.hw.gpio_info import LineReport, read_lines
from gateway.hw.pcsc import match_reader
from gateway.notify.smtp import DEFAULT_PORTS as DEFAULT_SMTP_PORTS
from gateway.settings import DoorSettings, ReaderSettings, Settings
from gateway.store.db import explain, schema_version
from gateway.store.schema import LATEST_VERSION
from gateway.tlscert import TlsError, server_context, tls_files

Status = Literal["ok", "warn", "fail"]
DB_FILE = "gateway.db"
MIB = 1024 * 1024
DISK_FAIL_BELOW = 64 * MIB  # the journal and its write-ahead log need room to grow
DISK_WARN_BELOW = 512 * MIB
UPSTREAM_CONNECT_S = 5.0
EARLIEST_SANE_YEAR = 2025  # a Pi without an RTC boots with the last saved or an old time
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
# USB vendor ids of the NFC readers nfcpy drives (Sony, NXP, ACS, SCM, Arygon, ...).
NFC_USB_VENDORS = frozenset({"054c", "04cc", "072f", "04e6", "1fd3", "04b8"})


@dataclass(frozen=True)
class CheckResult:
    """One line of the self-test."""

    name: str
    status: Status
    detail: str  # what was found
    action: str = ""  # what to do about a warning or a failure

    def line(self) -> str:
        """`fail  state directory: /var/lib/x is not writable -> chown ...`."""
        text = f"{self.status:<5} {self.name}: {self.detail}"
        return f"{text}\n      -> {self.action}" if self.action else text

    @property
    def id(self) -> str:
        """A stable identifier for scripts: "state_directory", "reader.front-wiegand",
        "relay.front"."""
        kind, _, named = self.name.partition(" ")
        if kind in ("reader", "relay") and named:
            return f"{kind}.{named}"
        return self.name.lower().replace(" ", "_")

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "action": self.action,
        }


@dataclass(frozen=True)
class SelftestReport:
    """Every check's result, when and by whom it ran."""

    checks: tuple[CheckResult, ...]
    time: float
    by: str = ""

    @property
    def failed(self) -> bool:
        return any(check.status == "fail" for check in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in ("ok", "warn", "fail")}

    def summary(self) -> str:
        """ "13 ok, 1 warning, 0 failures"."""
        counts = self.counts()
        warnings = "1 warning" if counts["warn"] == 1 else f"{counts['warn']} warnings"
        failures = "1 failure" if counts["fail"] == 1 else f"{counts['fail']} failures"
        return f"{counts['ok']} ok, {warnings}, {failures}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "time": self.time,
            "by": self.by,
            "counts": self.counts(),
            "checks": [check.as_dict() for check in self.checks],
        }


def _connect(host: str, port: int, timeout: float) -> None:
    socket.create_connection((host, port), timeout=timeout).close()


def _open_hardware(settings: Settings) -> Hardware:
    return BACKENDS[settings.hardware.backend]()


def _pcsc_reader_names(reader: ReaderSettings) -> list[str]:
    """What pcscd lists now (PC/SC allows any number of clients: the daemon's included)."""
    return BACKENDS["gpio"]().pcsc(reader).reader_names()


def _free_bytes(path: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.free, usage.total


@dataclass(frozen=True)
class System:
    """What the checks look at outside the settings: each a seam tests replace."""

    clock: Clock = field(default_factory=SystemClock)
    gpio_lines: Callable[[Sequence[int]], LineReport] = read_lines
    connect: Callable[[str, int, float], None] = _connect
    clock_synchronised: Callable[[], bool | None] = kernel_clock_synchronised
    free_bytes: Callable[[Path], tuple[int, int]] = _free_bytes  # (free, total)
    dev: Path = Path("/dev")
    usb_devices: Path = Path("/sys/bus/usb/devices")
    pcscd_socket: Path = PCSCD_SOCKET
    euid: Callable[[], int] = os.geteuid
    # The hardware the door inputs are read on (and `--click` drives): the settings' own.
    open_hardware: Callable[[Settings], Hardware] = _open_hardware
    sleep: Callable[[float], None] = time.sleep
    pcsc_reader_names: Callable[[ReaderSettings], list[str]] = _pcsc_reader_names
    # In the running daemon the configured lines are its own; from the CLI they are free
    # unless the daemon (or something else) holds them.
    in_daemon: bool = False


CLICK_S = 1.0  # how long `--click` holds each relay at its unlocked level


def run_selftest(
    settings: Settings, system: System, by: str = "", click: bool = False
) -> SelftestReport:
    """Every check, in the order an installer would fix things; with `click`, each door's
    relay is also pulsed (it unlocks the door: only when asked, from the command line)."""
    state_dir = Path(settings.device.state_dir)
    checks = [
        configuration_check(check_file(settings.path)),
        user_check(system),
        state_dir_check(state_dir),
        database_check(state_dir / DB_FILE),
        # Read-only reads leave the -wal and -shm files behind; the journal check's
        # read-write connection, closed last, removes them again.
        forwarding_check(settings, state_dir / DB_FILE),
        journal_check(state_dir / DB_FILE),
        gpio_check(settings, system),
        door_inputs_check(settings, system),
        *(reader_check(reader, settings.simulated, system) for reader in settings.readers),
        https_check(settings),
        upstream_check(settings, system),
        *mail_checks(settings, system),
        *([mqtt_check(settings, system)] if settings.mqtt.url else []),
        clock_check(system),
        disk_check(state_dir, system),
    ]
    if click:
        checks += relay_click_checks(settings, system)
    return SelftestReport(tuple(checks), system.clock.time(), by)


# -- configuration and storage ----------------------------------------------------------


def configuration_check(result: ConfigCheck) -> CheckResult:
    """The file as `check-config` sees it (read again from disk)."""
    name = "configuration"
    if not result.valid:
        count = len(result.errors)
        detail = f"{count} error{'' if count == 1 else 's'} in {result.path}: " + "; ".join(
            result.errors
        )
        return CheckResult(name, "fail", detail, f"door-gateway check-config {result.path}")
    if result.warnings:
        detail = f"{result.path} is valid, with warnings: " + " ".join(
            w.removeprefix("warning: ") for w in result.warnings
        )
        return CheckResult(name, "warn", detail, "read the warnings; change the file if unsure")
    return CheckResult(name, "ok", f"{result.path} is valid")


def user_check(system: System) -> CheckResult:
    """Not root: the daemon needs no more than its service user (least privilege), and a
    check run as root says nothing about what that user may open."""
    name = "user"
    if system.euid() == 0:
        where = "the daemon" if system.in_daemon else "this command"
        return CheckResult(
            name,
            "warn",
            f"{where} runs as root: what root may open says nothing about the service user",
            "run as the service user (sudo -u door-gateway ...; the unit's User=)",
        )
    return CheckResult(name, "ok", f"runs as uid {system.euid()}, not root")


def state_dir_check(state_dir: Path) -> CheckResult:
    """The state directory exists (or can be made), is private and writable."""
    name = "state directory"
    if not state_dir.exists():
        parent = next((p for p in state_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK | os.X_OK):
            return CheckResult(name, "ok", f"{state_dir} is created (mode 0700) at the first start")
        return CheckResult(
            name,
            "fail",
            f"{state_dir} does not exist and {parent} is not writable",
            f"create it for the service user: install -d -m 700 -o door-gateway {state_dir}",
        )
    if not state_dir.is_dir():
        return CheckResult(
            name, "fail", f"{state_dir} is not a directory", "set [device] state_dir to a directory"
        )
    problem = _write_problem(state_dir)
    if problem:
        return CheckResult(
            name,
            "fail",
            f"{state_dir} is not writable ({problem})",
            f"make the service user its owner (chown -R door-gateway: {state_dir}) and check "
            "that the file system is not read-only",
        )
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if mode & 0o077:
        return CheckResult(
            name,
            "warn",
            f"{state_dir} is open to group or others (mode {mode:04o})",
            f"chmod 700 {state_dir}",
        )
    return CheckResult(name, "ok", f"{state_dir} is writable and private")


def _write_problem(directory: Path) -> str:
    """ "" when a file can be made and removed in `directory`, else why not."""
    try:
        fd, name = tempfile.mkstemp(prefix=".selftest-", dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(name)
    return ""


def database_check(db_path: Path) -> CheckResult:
    """The database reads back whole (SQLite's integrity_check: every page, every index
    against its table) and its schema is known."""
    name = "database"
    if not db_path.exists():
        return CheckResult(name, "ok", f"{db_path} is created at the first start")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            answer = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
            version = schema_version(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult(
            name,
            "fail",
            f"{db_path}: {explain(exc, db_path)}",
            'see docs/operations.md, "A full disk" and the table of start-up lines',
        )
    if answer != ["ok"]:
        return CheckResult(
            name,
            "fail",
            f"{db_path} is damaged: {'; '.join(str(a) for a in answer[:3])}",
            "stop the service, keep a copy of the file, restore a backup (docs/operations.md)",
        )
    if version > LATEST_VERSION:
        return CheckResult(
            name,
            "fail",
            f"{db_path} has schema version {version}; this door-gateway knows up to "
            f"{LATEST_VERSION}",
            "upgrade door-gateway or restore a backup",
        )
    note = (
        ""
        if version == LATEST_VERSION
        else f"; it is migrated to {LATEST_VERSION} at the next start"
    )
    return CheckResult(name, "ok", f"{db_path} is intact (schema version {version}{note})")


def journal_check(db_path: Path) -> CheckResult:
    """The journal can be written: a write transaction is opened, then rolled back."""
    name = "journal"
    if not db_path.exists():
        return CheckResult(name, "ok", "the journal is created with the database")
    try:
        conn = sqlite3.connect(
            f"file:{db_path}?mode=rw", uri=True, timeout=2.0, isolation_level=None
        )
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return CheckResult(
                name,
                "warn",
                f"{db_path} was locked by another writer for 2 s",
                "run the self-test again; if it stays locked, look for a long import",
            )
        return CheckResult(
            name,
            "fail",
            f"{db_path} cannot be written: {explain(exc, db_path)}",
            "make the service user the owner of the state directory and its files",
        )
    except sqlite3.Error as exc:
        return CheckResult(
            name, "fail", f"{db_path}: {explain(exc, db_path)}", "see the database check"
        )
    return CheckResult(name, "ok", f"{db_path} accepts writes")


def forwarding_check(settings: Settings, db_path: Path) -> CheckResult:
    """Each active agent's backlog: journal events it has not acknowledged yet."""
    name = "forwarding"
    if not db_path.exists():
        return CheckResult(name, "ok", "no agent registered yet")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            agents = conn.execute(
                "SELECT public_url, cursor FROM agents WHERE active = 1 ORDER BY id"
            ).fetchall()
            backlogs = [
                (url, conn.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (cursor,)))
                for url, cursor in agents
            ]
            waiting = [(str(url), int(rows.fetchone()[0])) for url, rows in backlogs]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return CheckResult(
            name, "fail", f"{db_path}: {explain(exc, db_path)}", "see the database check"
        )
    if not waiting:
        return CheckResult(name, "ok", "no agent registered")
    text = ", ".join(f"{url}: {count} waiting" for url, count in waiting)
    limit = settings.forwarding.backlog_alarm
    if any(count > limit for _, count in waiting):
        return CheckResult(
            name,
            "warn",
            f"backlog above {limit} events: {text}",
            "check that the agent is up and reachable (the status page's forwarding "
            "section shows its last error); events wait in the journal, none is lost "
            "until [journal] max_events is reached",
        )
    return CheckResult(name, "ok", text)


def https_check(settings: Settings) -> CheckResult:
    """`[web] tls`: the certificate the daemon serves and its fingerprint, which the
    installer compares with what the browser shows."""
    name = "HTTPS"
    if settings.web_tls == "off":
        where = "on a LAN address (allow_plain_http)" if settings.web.allow_plain_http else ""
        if where:
            return CheckResult(
                name,
                "warn",
                f"plain HTTP {where}: passwords cross the network in clear",
                'set [web] tls = "auto" unless a TLS proxy on this machine fronts it',
            )
        return CheckResult(name, "ok", f"plain HTTP on loopback ({settings.web.listen})")
    try:
        files = tls_files(settings, create=False)
        if files is not None:
            server_context(files)
    except TlsError as exc:
        if settings.web_tls == "auto" and "first start" in str(exc):
            return CheckResult(name, "ok", f"self-signed certificate: {exc}")
        return CheckResult(
            name,
            "fail",
            str(exc),
            "fix the files (readable by the service user, the key matching the certificate)",
        )
    assert files is not None
    kind = "self-signed certificate" if files.self_signed else "certificate"
    return CheckResult(name, "ok", f"{kind} {files.cert}, SHA-256 fingerprint {files.fingerprint}")


# -- hardware ----------------------------------------------------------------------------


def configured_pins(settings: Settings) -> list[int]:
    """Every BCM pin the file wires, in ascending order."""
    pins: set[int | None] = set()
    for door in settings.doors:
        pins |= {door.relay_pin, door.contact_pin, door.rex_pin, door.doorbell_pin}
        pins |= {door.tamper_pin, door.alarm_pin, door.second_relay_pin}
    for reader in settings.readers:
        pins |= {reader.d0_pin, reader.d1_pin, reader.led_green_pin, reader.led_red_pin}
        pins |= {reader.beeper_pin, *reader.row_pins, *reader.col_pins}
    pins |= {floor.pin for floor in settings.floors}  # the lift's floor relays
    return sorted(pin for pin in pins if pin is not None)


def gpio_check(settings: Settings, system: System) -> CheckResult:
    """The header's GPIO chip opens and no configured line is taken by something else."""
    name = "GPIO"
    pins = configured_pins(settings)
    if settings.simulated:
        return CheckResult(name, "ok", f"simulated: {len(pins)} mock lines")
    if not pins:
        return CheckResult(name, "ok", "no GPIO line is configured")
    report = system.gpio_lines(pins)
    if report.problem:
        action = (
            "add the service user to the gpio group (usermod -aG gpio door-gateway)"
            if "permission" in report.problem
            else 'run on a Raspberry Pi, or set [hardware] backend = "simulated" to try it'
        )
        return CheckResult(name, "fail", report.problem, action)
    if not report.used:
        return CheckResult(name, "ok", f"{len(pins)} lines free on {report.chip}")
    users = ", ".join(f"GPIO{pin} by {user!r}" for pin, user in sorted(report.used.items()))
    if system.in_daemon:
        return CheckResult(name, "ok", f"{len(pins)} lines on {report.chip}, held: {users}")
    return CheckResult(
        name,
        "warn",
        f"lines in use: {users}",
        "if door-gateway is running, that is its own; otherwise stop the program or disable "
        "the overlay (dtoverlay in /boot/firmware/config.txt) that holds them",
    )


def _door_inputs(door: DoorSettings) -> list[tuple[str, int, bool, tuple[str, str]]]:
    """(what, pin, active_low, (inactive word, active word)) of a door's contact and exit
    button, as the door controller reads them."""
    inputs = []
    if door.contact_pin is not None:
        words = ("closed", "open")
        inputs.append(("contact", door.contact_pin, not door.contact_normally_closed, words))
    if door.rex_pin is not None:
        inputs.append(("exit button", door.rex_pin, True, ("released", "pressed")))
    return inputs


def door_inputs_check(settings: Settings, system: System) -> CheckResult:
    """Each door contact and exit button can be claimed as an input and read (an input
    drives nothing). In the daemon its own door controllers read them: not claimed again."""
    name = "door inputs"
    wired = [(door.name, *i) for door in settings.doors for i in _door_inputs(door)]
    if not wired:
        return CheckResult(name, "ok", "no door contact or exit button is wired")
    if system.in_daemon:
        return CheckResult(name, "ok", f"{len(wired)} inputs, read by the running doors")
    readings: list[str] = []
    stuck: list[str] = []
    hardware = system.open_hardware(settings)
    try:
        for door, what, pin, active_low, words in wired:
            try:
                line = hardware.input(pin, active_low)
                try:
                    active = line.active
                finally:
                    line.close()
            except Exception as exc:  # gpiozero/lgpio raise their own kinds
                return CheckResult(
                    name,
                    "fail",
                    f"cannot read GPIO{pin} ({what} of {door}): {exc}",
                    "if door-gateway is running it holds the line: run the self-test from the "
                    "status page, or stop the service first",
                )
            readings.append(f"{door} {what} {words[active]} (GPIO{pin})")
            if what == "exit button" and active:
                stuck.append(f"{door} exit button")
    finally:
        hardware.close()
    if stuck:
        return CheckResult(
            name,
            "warn",
            "; ".join(readings),
            f"{', '.join(stuck)} reads pressed: nobody should be pressing it; check for a "
            "stuck button or a normally-closed button wired where normally-open is expected",
        )
    return CheckResult(name, "ok", "; ".join(readings))


def relay_click_checks(settings: Settings, system: System) -> list[CheckResult]:
    """`--click`: each door's relay to its unlocked level for `CLICK_S`, then locked again,
    one door at a time (listen for the click). The line must be free: while the daemon
    runs it holds every relay and this is refused (use the status page's pulse)."""
    results = []
    hardware = system.open_hardware(settings)
    try:
        for door in settings.doors:
            results.append(_click(door, hardware, system))
    finally:
        hardware.close()
    return results


def _click(door: DoorSettings, hardware: Hardware, system: System) -> CheckResult:
    name = f"relay {door.name}"
    if door.relay_pin is None:
        return CheckResult(name, "ok", "no relay wired: nothing to click")
    locked = door.lock_type == "fail_safe"  # a maglock's relay holds it locked energised
    try:
        relay = hardware.output(door.relay_pin, door.relay_active_high, initial=locked)
    except Exception as exc:
        return CheckResult(
            name,
            "fail",
            f"cannot drive GPIO{door.relay_pin}: {exc}",
            "if door-gateway is running it holds the relay: use the status page's Pulse "
            "button instead, or stop the service first",
        )
    try:
        relay.set(not locked)
        system.sleep(CLICK_S)
        clicked = relay.active != locked
    finally:
        relay.set(locked)
        relay.close()
    if not clicked:
        return CheckResult(name, "fail", f"GPIO{door.relay_pin} did not follow", "check the wiring")
    return CheckResult(
        name, "ok", f"GPIO{door.relay_pin} unlocked {CLICK_S:g} s, then locked: listen for it"
    )


def reader_check(reader: ReaderSettings, simulated: bool, system: System) -> CheckResult:
    """The reader's device is there: a serial port, pcscd, an NFC device."""
    name = f"reader {reader.name}"
    if reader.kind in ("wiegand", "wiegand_keypad", "matrix_keypad"):
        return CheckResult(name, "ok", f"{reader.kind} on GPIO (see the GPIO check)")
    if reader.kind == "serial":
        if simulated and reader.port in SIMULATED_SERIAL_PORTS:
            return CheckResult(name, "ok", "simulated serial port")
        return _serial_check(name, Path(reader.port))
    if simulated:
        return CheckResult(name, "ok", f"simulated {reader.kind} device")
    if reader.kind == "pcsc":
        return _pcscd_check(name, reader, system)
    return _nfc_check(name, reader.device, system)


def _serial_check(name: str, port: Path) -> CheckResult:
    try:
        mode = port.stat().st_mode
    except OSError:
        return CheckResult(
            name,
            "fail",
            f"serial port {port} not found",
            "plug the reader in; `ls -l /dev/serial/by-id/` names it, and a by-id path "
            "stays the same after a reboot",
        )
    if not stat.S_ISCHR(mode):
        return CheckResult(
            name,
            "fail",
            f"{port} is not a serial device",
            "set the reader's port to the device, e.g. /dev/ttyUSB0",
        )
    if not os.access(port, os.R_OK | os.W_OK):
        return CheckResult(
            name,
            "fail",
            f"no permission to open {port}",
            "add the service user to the dialout group (usermod -aG dialout door-gateway)",
        )
    return CheckResult(name, "ok", f"serial port {port} is present")


def _pcscd_check(name: str, reader: ReaderSettings, system: System) -> CheckResult:
    """pcscd answers on its socket, then lists a reader matching the reader's `device`."""
    path = system.pcscd_socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(path))
    except OSError as exc:
        return CheckResult(
            name,
            "fail",
            f"the PC/SC daemon does not answer on {path} ({exc.strerror or exc})",
            "apt install pcscd, then systemctl enable --now pcscd.socket",
        )
    try:
        names = system.pcsc_reader_names(reader)
    except Exception as exc:  # pyscard's own errors, or pyscard missing
        return CheckResult(
            name,
            "fail",
            f"the PC/SC daemon takes connections on {path} but does not answer ({exc})",
            "systemctl restart pcscd; journalctl -u pcscd says why it fails",
        )
    found = match_reader(names, reader.device)
    if found is None:
        wanted = f"matching {reader.device!r}" if reader.device else "at all"
        listed = ", ".join(repr(n) for n in names) or "none"
        return CheckResult(
            name,
            "fail",
            f"the PC/SC daemon lists no reader {wanted} (it lists: {listed})",
            "plug the reader in (`pcsc_scan` lists what pcscd sees) or correct the reader's device",
        )
    return CheckResult(name, "ok", f"the PC/SC daemon answers and lists {found!r}")


def _nfc_check(name: str, device: str, system: System) -> CheckResult:
    """An nfcpy device string: usb[:VID[:PID]], tty:NAME[:DRIVER] or udp[:...]."""
    kind, _, rest = device.partition(":")
    if kind == "tty":
        port = system.dev / f"tty{rest.split(':')[0]}"
        return (
            _serial_check(name, port)
            if rest
            else CheckResult(
                name, "fail", f"incomplete NFC device {device!r}", 'write it as "tty:AMA0:pn532"'
            )
        )
    if kind == "usb":
        wanted = rest.lower().split(":") if rest else []
        found = list(_usb_ids(system.usb_devices))
        match = [
            (v, p)
            for v, p in found
            if (wanted and v == wanted[0] and (len(wanted) < 2 or p == wanted[1]))
            or (not wanted and v in NFC_USB_VENDORS)
        ]
        if match:
            return CheckResult(
                name, "ok", f"USB NFC reader {match[0][0]}:{match[0][1]} is plugged in"
            )
        return CheckResult(
            name,
            "fail",
            f"no USB NFC reader matching {device!r}",
            "plug the reader in (`lsusb` lists it) or correct the reader's device",
        )
    if kind == "udp":
        return CheckResult(name, "ok", f"{device}: an NFC emulator over UDP, not checked")
    return CheckResult(
        name,
        "warn",
        f"cannot check NFC device {device!r}",
        'use "usb", "usb:VID:PID" or "tty:AMA0:pn532"',
    )


def _usb_ids(root: Path) -> Iterable[tuple[str, str]]:
    """(vendor, product) of every USB device sysfs lists."""
    for device in sorted(root.glob("*")):
        try:
            vendor = (device / "idVendor").read_text().strip().lower()
            product = (device / "idProduct").read_text().strip().lower()
        except OSError:
            continue
        yield vendor, product


# -- network, clock, disk ----------------------------------------------------------------


def upstream_check(settings: Settings, system: System) -> CheckResult:
    """The verify server's host takes a TCP connection (nothing is asked of it)."""
    name = "upstream"
    url = settings.upstream.url
    if not url:
        return CheckResult(name, "ok", "not configured: decisions from the local rules only")
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    timeout = min(settings.upstream.timeout_s, UPSTREAM_CONNECT_S)
    try:
        system.connect(host, port, timeout)
    except OSError as exc:
        return CheckResult(
            name,
            "fail",
            f"cannot reach {host}:{port} ({exc.strerror or exc})",
            "check the network cable, DNS, the firewall and [upstream] url; until it answers, "
            "unknown credentials follow each door's offline_policy",
        )
    return CheckResult(name, "ok", f"{host}:{port} takes connections")


def mail_checks(settings: Settings, system: System) -> list[CheckResult]:
    """With notifications on: the mail server takes a TCP connection (nothing is sent)."""
    if not settings.notifications.enabled:
        return []
    smtp = settings.smtp
    port = smtp.port or DEFAULT_SMTP_PORTS[smtp.tls]
    try:
        system.connect(smtp.host, port, min(smtp.timeout_s, UPSTREAM_CONNECT_S))
    except OSError as exc:
        return [
            CheckResult(
                "mail",
                "fail",
                f"cannot reach {smtp.host}:{port} ({exc.strerror or exc})",
                "check [smtp] host and port, DNS and the firewall; until it answers, mails wait "
                "in the journal (none is lost)",
            )
        ]
    return [CheckResult("mail", "ok", f"{smtp.host}:{port} takes connections")]


def mqtt_check(settings: Settings, system: System) -> CheckResult:
    """The MQTT broker's host takes a TCP connection (nothing is published). A warning, not
    a failure: the doors work without the broker, the journal keeps what it missed."""
    name = "mqtt"
    parts = urlsplit(settings.mqtt.url)
    host = parts.hostname or ""
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        system.connect(host, port, UPSTREAM_CONNECT_S)
    except OSError as exc:
        return CheckResult(
            name,
            "warn",
            f"cannot reach the broker {host}:{port} ({exc.strerror or exc})",
            "check the broker, the network and [mqtt] url; until it answers, events wait in "
            "the journal and are published when it is back",
        )
    return CheckResult(name, "ok", f"broker {host}:{port} takes connections")


def clock_check(system: System) -> CheckResult:
    """The wall clock is plausible and synchronised (schedules and the journal read it)."""
    name = "clock"
    now = system.clock.time()
    year = time.gmtime(now).tm_year
    if year < EARLIEST_SANE_YEAR:
        return CheckResult(
            name,
            "fail",
            f"the clock says {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC",
            "connect the network so NTP can set it (timedatectl set-ntp true), or fit an RTC",
        )
    synchronised = system.clock_synchronised()
    if synchronised is None:
        return CheckResult(
            name,
            "warn",
            "cannot tell whether the clock is synchronised",
            "check with `timedatectl status` or `chronyc tracking`",
        )
    if not synchronised:
        return CheckResult(
            name,
            "warn",
            "the kernel clock is not synchronised",
            "enable an NTP client (timedatectl set-ntp true) and check that an NTP server "
            "is reachable",
        )
    return CheckResult(name, "ok", "synchronised (NTP)")


def disk_check(state_dir: Path, system: System) -> CheckResult:
    """Room for the journal to grow on the state directory's file system."""
    name = "disk"
    where = next((p for p in (state_dir, *state_dir.parents) if p.exists()), Path("/"))
    try:
        free, total = system.free_bytes(where)
    except OSError as exc:
        return CheckResult(
            name,
            "fail",
            f"cannot read the free space of {where} ({exc.strerror})",
            "check the storage",
        )
    text = f"{free // MIB} MiB free of {total // MIB} MiB on {where}"
    if free < DISK_FAIL_BELOW:
        return CheckResult(name, "fail", text, f"free space: at least {DISK_WARN_BELOW // MIB} MiB")
    if free < DISK_WARN_BELOW:
        return CheckResult(name, "warn", text, f"free space: at least {DISK_WARN_BELOW // MIB} MiB")
    return CheckResult(name, "ok", text)


def print_report(report: SelftestReport, out: Callable[[str], None] = print) -> int:
    """One line per check (and what to do), a closing count; the exit status: 1 on a
    failure, else 0."""
    for check in report.checks:
        out(check.line())
    out(report.summary())
    return 1 if report.failed else 0
