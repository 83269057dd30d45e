"""`offline_policy = "grant"` opens a door to any credential the cache does not know once
the upstream server is unreachable: pulling the network cable is enough. The
installer is told by `check-config` and the daemon's log, the status shows it, the
docs say it (docs/upstream.md)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import aiohttp

from gateway.app import Gateway
from tests.daemon.conftest import start_daemon
from tests.fakes import ManualClock
from tests.security.test_reads import headers_of
from tests.web.conftest import REPO, SIMULATE, Client, settings_for

BACK_DENIES = 'offline_policy = "deny"\ncontact_pin = 20'
GRANT_BACK = (BACK_DENIES, BACK_DENIES.replace("deny", "grant"))
UPSTREAM = ('url = ""', 'url = "https://access.example.com/verify?card={Card}"')


def config_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """config/simulate.toml with text replaced."""
    text = SIMULATE.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`door-gateway check-config PATH`, as an installer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_check_config_warns_about_a_door_that_opens_offline(tmp_path: Path) -> None:
    done = check_config(config_with(tmp_path, GRANT_BACK, UPSTREAM))
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout
    (warning,) = done.stderr.splitlines()
    assert warning.startswith('warning: door "back": offline_policy = "grant"')
    assert "opens this door to ANY card, PIN or QR code" in warning
    assert "upstream server is unreachable" in warning


def test_the_warning_holds_while_the_upstream_is_off(tmp_path: Path) -> None:
    """No [upstream] url: the policy does nothing today, and opens the door the day one
    is set: still worth a line."""
    done = check_config(config_with(tmp_path, GRANT_BACK))
    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.splitlines()
    assert warning.startswith('warning: door "back": offline_policy = "grant"')
    assert "[upstream] url" in warning


def test_the_daemon_logs_it_at_every_start(tmp_path: Path) -> None:
    """The service log (journalctl) says it too: a file edited after check-config ran."""
    daemon = start_daemon(tmp_path / "state", config_with(tmp_path, GRANT_BACK))
    try:
        assert 'WARNING gateway: door "back": offline_policy = "grant" opens' in daemon.log()
    finally:
        daemon.stop()


def test_deny_is_silent(tmp_path: Path) -> None:
    done = check_config(config_with(tmp_path, UPSTREAM))
    assert done.returncode == 0 and done.stderr == "", done.stderr


async def test_the_status_shows_the_policy(tmp_path: Path) -> None:
    """Per door to every role (door states are for everyone), and the doors that open
    offline in the upstream part (`terminal`)."""
    settings = settings_for(tmp_path / "state")
    doors = tuple(
        dataclasses.replace(door, offline_policy="grant") if door.name == "back" else door
        for door in settings.doors
    )
    clock = ManualClock()
    gateway = Gateway(dataclasses.replace(settings, doors=doors), clock=clock)
    await gateway.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(http, gateway, clock)
            for role in ("PERSONALUSER", "SUPERADMIN"):
                headers = await headers_of(client, role)
                _, body, _ = await client.call("GET", "/api/v1/status", headers=headers)
                assert body["doors"]["back"]["offline_policy"] == "grant", role
                assert body["doors"]["front"]["offline_policy"] == "deny", role
            assert body["upstream"]["offline_grant_doors"] == ["back"]
    finally:
        await gateway.stop()
