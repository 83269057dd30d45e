"""The dashboard's lift floors card: which floor outputs are energised now."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.settings import FloorSettings
from tests.fakes import ManualClock
from tests.page.forms import get, logged_in_page
from tests.web.conftest import Client, settings_for


@pytest.fixture
async def lift_client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = settings_for(tmp_path / "state")
    floors = (FloorSettings("G", 14), FloorSettings("1", 15))
    gateway = Gateway(dataclasses.replace(settings, floors=floors), clock=ManualClock())
    await gateway.start()
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        yield Client(http, gateway, gateway.clock)  # type: ignore[arg-type]
    await gateway.stop()


async def test_the_dashboard_shows_the_floors_enabled_now(lift_client: Client) -> None:
    page = await logged_in_page(lift_client)
    assert "Lift floors" in page and "Enabled now</dt><dd>none" in page
    after = lift_client.gateway.chain.after_grant
    assert after is not None and after.floors is not None
    after.floors.enable(("1",), door="front", reader="front-wiegand", user_id="1001")
    status, page, _ = await get(lift_client, "/")
    assert status == 200
    assert "Enabled now</dt><dd>1 " in page
    assert '<span class="badge good" title="GPIO 15">1</span>' in page
    assert '<span class="badge " title="GPIO 14">G</span>' in page
