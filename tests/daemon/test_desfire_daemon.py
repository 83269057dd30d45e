"""A DESFire EV2 reader in the whole daemon on simulated hardware: the card number comes out
of the card's enciphered file after AES authentication (the simulated PC/SC backend's
DESFire card), is decided like any card and opens the door; the UID plays no part."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.daemon.conftest import SIMULATE, start_daemon
from tests.daemon.test_simulated_daemon import access_events, login, wait_for

EXAMPLE = re.compile(r"^# (\[\[readers\]\]\n(?:# .*\n)*?# desfire_length = 3)$", re.M)


def with_desfire_reader(text: str) -> str:
    """simulate.toml with its commented DESFire reader example switched on."""
    found = EXAMPLE.search(text)
    assert found is not None, "the DESFire example in simulate.toml"
    block = found.group(0).replace("# ", "", -1)
    return text.replace(found.group(0), block)


async def test_a_desfire_card_opens_with_the_number_in_its_file(tmp_path: Path) -> None:
    config = tmp_path / "simulate.toml"
    config.write_text(with_desfire_reader(SIMULATE.read_text()))
    daemon = start_daemon(tmp_path / "state", config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            base = daemon.base_url
            headers = await login(session, base)

            async def reader_status() -> dict[str, Any]:
                async with session.get(f"{base}/api/v1/status", headers=headers) as resp:
                    status: dict[str, Any] = (await resp.json())["readers"]["back-desfire"]
                    return status

            async def card_gone() -> bool:
                return not (await reader_status())["card_present"]

            assert (await reader_status())["mode"] == "desfire"

            async def decisions(count: int) -> list[dict[str, Any]]:
                events = await access_events(session, base, headers)
                mine = [e for e in events if e["reader"] == "back-desfire"]
                return mine if len(mine) == count else []

            # Ada's card, then Charles's (an inactive user), each a tap of its own.
            for count, number in enumerate(("0C8707", "0C2B67"), start=1):
                async with session.post(
                    f"{base}/sim/card", json={"reader": "back-desfire", "uid": number}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                found = await wait_for(lambda count=count: decisions(count))
                await wait_for(card_gone)  # the tapped card seen leaving before the next
            by_card = {e["credential"]: e for e in found}
            assert by_card["0C8707"]["granted"] and by_card["0C8707"]["user_id"] == "1001"
            assert by_card["0C8707"]["door"] == "back"
            assert not by_card["0C2B67"]["granted"]
            assert by_card["0C2B67"]["reason"] == "user_inactive"
            assert "00112233445566778899AABBCCDDEEFF" not in daemon.log().upper()
    finally:
        daemon.stop()
