"""What the daemon acknowledges as written is in the file: every ACTAtek addLog answered
"success" before a kill -9 is in the journal afterwards, and the database is intact."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import aiohttp

from tests.daemon.conftest import start_daemon

WORKERS = 4
ACKNOWLEDGED_BEFORE_KILL = 40


async def actatek_session(session: aiohttp.ClientSession, base: str) -> str:
    body = {"username": "admin", "password": "simulate"}
    async with session.post(f"{base}/cgi-bin/restapi/login", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["sessionid"])


async def add_logs(
    session: aiohttp.ClientSession, base: str, sid: str, worker: int, acknowledged: list[str]
) -> None:
    """addLog after addLog, each at its own minute; remember the ones answered success."""
    for n in range(1000):
        stamp = f"2025-07-20T{worker:02d}:{n // 60:02d}:{n % 60:02d}Z"
        url = f"{base}/cgi-bin/restapi/addLog/{sid}/{stamp}/1001/IN"
        async with session.post(url) as resp:
            body = await resp.json()
        assert body["status"] == "success", body
        acknowledged.append(stamp)


def added_log_times(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT time FROM events WHERE reason = 'log_added'").fetchall()
    return {time for (time,) in rows}


async def test_every_acknowledged_added_log_survives_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    daemon = await asyncio.to_thread(start_daemon, state)
    acknowledged: list[str] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            sid = await actatek_session(session, daemon.base_url)
            workers = [
                asyncio.create_task(add_logs(session, daemon.base_url, sid, w, acknowledged))
                for w in range(WORKERS)
            ]
            while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
                assert not any(w.done() for w in workers), [w.exception() for w in workers]
                await asyncio.sleep(0.001)
            daemon.stop(signal.SIGKILL)  # requests are in flight: some were never answered
            ended = await asyncio.gather(*workers, return_exceptions=True)
            assert all(isinstance(e, aiohttp.ClientError) for e in ended), ended
    finally:
        if daemon.process.poll() is None:
            daemon.stop(signal.SIGKILL)
    in_file = added_log_times(state / "gateway.db")
    missing = {stamp for stamp in acknowledged if stamp[:-1] + ".000Z" not in in_file}
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged logs lost"
