"""The whole daemon with the simulated OSDP reader of simulate.toml: libosdp's PD on a
pseudo-terminal, keyed in install mode, then a card presented through /sim/card opens the
door over Secure Channel, and an unknown one is denied."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import start_daemon
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

READER = "back-osdp"
KNOWN_UID = "0C8707"  # demo user 1001 (H10301 facility 12, card 34567)
UNKNOWN_UID = encode_h10301(200, 4242)


async def test_a_card_on_the_osdp_reader_opens_the_door(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)

            async def reader_status() -> dict[str, Any]:
                async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
                    assert resp.status == 200
                    status: dict[str, Any] = (await resp.json())["readers"][READER]
                return status

            async def secure() -> dict[str, Any] | None:
                status = await reader_status()
                return status if status["online"] and status["secure_channel"] else None

            status = await wait_for(secure, timeout=20)
            assert status["key"] == "own" and "install mode is on" in status["warning"]
            key_file = daemon.state_dir / "osdp" / f"{READER}.scbk"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert key_file.read_text() not in daemon.log()

            async with session.post(
                f"{base}/sim/card", json={"reader": READER, "uid": KNOWN_UID}
            ) as resp:
                assert resp.status == 200, await resp.text()

            async def granted() -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                return [e for e in events if e["reader"] == READER and e["granted"]]

            (grant,) = await wait_for(granted, timeout=5)
            assert (grant["door"], grant["user_id"], grant["credential"]) == (
                "back",
                "1001",
                KNOWN_UID,
            )

            async def unlocked() -> bool:
                async with session.get(f"{base}/sim/outputs") as resp:
                    outputs = await resp.json()
                return bool(outputs["doors"]["back"]["relay"] == "unlocked")

            assert await wait_for(unlocked, timeout=3)

            uid = f"{int(UNKNOWN_UID[1:25], 2):06X}"  # facility 200, card 4242
            async with session.post(
                f"{base}/sim/card", json={"reader": READER, "uid": uid}
            ) as resp:
                assert resp.status == 200, await resp.text()

            async def denied() -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                return [e for e in events if e["reader"] == READER and not e["granted"]]

            (denial,) = await wait_for(denied, timeout=5)
            assert denial["reason"] == "unknown_credential"
    finally:
        daemon.stop()
