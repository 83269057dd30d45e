"""The events page and the decision trace page without JavaScript: the filters are a
plain GET form over the journal, each row links to its trace, and the table carries the
live stream's address (with the same filters) for the script. In-process gateway on
simulated hardware (tests/web/conftest.py)."""

from __future__ import annotations

import html
import re

from gateway.hw.formats import encode_h10301
from tests.page.forms import get, logged_in_page
from tests.security.roles import site_with_roles
from tests.web.conftest import PASSWORD, Client
from tests.web.test_event_stream import ADA_BITS, UNKNOWN_BITS, journaled, present

ROW = re.compile(r'<tr id="event-(\d+)"')


def rows(page: str) -> list[int]:
    return [int(seq) for seq in ROW.findall(page)]


async def test_without_a_login_no_event_is_shown(client: Client) -> None:
    await present(client)
    await journaled(client, 1, type="access")
    for path in ("/events", "/events/1", "/events?result=granted"):
        status, body, headers = await get(client, path)
        assert (status, headers.get("Location")) == (303, "/login"), (path, body)


async def test_a_role_without_logs_is_refused_the_events(client: Client) -> None:
    await site_with_roles(client)
    await logged_in_page(client, "networkadmin", PASSWORD)
    status, page, _ = await get(client, "/events")
    assert status == 403 and "logs" in page
    assert 'href="/events"' not in await _dashboard(client)  # and no link to them


async def _dashboard(client: Client) -> str:
    status, page, _ = await get(client, "/")
    assert status == 200
    return str(page)


async def test_the_filters_work_as_a_plain_form_newest_first(client: Client) -> None:
    await present(client)
    await present(client, UNKNOWN_BITS)
    await present(client, encode_h10301(12, 11111))  # Charles: inactive, denied
    found = await journaled(client, 3, type="access")
    await logged_in_page(client)
    status, page, _ = await get(client, "/events?door=front&result=denied")
    assert status == 200, page
    denied = [row["seq"] for row in found if row["granted"] is False]
    assert rows(page) == sorted(denied, reverse=True)
    assert "user_inactive" in page and "unknown_credential" in page
    status, page, _ = await get(client, "/events?user=1001")
    adas = [row["seq"] for row in await client.events(user_id="1001")]
    assert rows(page) == sorted(adas, reverse=True) and found[0]["seq"] in adas
    # the live table follows from the newest row, with the same filters
    status, page, _ = await get(client, "/events?door=front&result=denied")
    stream = html.unescape(re.search(r'data-stream="([^"]*)"', page).group(1))  # type: ignore[union-attr]
    assert stream == f"/api/v1/events/stream?after={max(denied)}&door=front&result=denied"
    status, page, _ = await get(client, "/events?result=maybe")
    assert status == 400 and "granted or denied" in page


async def test_the_trace_page_says_why_a_card_was_denied(client: Client) -> None:
    await present(client, encode_h10301(12, 11111))  # Charles: known, inactive
    row = (await journaled(client, 1, type="access"))[0]
    await logged_in_page(client)
    status, page, _ = await get(client, f"/events/{row['seq']}")
    assert status == 200, page
    assert '<dd class="mono" id="decided-by">user:inactive</dd>' in page
    assert "lookup:card,user=1003" in page
    assert encode_h10301(12, 11111) in page and "(26 bits)" in page
    assert "ms</dd>" in page  # the latency
    status, page, _ = await get(client, "/events/999999")
    assert status == 404 and "No such event" in page


async def test_a_granted_card_shows_the_strike_firing(client: Client) -> None:
    await present(client, ADA_BITS)
    row = (await journaled(client, 1, type="access", granted=True))[0]
    await journaled(client, 1, type="door", reason="unlocked")
    await logged_in_page(client)
    status, page, _ = await get(client, f"/events/{row['seq']}")
    assert status == 200
    assert "What the door did next" in page and "door: unlocked" in page


async def test_a_denial_shows_the_door_staying_shut_even_when_a_grant_followed(
    client: Client,
) -> None:
    await present(client, UNKNOWN_BITS)
    await present(client, ADA_BITS)
    await journaled(client, 1, type="door", reason="unlocked")
    denied = (await journaled(client, 1, type="access", granted=False))[0]
    await logged_in_page(client)
    status, page, _ = await get(client, f"/events/{denied['seq']}")
    assert status == 200
    assert "door: unlocked" not in page and "the door stayed as it was" in page
