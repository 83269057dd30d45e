"""The store is shared with the CLI and outside tools while the daemon runs.

Closing any descriptor of a database file drops every POSIX lock the process holds on it;
if the daemon ever did that, the next CLI to close the database would believe it was the
last user and delete the daemon's write-ahead log under it. Events the API had already
returned would then be lost at the next crash and their seq numbers reused.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import REPO, Daemon, start_daemon
from tests.daemon.test_outside_writes import config_with_state_dir, door_gateway
from tests.daemon.test_simulated_daemon import login, wait_for

ROUNDS = 3


def deleted_store_files(pid: int) -> list[str]:
    """The daemon's open descriptors that point at a deleted -wal or -shm file."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if ("-wal" in target or "-shm" in target) and target.endswith("(deleted)"):
            found.append(target)
    return found


def outside_reader(db: Path) -> None:
    """Another process reads the database, as `sqlite3 gateway.db 'SELECT ...'` would."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute('SELECT COUNT(*) FROM events').fetchone()[0]); c.close()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def run_cli_round(tmp_path: Path, config: Path, round_no: int) -> str:
    """Import one new card, export, set a password, read from outside; the card's bits."""
    users = tmp_path / f"users-{round_no}.csv"
    card = 5000 + round_no
    users.write_text(
        f"user_id,first_name,last_name,cards\n30{round_no:02d},Round,{round_no},"
        f"{(77 << 16 | card):06X}\n"
    )
    for args in (
        ("users", "import", str(users)),
        ("users", "export", str(tmp_path / f"export-{round_no}.xml")),
    ):
        result = door_gateway(*args, "--config", str(config))
        assert result.returncode == 0, result.stderr
    passwd = subprocess.run(
        [sys.executable, "-m", "gateway", "passwd", "installer", "--level", "SUPERADMIN",
         "--config", str(config)],
        cwd=REPO, input="a long enough password 1\na long enough password 1\n",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert passwd.returncode == 0, passwd.stderr
    outside_reader(config.parent / "state" / "gateway.db")
    return encode_h10301(77, card)


async def all_events(session: aiohttp.ClientSession, daemon: Daemon) -> list[dict[str, Any]]:
    headers = await login(session, daemon.base_url)
    url = f"{daemon.base_url}/api/v1/events?after=0&limit=1000"
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 200
        return list((await resp.json())["events"])


async def present_until_granted(session: aiohttp.ClientSession, daemon: Daemon, bits: str) -> None:
    async def granted() -> bool:
        async with session.post(
            f"{daemon.base_url}/sim/wiegand", json={"reader": "front-wiegand", "bits": bits}
        ) as resp:
            assert resp.status == 200
        events = await all_events(session, daemon)
        last = [e for e in events if e["type"] == "access"][-1]
        return last["granted"] is True

    assert await wait_for(granted, timeout=5.0), "imported card not granted"


async def test_cli_and_outside_readers_never_delete_the_daemons_wal(tmp_path: Path) -> None:
    config = config_with_state_dir(tmp_path)
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for round_no in range(ROUNDS):
                bits = run_cli_round(tmp_path, config, round_no)
                assert deleted_store_files(daemon.process.pid) == []
                await present_until_granted(session, daemon, bits)
                assert deleted_store_files(daemon.process.pid) == []
            returned = await all_events(session, daemon)
        daemon.stop(signal.SIGKILL)
        assert sum(e["type"] == "access" and e["granted"] for e in returned) >= ROUNDS

        again = start_daemon(tmp_path / "state", config)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                after_crash = {e["seq"]: e for e in await all_events(session, again)}
        finally:
            again.stop()
        for event in returned:
            assert after_crash.get(event["seq"]) == event, f"seq {event['seq']} lost or changed"
        integrity = subprocess.run(
            [sys.executable, "-c",
             "import sqlite3, sys; print(sqlite3.connect(sys.argv[1])"
             ".execute('PRAGMA integrity_check').fetchone()[0])",
             str(tmp_path / "state" / "gateway.db")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert integrity.stdout.strip() == "ok"
    finally:
        daemon.stop(signal.SIGKILL)
