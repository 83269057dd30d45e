"""The history, configuration and self-test pages as a browser without JavaScript sees
them, on an in-process gateway: what they show, that no secret is in them, who may open
them, and the self-test button's form."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from gateway.hw.formats import encode_h10301
from tests.page.forms import csrf_of, get, logged_in_page, post_form
from tests.page.test_page_dashboard import MAX_PAGE_BYTES, sim, technician, wait_for_event
from tests.web.conftest import Client, Start

SVG = "{http://www.w3.org/2000/svg}"
OPENDOOR_SECRET = "Akuvox-Secret-5521"
PAGES = ("/history", "/config", "/selftest")


def chart_of(page: str) -> ET.Element:
    found = re.search(r"<svg .*?</svg>", page, re.S)
    assert found is not None, page
    return ET.fromstring(found.group(0))


async def test_without_a_login_every_page_redirects_to_the_login(client: Client) -> None:
    for path in PAGES:
        status, _, headers = await get(client, path)
        assert (status, headers["Location"]) == (303, "/login"), path
    status, _, headers = await post_form(client, "/selftest", {"csrf_token": "x"})
    assert (status, headers["Location"]) == (303, "/login")


async def test_the_history_page_draws_the_last_24_hours(client: Client) -> None:
    await sim(client, "/sim/wiegand", {"reader": "front-wiegand", "bits": encode_h10301(12, 34567)})
    await sim(client, "/sim/wiegand", {"reader": "front-wiegand", "bits": encode_h10301(12, 11111)})
    await wait_for_event(client, type="access", granted=False)
    await logged_in_page(client)
    status, page, _ = await get(client, "/history")
    assert status == 200 and len(page.encode()) < MAX_PAGE_BYTES
    chart = chart_of(page)
    granted = [r for r in chart.iter(f"{SVG}rect") if "bar granted" in r.get("class", "")]
    assert len(granted) == 24 and float(granted[-1].get("height", "0")) > 0
    assert "1 granted, 1 denied, 0 door alarms" in page  # the description and the totals
    assert '<a href="/history">History</a>' in page or 'href="/history"' in page  # nav
    table = re.search(r"<table.*?</table>", page, re.S)
    assert table is not None and table.group(0).count("<tr") == 25  # header + 24 hours


async def test_the_configuration_page_shows_no_secret(start: Start) -> None:
    client = await start(password=OPENDOOR_SECRET)
    await logged_in_page(client)
    status, page, _ = await get(client, "/config")
    assert status == 200 and len(page.encode()) < MAX_PAGE_BYTES
    assert OPENDOOR_SECRET not in page
    assert ">&#34;1234&#34;<" not in page and '"1234"' not in page  # a demo user's PIN
    assert "http_unlock.password" in page and "****" in page
    assert "doors[0].relay_pin" in page
    assert "is valid" in page  # the check-config result
    assert "simulate.toml" in page


async def test_pages_need_their_capability(client: Client) -> None:
    page = await technician(client, "USERADMIN")  # logs: history yes, device setup no
    assert 'href="/history"' in page and 'href="/config"' not in page
    assert (await get(client, "/history"))[0] == 200
    assert (await get(client, "/config"))[0] == 403
    assert (await get(client, "/selftest"))[0] == 403


async def test_the_selftest_button_runs_the_checks_and_shows_them(client: Client) -> None:
    await logged_in_page(client)
    status, page, _ = await get(client, "/selftest")
    assert status == 200 and "Run the self-test" in page and 'class="checks"' not in page
    refused, _, _ = await post_form(client, "/selftest", {"csrf_token": "stale"})
    assert refused == 403
    status, _, headers = await post_form(client, "/selftest", {"csrf_token": csrf_of(page)})
    assert (status, headers["Location"]) == (303, "/selftest")
    status, page, _ = await get(client, "/selftest")
    assert status == 200 and len(page.encode()) < MAX_PAGE_BYTES
    rows = re.findall(r'<li class="check (ok|warn|fail)"', page)
    assert len(rows) >= 10
    assert "simulated: 23 mock lines" in page
    assert "by admin" in page
    await wait_for_event(client, type="api", reason="selftest", user_id="admin")
