"""A MIFARE Plus SL3 reader in the whole daemon on simulated hardware: the card number comes
out of the card's block after AES authentication with the second of two configured keys
(the guide's "three choices"), read with MACs and enciphered, is decided like any card and
opens the door; the UID plays no part, and the keys never reach the log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon.conftest import SIMULATE, start_daemon
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

EXAMPLE = re.compile(r"^# (\[\[readers\]\]\n(?:# .*\n)*?# mfp_length = 3)$", re.M)
KEYS = ("000102030405060708090A0B0C0D0E0F", "F0E0D0C0B0A090807060504030201000")


def with_plus_reader(text: str) -> str:
    """simulate.toml with its commented MIFARE Plus reader example switched on."""
    found = EXAMPLE.search(text)
    assert found is not None, "the MIFARE Plus example in simulate.toml"
    return text.replace(found.group(0), found.group(0).replace("# ", ""))


async def test_a_mifare_plus_card_opens_with_the_number_in_its_block(tmp_path: Path) -> None:
    config = tmp_path / "simulate.toml"
    config.write_text(with_plus_reader(SIMULATE.read_text()))
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)

            async def reader_status() -> dict[str, Any]:
                async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
                    status: dict[str, Any] = (await resp.json())["readers"]["back-plus"]
                    return status

            async def card_gone() -> bool:
                return not (await reader_status())["card_present"]

            assert (await reader_status())["mode"] == "mifare_plus"

            async def decisions(count: int) -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                mine = [e for e in events if e["reader"] == "back-plus"]
                return mine if len(mine) == count else []

            # Ada's card, then Charles's (an inactive user), each a tap of its own.
            for count, number in enumerate(("0C8707", "0C2B67"), start=1):
                async with session.post(
                    f"{base}/sim/card", json={"reader": "back-plus", "uid": number}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                found = await wait_for(lambda count=count: decisions(count))
                await wait_for(card_gone)  # the tapped card seen leaving before the next
            by_card = {e["credential"]: e for e in found}
            assert by_card["0C8707"]["granted"] and by_card["0C8707"]["user_id"] == "1001"
            assert by_card["0C8707"]["door"] == "back"
            assert not by_card["0C2B67"]["granted"]
            assert by_card["0C2B67"]["reason"] == "user_inactive"
            status = await reader_status()
            assert status["frames_accepted"] == 2
            log = daemon.log().upper()
            assert all(key not in log and key not in str(status).upper() for key in KEYS)
    finally:
        daemon.stop()
