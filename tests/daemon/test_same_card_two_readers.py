"""One card, two reader families: the Wiegand 26-bit frame and the NFC UID of the same card
resolve to the same user and open the same door (the NFC reader keeps the UID's last 3
bytes, as the 26-bit reader does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import SIMULATE, start_daemon
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

FRONT_NFC = """
[[readers]]
name = "front-nfc"
kind = "nfc"
door = "front"
direction = "in"
card_bytes = 3
"""


async def test_wiegand_and_nfc_reads_of_one_card_open_the_same_door(tmp_path: Path) -> None:
    config = tmp_path / "simulate.toml"
    text = SIMULATE.read_text()
    marker = "# A PN532 NFC reader"
    config.write_text(text.replace(marker, FRONT_NFC + "\n" + marker))
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)
            bits = encode_h10301(12, 34567)  # the card's low 3 UID bytes: 0C 87 07
            async with session.post(
                f"{base}/sim/wiegand", json={"reader": "front-wiegand", "bits": bits}
            ) as resp:
                assert resp.status == 200
            async with session.post(
                f"{base}/sim/card", json={"reader": "front-nfc", "uid": "04:0C:87:07"}
            ) as resp:
                assert resp.status == 200

            async def two_grants() -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                grants = [e for e in events if e["granted"]]
                return grants if len(grants) == 2 else []

            wiegand, nfc = await wait_for(two_grants)
            assert (wiegand["reader"], nfc["reader"]) == ("front-wiegand", "front-nfc")
            assert wiegand["user_id"] == nfc["user_id"] == "1001"
            assert wiegand["door"] == nfc["door"] == "front"
            assert wiegand["credential"] == nfc["credential"] == "0C8707"
    finally:
        daemon.stop()
