"""Files and small leaks: private state on disk whatever the umask, a device key nobody else
may read, a `Server` header without versions, QR codes (bearer credentials) kept out of
events, logs and diagnostics, and passwords checked against common ones."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.model import User
from gateway.store.secrets import DEVICE_KEY_FILE, load_or_create_device_key
from gateway.upstream.antipassback import AntiPassbackNotifier
from gateway.upstream.template import VerifyRequest
from gateway.upstream.verify import VerifyClient
from tests.daemon.conftest import SIMULATE, free_port
from tests.fakes import ManualClock
from tests.test_cli import gpio_config
from tests.upstream.test_verify import settings as verify_settings
from tests.upstream.verify_fakes import FakeUpstream, closed_port, cred, reader
from tests.web.conftest import Client, settings_for

REPO = Path(__file__).resolve().parents[2]
DB_FILES = ("gateway.db", "gateway.db-wal", "gateway.db-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A service started with umask 002 (group-writable files), as some init setups do."""
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def command(
    *args: str, umask: int | None = None, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`door-gateway ARGS` in a subprocess (with `umask` set first, when given)."""
    argv = [sys.executable, "-m", "gateway", *args]
    if umask is not None:
        argv = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *argv]
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


# -- files ---------------------------------------------------------------------------------------


async def test_a_new_state_dir_and_database_are_private_whatever_the_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    state = tmp_path / "state"
    gateway = Gateway(settings_for(state), clock=ManualClock())
    await gateway.start()
    try:
        await gateway.recorder.flush()
        assert all((state / name).exists() for name in DB_FILES)
        assert mode(state) == 0o700
        # Nothing in it is open to group or others: database, WAL, shared memory, key, state,
        # and the folder of the OSDP readers' keys.
        assert {p.name: mode(p) for p in state.rglob("*")} == {
            p.name: 0o700 if p.is_dir() else 0o600 for p in state.rglob("*")
        }
    finally:
        await gateway.stop()


def test_the_cli_creates_the_database_private_too(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    state = tmp_path / "state"
    config.write_text(config.read_text().replace(f'"{tmp_path}"', f'"{state}"'))
    result = command("passwd", "admin", "--config", str(config), umask=0, stdin="Tr4m-Lantern-9\n")
    assert result.returncode == 0, result.stderr
    assert mode(state) == 0o700
    assert mode(state / "gateway.db") == mode(state / DEVICE_KEY_FILE) == 0o600


async def test_an_older_database_open_to_others_is_made_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading a gateway whose database a previous version left 0644 in a 0755 directory."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    sqlite3.connect(state / "gateway.db").close()
    os.chmod(state / "gateway.db", 0o644)
    caplog.set_level(logging.WARNING)
    gateway = Gateway(settings_for(state), clock=ManualClock())
    await gateway.start()
    try:
        await gateway.recorder.flush()
        assert [mode(state / name) for name in DB_FILES] == [0o600] * 3
        # The directory is the installer's: left as it is, with the command to fix it.
        assert mode(state) == 0o755
        assert f"chmod 700 {state}" in caplog.text
    finally:
        await gateway.stop()


@pytest.mark.parametrize("key_mode", [0o644, 0o604], ids=["everyone", "others"])
def test_the_daemon_refuses_a_device_key_others_may_read(tmp_path: Path, key_mode: int) -> None:
    state = tmp_path / "state"
    key = load_or_create_device_key(state)
    path = state / DEVICE_KEY_FILE
    os.chmod(path, key_mode)
    run = ["run", "--config", str(SIMULATE), "--state-dir", str(state)]
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *run, "--listen", f"127.0.0.1:{free_port()}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"the daemon started on a device key of mode {key_mode:o}:\n{output}")
    assert process.returncode == 1
    [line] = [line for line in output.splitlines() if "device.key" in line]
    assert "cannot start" in line and f"chmod 600 {path}" in line
    assert "Traceback" not in output
    assert path.read_bytes() == key and mode(path) == key_mode  # left for the admin to fix


def test_the_commands_refuse_a_group_readable_device_key(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    load_or_create_device_key(tmp_path)
    os.chmod(tmp_path / DEVICE_KEY_FILE, 0o640)
    result = command("users", "export", str(tmp_path / "u.csv"), "--config", str(config))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"chmod 600 {tmp_path / DEVICE_KEY_FILE}" in result.stderr
    assert not (tmp_path / "u.csv").exists()


# -- the Server header ------------------------------------------------------------------------


async def raw_exchange(client: Client, request: bytes) -> str:
    """Send `request` bytes as they are; the head of the answer."""
    host, port = client.gateway.settings.web.listen.rsplit(":", 1)
    reader_, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader_.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    return head.decode("latin-1")


def server_header(head: str) -> str:
    found = re.search(r"^server:\s*(.*?)\r$", head, re.IGNORECASE | re.MULTILINE)
    assert found is not None, head
    return found.group(1)


async def test_the_server_header_names_no_versions(client: Client) -> None:
    heads = [
        await raw_exchange(client, b"GET /login HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"),
        await raw_exchange(
            client, b"GET /api/v1/status HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
        ),
        # aiohttp answers a request it cannot parse itself, before any route or middleware.
        await raw_exchange(client, b"GET / HTTP/1.1\r\nHost: gw\r\nBad Header\r\n\r\n"),
        await raw_exchange(client, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    ]
    assert [head.split(" ", 2)[1] for head in heads] == ["200", "401", "400", "400"]
    for head in heads:
        shown = server_header(head)
        assert shown == "door-gateway", head
        assert not re.search(r"\d", shown)


# -- QR codes are bearer credentials ------------------------------------------------------------

SECRET_QR = "VISITOR-7Q4XK2-SECRET"
OTHER_QR = "VISITOR-9ZLM31-SECRET"
USER_QR = "STAFF-2001-QRSECRET"


async def scan(client: Client, text: str) -> None:
    status, body, _ = await client.call("POST", "/sim/qr", json={"reader": "back-qr", "text": text})
    assert status == 200, body


async def qr_events(client: Client, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        found = await client.events(credential_kind="qr")
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} QR events")


async def test_qr_codes_never_appear_in_events_status_or_logs(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.gateway.stores.users.add_user(User("2001", first_name="Quinn", qr_codes=[USER_QR]))
    await client.gateway.rule_changes.settled()
    for text in (SECRET_QR, OTHER_QR, USER_QR):
        await scan(client, text)
    scanned = await qr_events(client, 3)
    by_reader = await client.events(reader="back-qr", type="access")
    assert len(by_reader) == 3 and [e["granted"] for e in by_reader] == [False, False, True]
    # Over HTTP (OpenDoor) the same codes show the same way as at the reader.
    status, _, _ = await client.open_door(UnlockType="QR Code", Code=USER_QR)
    assert status == 200
    status, _, _ = await client.open_door(UnlockType="QR Code", Code=SECRET_QR)
    assert status == 403
    status, _, _ = await client.open_door(Code=USER_QR)  # no UnlockType: found as a QR code
    assert status == 200
    everything = await qr_events(client, 6)
    shown = [e["credential"] for e in everything]
    assert len(set(shown[:3])) == 3  # a technician still tells the codes apart
    assert shown[3:] == [shown[2], shown[0], shown[2]]
    assert everything[2]["user_id"] == everything[3]["user_id"] == "2001"
    headers = await client.token_headers()
    _, status_page, _ = await client.call("GET", "/api/v1/status", headers=headers)
    _, events_page, _ = await client.call("GET", "/api/v1/events", headers=headers)
    recent = status_page["readers"]["back-qr"]["recent"]
    assert [frame["parsed"] for frame in recent] == shown[:3]  # the reader's diagnostics too
    seen = {
        "events": json.dumps(scanned + everything),
        "events API": json.dumps(events_page),
        "status": json.dumps(status_page),
        "log": caplog.text,
    }
    for where, text in seen.items():
        for code in (SECRET_QR, OTHER_QR, USER_QR):
            assert code not in text, f"{code} in {where}"
            assert code[:12] not in text, f"the start of {code} in {where}"


def gateway_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the gateway logged (the fake server's own access log holds the codes, rightly)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("gateway"))


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()


async def test_qr_codes_reach_the_server_but_not_its_log_lines(
    upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    verify = VerifyClient(verify_settings(f"{upstream.base}/v/{{QRCode}}?qr={{QRCode}}"))
    try:
        result = await verify.verify(
            VerifyRequest(kind="qr", value=SECRET_QR, device_id="gw-1", time="T")
        )
    finally:
        await verify.close()
    assert result.granted and upstream.seen[0].query == {"qr": SECRET_QR}  # the server needs it
    assert SECRET_QR not in result.target and "SECRET" not in gateway_log(caplog)

    events: list[Any] = []
    apb = AntiPassbackNotifier(events.append, ManualClock(), timeout_s=0.3)
    urls = (f"{upstream.base}/apb?c=$code", f"http://127.0.0.1:{closed_port()}/apb?c=$code")
    apb.notify(reader(apb_urls=urls), cred("qr", OTHER_QR), "Quinn")
    await apb.close()
    assert upstream.seen[1].query == {"c": OTHER_QR}
    [failed] = events
    assert failed.reason == "apb_url_failed"
    assert OTHER_QR not in repr(failed) and "SECRET" not in gateway_log(caplog)


# -- passwords --------------------------------------------------------------------------------

WEAK = {
    "password123": "common",
    "Password2024!": "common",
    "P@ssw0rd!": "common",
    "iloveyou": "common",
    "trustno1": "common",
    "qwertyuiop": "common",
    "letmein!!": "common",
    "aaaaaaaaaaaa": "repeat",
    "abcdefghij": "sequence",
    "98765432": "sequence",
    "abcd1234efgh": "sequence",
    "xcvb7xcvb7": "repeat",
    "admin-admin-2024": "name",
    "hq-ground-floor1": "name",
    "gw-hq-ground!": "name",
}


@pytest.mark.parametrize(("password", "why"), WEAK.items(), ids=list(WEAK))
def test_passwd_refuses_common_and_guessable_passwords(
    tmp_path: Path, password: str, why: str
) -> None:
    """`admin` on a gateway named "HQ ground floor" (id gw-hq-ground)."""
    config = gpio_config(tmp_path)
    result = command("passwd", "admin", "--config", str(config), stdin=password + "\n")
    assert result.returncode == 1, f"{password!r} was accepted"
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message
    assert password not in message  # the refusal never echoes the secret
    assert "password set" not in result.stdout


def test_passwd_takes_a_long_uncommon_password(tmp_path: Path) -> None:
    config = gpio_config(tmp_path)
    for password in ("Tr4m-Lantern-9", "correct horse battery staple", "admin of the lantern tram"):
        result = command("passwd", "admin", "--config", str(config), stdin=password + "\n")
        assert result.returncode == 0, (password, result.stderr)


async def test_the_api_refuses_a_common_new_password(client: Client) -> None:
    headers = await client.token_headers()
    for weak in ("iloveyou123", "Simulated-gateway", "qwerty123456"):
        status, body, _ = await client.call(
            "POST", "/api/v1/password", headers=headers, json={"old": "simulate", "new": weak}
        )
        assert status == 400 and body["message"].startswith("new: "), (weak, body)
    status, body, _ = await client.call(
        "POST",
        "/api/v1/password",
        headers=headers,
        json={"old": "simulate", "new": "Tr4m-Lantern-9"},
    )
    assert status == 200, body


@pytest.mark.parametrize("password", ["letmein123", "opendoor-opendoor", "HQ-ground-floor"])
def test_check_config_refuses_a_guessable_opendoor_password(tmp_path: Path, password: str) -> None:
    """The OpenDoor basic-auth password opens doors: the same rules, on a real gateway."""
    config = gpio_config(tmp_path)
    before, section, after = config.read_text().partition("[http_unlock]\n")
    after = after.replace("enabled = false\n", "enabled = true\n", 1)
    after = after.replace('username = ""\n', f'username = "opendoor"\npassword = "{password}"\n', 1)
    text = before + section + after
    config.write_text(text)
    result = command("check-config", str(config))
    assert result.returncode == 2
    assert "http_unlock.password: too easy to guess" in result.stderr
    assert password not in result.stderr + result.stdout
    config.write_text(text.replace(password, "Tr4m-Lantern-9"))
    assert command("check-config", str(config)).returncode == 0
