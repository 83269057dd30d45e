"""Technician accounts are managed from the device and a change ends live sessions.

The attack: a technician's password is reset (it leaked, the person left), but the
sessions already open with the old one keep working on both APIs for up to 12 hours;
an account could not be disabled, deleted or lowered at all. Whole-daemon tests: the
real daemon runs, `door-gateway passwd` changes the account from another process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.conftest import REPO, Daemon, start_daemon
from tests.daemon.test_outside_writes import config_with_state_dir

ACTATEK = "/cgi-bin/restapi/"


def passwd(config: Path, user: str, *options: str, password: str = "") -> str:
    """Run `door-gateway passwd`; its output (the test fails on a non-zero exit)."""
    result = passwd_result(config, user, *options, password=password)
    assert result.returncode == 0, result.stderr
    return result.stdout


def passwd_result(
    config: Path, user: str, *options: str, password: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "passwd", user, "--config", str(config), *options],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@dataclass
class Site:
    """The running daemon, its config file, and an HTTP client for it."""

    daemon: Daemon
    config: Path
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.daemon.base_url + path, **kwargs) as resp:
            return resp.status, await resp.json()

    async def native_login(self, user: str, password: str) -> dict[str, str] | None:
        status, body = await self.call(
            "POST", "/api/v1/login", json={"username": user, "password": password}
        )
        return {"Authorization": f"Bearer {body['token']}"} if status == 200 else None

    async def native_works(self, headers: dict[str, str]) -> bool:
        status, _ = await self.call("GET", "/api/v1/events?limit=1", headers=headers)
        assert status in (200, 401)
        return status == 200

    async def actatek_login(self, user: str, password: str) -> str | None:
        _, body = await self.call(
            "POST", ACTATEK + "login", json={"username": user, "password": password}
        )
        return str(body["sessionid"]) if body["status"] == "success" else None

    async def actatek_user_count(self, sid: str) -> str:
        """ "success", or the common error's message."""
        _, body = await self.call("GET", f"{ACTATEK}UserCount/{sid}")
        return str(body["message"]) if body.get("status") == "error" else "success"

    async def journal(self, headers: dict[str, str]) -> list[dict[str, Any]]:
        status, body = await self.call("GET", "/api/v1/events?limit=1000", headers=headers)
        assert status == 200, body
        return list(body["events"])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = config_with_state_dir(tmp_path)
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            yield Site(daemon, config, http)
    finally:
        daemon.stop()


async def test_a_password_reset_from_the_cli_ends_live_sessions_on_both_apis(
    site: Site,
) -> None:
    native = await site.native_login("admin", "simulate")
    sid = await site.actatek_login("admin", "simulate")
    assert native is not None and sid is not None
    assert await site.native_works(native)
    assert await site.actatek_user_count(sid) == "success"

    passwd(site.config, "admin", password="a brand new password")

    assert not await site.native_works(native)
    assert await site.actatek_user_count(sid) == "invalid or expired session"
    assert await site.native_login("admin", "simulate") is None
    fresh = await site.native_login("admin", "a brand new password")
    assert fresh is not None and await site.native_works(fresh)


async def test_an_account_is_lowered_disabled_enabled_and_deleted_from_the_cli(
    site: Site,
) -> None:
    out = passwd(site.config, "alice", "--level", "SUPERADMIN", password="alice password 1")
    assert "(SUPERADMIN)" in out
    native = await site.native_login("alice", "alice password 1")
    sid = await site.actatek_login("alice", "alice password 1")
    assert native is not None and sid is not None

    # Lowered: the open sessions end (they carried the old level); a new one has the new.
    out = passwd(site.config, "alice", "--level", "PERSONALUSER")  # no password asked
    assert "PERSONALUSER" in out
    assert not await site.native_works(native)
    assert await site.actatek_user_count(sid) == "invalid or expired session"
    sid = await site.actatek_login("alice", "alice password 1")
    assert sid is not None
    assert await site.actatek_user_count(sid) == "PERSONALUSER may not do this"

    # Disabled: sessions end and the right password no longer logs in, with the same
    # answer as a wrong one (an attacker does not learn the account exists).
    native = await site.native_login("alice", "alice password 1")
    assert native is not None
    passwd(site.config, "alice", "--disable")
    assert not await site.native_works(native)
    assert await site.actatek_user_count(sid) == "invalid or expired session"
    status, body = await site.call(
        "POST", "/api/v1/login", json={"username": "alice", "password": "alice password 1"}
    )
    assert (status, body["message"]) == (401, "wrong username or password")
    assert await site.actatek_login("alice", "alice password 1") is None

    passwd(site.config, "alice", "--enable")
    native = await site.native_login("alice", "alice password 1")
    assert native is not None

    # Deleted: gone, sessions and all.
    passwd(site.config, "alice", "--delete")
    assert not await site.native_works(native)
    assert await site.native_login("alice", "alice password 1") is None
    refused = passwd_result(site.config, "alice", "--disable")
    assert refused.returncode == 1 and "no technician named 'alice'" in refused.stderr

    admin = await site.native_login("admin", "simulate")
    assert admin is not None
    reasons = [e["reason"] for e in await site.journal(admin) if e["user_id"] == "alice"]
    for reason in (
        "password_set",
        "technician_level_set",
        "technician_disabled",
        "technician_enabled",
        "technician_deleted",
    ):
        assert reason in reasons
