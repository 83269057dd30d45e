"""The image layer's own steps (image/scripts, image/files) on a scratch root, no image built.

The console message is fed the daemon's real one-time-password line (made by
`ensure_initial_admin` itself), so a change of that wording that the console would no
longer find fails here, not on an installer's first boot.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.accounts import ensure_initial_admin
from gateway.clock import SteppableClock
from gateway.config import load_settings
from gateway.model import Event

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "image"
FINGERPRINT = ":".join(f"{n:02X}" for n in range(0xA0, 0xC0))


class FakeTechnicians:
    """A technician store with no accounts yet: the first start of a real gateway."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}

    def list_technicians(self) -> list[object]:
        return []

    def set_technician_password(
        self, name: str, password: str, level: str, must_change: bool = False
    ) -> None:
        self.passwords[name] = password


def first_start_log() -> tuple[str, str]:
    """What the daemon prints at its first start on a Pi, and the password in it."""
    settings = load_settings(REPO / "config" / "gateway.toml")
    store, out, events = FakeTechnicians(), io.StringIO(), list[Event]()
    assert ensure_initial_admin(settings, store, events.append, SteppableClock(), out)  # type: ignore[arg-type]
    return out.getvalue(), store.passwords["admin"]


def fake_tools(bin_dir: Path, daemon_log: Path, running: bool) -> None:
    """journalctl, systemctl and hostname as the console script sees them on a Pi."""
    bin_dir.mkdir()
    active, failed = (0, 1) if running else (3, 0)
    tools = {
        "journalctl": f'cat "{daemon_log}"',
        "systemctl": f'case "$1" in is-active) exit {active};; is-failed) exit {failed};; '
        "is-enabled) echo disabled; exit 1;; esac",
        "hostname": 'if [ "${1:-}" = -I ]; then echo "192.0.2.10 fe80::1"; else echo doorpi; fi',
    }
    for name, body in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)


def run_console(tmp_path: Path, daemon_log: str, running: bool = True) -> tuple[str, str]:
    """Run door-gateway-console.sh; return what it printed and the login prompt's text."""
    log_file = tmp_path / "daemon.log"
    log_file.write_text(daemon_log)
    fake_tools(tmp_path / "bin", log_file, running)
    config = tmp_path / "gateway.toml"
    shutil.copy(REPO / "config" / "gateway.toml", config)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "DOORGW_CONFIG": str(config),
        "DOORGW_STATE_DIR": str(tmp_path / "state"),
        "DOORGW_RUN_DIR": str(run_dir),
        "DOORGW_CONSOLE_WAIT_S": "3",
    }
    script = IMAGE / "files" / "door-gateway-console.sh"
    result = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    issue = run_dir / "issue.d" / "50-door-gateway.issue"
    assert issue.stat().st_mode & 0o077 == 0, "the login prompt's text is root's only"
    return result.stdout, issue.read_text()


def test_first_boot_console_shows_the_one_time_password_and_fingerprint(
    tmp_path: Path,
) -> None:
    line, password = first_start_log()
    https = (  # as the daemon logs it at start with [web] tls = "auto"
        "HTTPS with self-signed certificate /var/lib/door-gateway/https-cert.pem "
        f"(made now, SHA-256 fingerprint {FINGERPRINT})\n"
    )
    log = f"{line}{https}"
    console, issue = run_console(tmp_path, log)
    assert console == issue
    assert f"one-time password:  {password}\n" in console
    assert FINGERPRINT in console
    assert "https://192.0.2.10:8080/" in console  # the packaged example's port
    assert "SSH is disabled." in console


def test_a_later_boot_says_where_the_password_went(tmp_path: Path) -> None:
    console, _ = run_console(tmp_path, "door-gateway: started\n")
    assert "one-time password was shown at the first boot only" in console
    assert "door-gateway passwd admin" in console
    assert "fingerprint" not in console.lower()  # none known: no empty line pretending


def test_a_gateway_that_cannot_start_is_said_so_on_the_console(tmp_path: Path) -> None:
    console, _ = run_console(tmp_path, "cannot start: no GPIO chip\n", running=False)
    assert "The gateway is NOT running" in console
    assert "one-time password is made at the gateway's first start" in console
    assert "restart door-gateway-console" in console


