"""An import by the CLI into the store of a running daemon takes effect within 2 s."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import REPO, SIMULATE, start_daemon
from tests.daemon.test_simulated_daemon import access_events, login

NEW_CARD_BITS = encode_h10301(77, 1234)  # canonical 4D04D2


def config_with_state_dir(tmp_path: Path) -> Path:
    state_dir = tmp_path / "state"
    text = SIMULATE.read_text().replace('state_dir = "var"', f'state_dir = "{state_dir}"')
    path = tmp_path / "simulate.toml"
    path.write_text(text)
    return path


def door_gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def present_and_wait(session: aiohttp.ClientSession, base: str) -> dict[str, object]:
    headers = await login(session, base)
    before = len(await access_events(session, base, headers))
    async with session.post(
        f"{base}/sim/wiegand", json={"reader": "front-wiegand", "bits": NEW_CARD_BITS}
    ) as resp:
        assert resp.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = await access_events(session, base, headers)
        if len(events) > before:
            return events[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("no access event")


async def test_cli_import_reaches_the_running_daemon(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    daemon = start_daemon(tmp_path / "state", config)
    try:
        base = daemon.base_url
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            first = await present_and_wait(session, base)
            assert first["granted"] is False and first["reason"] == "unknown_credential"

            users = tmp_path / "users.csv"
            users.write_text("user_id,first_name,last_name,cards\n2001,Alan,Turing,4D04D2\n")
            result = door_gateway("users", "import", str(users), "--config", str(config))
            assert result.returncode == 0, result.stderr
            imported_at = time.monotonic()

            while True:
                event = await present_and_wait(session, base)
                if event["granted"] is True:
                    break
                assert time.monotonic() - imported_at < 2.0, "import not picked up within 2 s"
                await asyncio.sleep(0.1)
            assert event["user_id"] == "2001"
    finally:
        daemon.stop()


def test_a_bad_row_imports_nothing_and_says_which_line(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    users = tmp_path / "users.csv"
    users.write_text("user_id,first_name,cards\n3001,Good,0A0B\n3002,Bad,XYZ\n")
    result = door_gateway("users", "import", str(users), "--config", str(config))
    assert result.returncode == 1
    assert "line 3" in result.stderr and "cards" in result.stderr
    export = tmp_path / "out.csv"
    assert door_gateway("users", "export", str(export), "--config", str(config)).returncode == 0
    assert "3001" not in export.read_text()


def test_a_damaged_database_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "gateway.db").write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    result = door_gateway("run", "--config", str(config), "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert "gateway.db" in result.stderr and "not" in result.stderr
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr


async def test_a_keypad_lockout_survives_a_restart(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    timeout = aiohttp.ClientTimeout(total=10)
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for _ in range(5):
                async with session.post(
                    f"{daemon.base_url}/sim/keys", json={"reader": "front-keypad", "keys": "9999#"}
                ) as resp:
                    assert resp.status == 200
            headers = await login(session, daemon.base_url)
            events = await access_events(session, daemon.base_url, headers)
            assert [e["reason"] for e in events] == ["unknown_credential"] * 5
            assert all(e["credential"] == "****" for e in events)
    finally:
        assert daemon.stop() == 0

    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(
                f"{daemon.base_url}/sim/keys", json={"reader": "front-keypad", "keys": "1234#"}
            ) as resp:
                assert resp.status == 200
            async with session.get(f"{daemon.base_url}/sim/outputs") as resp:
                assert (await resp.json())["doors"]["front"]["relay"] == "locked"
            headers = await login(session, daemon.base_url)
            events = await access_events(session, daemon.base_url, headers)
            assert events[-1]["reason"] == "keypad_locked"
    finally:
        daemon.stop()
