"""The state directory's disk fills up under the running daemon, then has room again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon.conftest import REPO, Daemon, start_daemon
from tests.daemon.test_outside_writes import config_with_state_dir
from tests.daemon.test_simulated_daemon import login, wait_for
from tests.store.disk import small_disk

DEMO_CARD = "10000110010000111000001111"  # H10301 12/34567, granted at the front door
PRESENTATIONS = 20


async def status(session: aiohttp.ClientSession, daemon: Daemon, headers: Any) -> Any:
    async with session.get(f"{daemon.base_url}/api/v1/status", headers=headers) as resp:
        assert resp.status == 200
        return await resp.json()


async def present(session: aiohttp.ClientSession, daemon: Daemon) -> None:
    async with session.post(
        f"{daemon.base_url}/sim/wiegand", json={"reader": "front-wiegand", "bits": DEMO_CARD}
    ) as resp:
        assert resp.status == 200


async def front_relay(session: aiohttp.ClientSession, daemon: Daemon) -> str:
    async with session.get(f"{daemon.base_url}/sim/outputs") as resp:
        return str((await resp.json())["doors"]["front"]["relay"])


async def test_a_full_disk_keeps_the_door_working_and_loses_no_event(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    with small_disk(tmp_path / "state", "8m") as disk:
        daemon = start_daemon(tmp_path / "state", config)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                headers = await login(session, daemon.base_url)
                disk.fill()
                for _ in range(PRESENTATIONS):
                    await present(session, daemon)
                    assert await front_relay(session, daemon) == "unlocked"

                async def journal_fault() -> Any:
                    return (await status(session, daemon, headers))["journal"]["fault"]

                fault = await wait_for(journal_fault, timeout=10)
                assert "no space left on" in fault
                body = await status(session, daemon, headers)
                assert body["forwarding"]["journal_fault"] == fault
                assert body["journal"]["queued"] >= PRESENTATIONS

                disk.free()

                async def written() -> bool:
                    journal = (await status(session, daemon, headers))["journal"]
                    return journal["fault"] is None and journal["queued"] == 0

                assert await wait_for(written, timeout=10)
                url = f"{daemon.base_url}/api/v1/events?after=0&limit=1000"
                async with session.get(url, headers=headers) as resp:
                    events = (await resp.json())["events"]
            seqs = [e["seq"] for e in events]
            assert seqs == list(range(1, len(seqs) + 1))
            granted = [e for e in events if e["type"] == "access" and e["granted"]]
            assert len(granted) == PRESENTATIONS
            assert not any(e["reason"] == "journal_gap" for e in events)
        finally:
            daemon.stop()


def start_up_output(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "run", "--config", str(config),
         "--listen", "127.0.0.1:0"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def assert_says_disk_full(result: subprocess.CompletedProcess[str], state: Path) -> None:
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1, result.stderr
    assert f"no space left on {state}" in lines[0]
    assert "free space, then restart" in lines[0]
    assert "move" not in lines[0] and "Traceback" not in result.stderr


def test_first_start_on_a_full_disk_says_so(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    with small_disk(tmp_path / "state", "1m") as disk:
        disk.fill()
        result = start_up_output(config)
    assert_says_disk_full(result, tmp_path / "state")


async def test_restart_on_a_full_disk_says_so_then_starts_once_freed(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    with small_disk(tmp_path / "state", "8m") as disk:
        first = start_daemon(tmp_path / "state", config)
        assert first.stop() == 0
        disk.fill()
        assert_says_disk_full(start_up_output(config), tmp_path / "state")
        disk.free()
        daemon = start_daemon(tmp_path / "state", config)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                await present(session, daemon)
                assert await front_relay(session, daemon) == "unlocked"
        finally:
            daemon.stop()
