"""A DESFire reader with a 3K3DES key (`desfire_crypto`, the guide's "Crypto: DES") in the
whole daemon on simulated hardware: AuthenticateISO, the EV1 3DES session, an enciphered
read; the file's number opens the door, and the key never reaches the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon.conftest import SIMULATE, start_daemon
from tests.daemon.test_desfire_daemon import with_desfire_reader
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

AES_LINE = 'desfire_key = "00112233445566778899AABBCCDDEEFF"'
KEY = "0123456789ABCDEFFEDCBA987654321000112233445566AA"


async def test_a_3k3des_desfire_card_opens_with_the_number_in_its_file(tmp_path: Path) -> None:
    text = with_desfire_reader(SIMULATE.read_text())
    assert AES_LINE in text
    config = tmp_path / "simulate.toml"
    config.write_text(text.replace(AES_LINE, f'desfire_key = "{KEY}"\ndesfire_crypto = "3k3des"'))
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)

            async def decisions() -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                return [e for e in events if e["reader"] == "back-desfire"]

            async with session.post(
                f"{base}/sim/card", json={"reader": "back-desfire", "uid": "0C8707"}
            ) as resp:
                assert resp.status == 200, await resp.text()
            (event,) = await wait_for(decisions)
            assert (event["credential"], event["granted"], event["user_id"]) == (
                "0C8707",
                True,
                "1001",
            )
            assert KEY not in daemon.log().upper()
    finally:
        daemon.stop()