def test_configure_gateway_changes_only_the_web_listen_line(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "door-gateway"
    etc.mkdir(parents=True)
    original = (REPO / "config" / "gateway.toml").read_text()
    (etc / "gateway.toml").write_text(original)
    script = IMAGE / "scripts" / "configure-gateway.sh"
    subprocess.run(["bash", str(script), str(tmp_path), "0.0.0.0:8443"], check=True, timeout=30)
    changed = (etc / "gateway.toml").read_text()
    diff = [
        (a, b) for a, b in zip(original.splitlines(), changed.splitlines(), strict=True) if a != b
    ]
    assert diff == [('listen = "127.0.0.1:8080"', 'listen = "0.0.0.0:8443"')]
    settings = load_settings(etc / "gateway.toml")
    assert settings.web.listen == "0.0.0.0:8443"

    refused = subprocess.run(
        ["bash", str(script), str(tmp_path), "0.0.0.0:8443; rm -rf /"], capture_output=True
    )
    assert refused.returncode != 0 and (etc / "gateway.toml").read_text() == changed


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="needs systemctl (--root)")
def test_ssh_is_off_unless_asked_for(tmp_path: Path) -> None:
    units = tmp_path / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / "ssh.service").write_text(
        "[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n"
    )
    (units / "ssh.socket").write_text(
        "[Socket]\nListenStream=22\n[Install]\nWantedBy=sockets.target\n"
    )
    wants = tmp_path / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    os.symlink("/lib/systemd/system/ssh.service", wants / "ssh.service")  # as the base image
    script = IMAGE / "scripts" / "ssh-default.sh"

    subprocess.run(["bash", str(script), str(tmp_path), "n"], check=True, timeout=30)
    assert not (wants / "ssh.service").exists()
    subprocess.run(["bash", str(script), str(tmp_path), "y"], check=True, timeout=30)
    assert (wants / "ssh.service").is_symlink()


def test_the_image_releases_gpio_lines_of_a_dead_process_once(tmp_path: Path) -> None:
    boot = tmp_path / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text("[all]\narm_64bit=1\n")
    script = IMAGE / "scripts" / "gpio-safety.sh"
    for _ in range(2):  # a layer applied twice adds the line once
        subprocess.run(["bash", str(script), str(tmp_path)], check=True, timeout=30)
    lines = (boot / "config.txt").read_text().splitlines()
    assert lines[:2] == ["[all]", "arm_64bit=1"]
    assert lines.count("dtparam=strict_gpiod") == 1


def test_the_layer_declares_every_option_the_config_and_its_hook_use() -> None:
    layer = (IMAGE / "rpi-image-gen" / "layer" / "door-gateway.yaml").read_text()
    config = (IMAGE / "rpi-image-gen" / "config" / "door-gateway.yaml").read_text()
    declared = set(re.findall(r"^# X-Env-Var-(\w+):", layer, re.MULTILINE))
    section = config.split("\ndoorgw:\n", 1)[1]
    configured = set(re.findall(r"^  (\w+):", section, re.MULTILINE))
    used = set(re.findall(r"IGconf_doorgw_(\w+)", layer)) | set(
        re.findall(r"igconf isy doorgw_(\w+)", layer)
    )
    assert configured <= declared and used <= declared
    assert "customize.sh" in layer and "X-Env-VarPrefix: doorgw" in layer
    assert re.search(r"^  app: door-gateway$", config, re.MULTILINE)
    assert "X-Env-Layer-Name: door-gateway" in layer


@pytest.mark.skipif(shutil.which("systemd-escape") is None, reason="needs systemd-escape")
def test_read_only_root_never_runs_the_gateway_without_its_state_partition(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    (root / "usr" / "local" / "lib" / "door-gateway-image").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    installed = tmp_path / "apt.log"
    chroot = bin_dir / "chroot"  # runs the command on the host, apt-get only recorded
    chroot.write_text(
        "#!/bin/sh\nshift\n"
        f'if [ "$1" = apt-get ]; then echo "$*" >>"{installed}"; exit 0; fi\nexec "$@"\n'
    )
    chroot.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin:/usr/sbin:/sbin"}
    script = IMAGE / "scripts" / "readonly-root.sh"
    subprocess.run(["bash", str(script), str(root)], check=True, env=env, timeout=30)

    assert "install -y -q overlayroot" in installed.read_text()
    units = root / "etc" / "systemd" / "system"
    mount = (units / "var-lib-door\\x2dgateway.mount").read_text()
    assert "What=/dev/disk/by-label/DGSTATE" in mount
    assert "Where=/var/lib/door-gateway" in mount
    assert "Options=noatime,nodev,nosuid,noexec" in mount
    drop_in = units / "door-gateway.service.d" / "50-state-partition.conf"
    assert "RequiresMountsFor=/var/lib/door-gateway" in drop_in.read_text()
    maker = (units / "door-gateway-state-partition.service").read_text()
    assert "Before=var-lib-door\\x2dgateway.mount door-gateway.service" in maker
    # the overlay starts only once the first boot has made the partition
    assert not (root / "etc" / "overlayroot.local.conf").exists()
    pending = (root / "etc" / "overlayroot.local.conf.pending").read_text()
    assert pending.strip() == 'overlayroot="tmpfs:recurse=0"'
    journald = root / "etc" / "systemd" / "journald.conf.d" / "50-door-gateway-readonly.conf"
    assert "Storage=volatile" in journald.read_text()
