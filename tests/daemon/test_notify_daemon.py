"""E-mail notifications through the whole daemon: a door forced open through /sim becomes a
mail at a real SMTP server on loopback (STARTTLS with a test CA, AUTH), and so does the
door's e-mail input action ("still open after 1 s"); the status says the mail went."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.notify.smtp_fakes import PASSWORD, USERNAME, Received, SmtpServer, TestCa

FRONT_DOOR_END = "second_relay_pulse_s = 1\n"
EMAIL_ACTION = """
[[doors.input_actions]]
input = "contact"
email = true
delay_s = 1
only_if_still_active = true
"""


KNOWN_CARD_BITS = encode_h10301(12, 34567)  # demo user 1001


def config_with_mail(tmp_path: Path, ca: TestCa, server: SmtpServer, timeout_s: int = 5) -> Path:
    text = SIMULATE.read_text()
    assert text.count(FRONT_DOOR_END) == 1
    text = text.replace(FRONT_DOOR_END, FRONT_DOOR_END + EMAIL_ACTION)
    text += f"""
[notifications]
enabled = true
sender = "gateway@example.com"
to = ["security@example.com"]
gather_s = 0
max_per_minute = 60

[smtp]
host = "127.0.0.1"
port = {server.port}
tls = "starttls"
ca_file = "{ca.ca_file}"
username = "{USERNAME}"
password = "{PASSWORD}"
timeout_s = {timeout_s}
"""
    path = tmp_path / "mail.toml"
    path.write_text(text)
    return path


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    directory = tmp_path / "ca"
    directory.mkdir()
    return TestCa.make(directory)


@pytest.fixture
def server(ca: TestCa) -> Any:
    running = SmtpServer(ca).come_back()
    yield running
    running.go_down()


async def status(session: aiohttp.ClientSession, daemon: Daemon) -> dict[str, Any]:
    base = daemon.base_url
    login = {"username": "admin", "password": "simulate"}
    async with session.post(f"{base}/api/v1/login", json=login) as resp:
        token = (await resp.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


def reasons_mailed(mails: list[Received]) -> str:
    return "\n".join(mail.subject + "\n" + mail.body for mail in mails)


async def test_a_door_forced_open_is_mailed(tmp_path: Path, ca: TestCa, server: SmtpServer) -> None:
    daemon = start_daemon(tmp_path / "state", config_with_mail(tmp_path, ca, server))
    try:
        async with aiohttp.ClientSession() as session:
            body = {"door": "front", "input": "contact", "active": True}
            async with session.post(f"{daemon.base_url}/sim/input", json=body) as resp:
                assert resp.status == 200, await resp.text()
            # Two mails, or one summary if the first was still on its way: both in any case.
            for count in range(1, 3):
                mails = await server.arrived(count, timeout=20)
                if "triggered its e-mail action" in reasons_mailed(mails):
                    break
            text = reasons_mailed(mails)
            assert "ALARM forced open at door front" in text
            assert "was opened without a grant or the exit button" in text
            assert "triggered its e-mail action" in text  # the input action, after 1 s
            assert "Input contact after 1 s, still active" in text
            assert all(m.tls and m.login == USERNAME for m in mails)
            section = (await status(session, daemon))["notifications"]
            assert section["enabled"] and section["last_sent"] is not None
            assert section["last_error"] == "" and section["waiting"] == 0
            assert PASSWORD not in str(section)
    finally:
        assert daemon.stop() == 0
    assert PASSWORD not in daemon.log()


@pytest.fixture
def tarpit() -> Iterator[int]:
    """A port that takes TCP connections and never says a word (the kernel completes the
    handshake; nobody accepts): a mail server that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


async def test_a_hanging_mail_server_never_slows_a_door(
    tmp_path: Path, ca: TestCa, tarpit: int
) -> None:
    hanging = SmtpServer(ca, port=tarpit)  # never started: only its port is used
    daemon = start_daemon(tmp_path / "state", config_with_mail(tmp_path, ca, hanging, 60))
    try:
        async with aiohttp.ClientSession() as session:
            base = daemon.base_url
            for active in (True, False):  # forced open: the mailer connects, and hangs
                body = {"door": "front", "input": "contact", "active": active}
                async with session.post(f"{base}/sim/input", json=body) as resp:
                    assert resp.status == 200
                await asyncio.sleep(0.3)
            assert (await status(session, daemon))["notifications"]["state"] == "sending"

            started = time.monotonic()
            body = {"reader": "front-wiegand", "bits": KNOWN_CARD_BITS}
            async with session.post(f"{base}/sim/wiegand", json=body) as resp:
                assert resp.status == 200
            while True:
                async with session.get(f"{base}/sim/outputs") as resp:
                    if (await resp.json())["doors"]["front"]["relay"] == "unlocked":
                        break
                assert time.monotonic() - started < 3.0, "the door waited (mail times out at 60 s)"
                await asyncio.sleep(0.01)
    finally:
        assert daemon.stop() == 0  # the stop does not wait for the mail server either
