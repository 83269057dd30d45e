"""The dashboard as a browser without JavaScript sees it, and its door forms: what each
role sees, what the server refuses, and what a door command does and journals."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from gateway.hw.formats import encode_h10301
from tests.page.forms import csrf_of, get, logged_in_page, post_form
from tests.web.conftest import PASSWORD, Client

SETTLE_S = 0.15  # past the 50 ms input debounce, on the real event loop
ADA_BITS = encode_h10301(12, 34567)
MAX_PAGE_BYTES = 200 * 1024


async def technician(client: Client, level: str) -> str:
    """Log in as a new technician of `level`: the dashboard's HTML."""
    name = level.lower()
    client.gateway.stores.technicians.set_technician_password(name, PASSWORD, level)
    return await logged_in_page(client, name, PASSWORD)


async def sim(client: Client, path: str, body: dict[str, Any]) -> None:
    status, answer, _ = await client.call("POST", path, json=body)
    assert status == 200, answer
    await asyncio.sleep(SETTLE_S)


async def wait_for_event(client: Client, **match: Any) -> None:
    for _ in range(100):
        await client.gateway.recorder.flush()
        if await client.events(**match):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no event {match}")


def door_card(page: str, door: str) -> str:
    """The HTML of one door's card."""
    found = re.search(rf'<section class="card door" id="door-{door}".*?</section>', page, re.S)
    assert found is not None, page
    return found.group(0)


def front(client: Client) -> dict[str, Any]:
    return client.gateway.doors["front"].status()


async def test_the_dashboard_shows_doors_readers_and_services(client: Client) -> None:
    page = await technician(client, "SUPERADMIN")
    for door in ("front", "back"):
        card = door_card(page, door)
        assert "locked" in card and "closed" in card
    for reader in ("front-wiegand", "front-keypad", "back-qr", "back-nfc", "back-exit"):
        assert reader in page
    assert "Upstream" in page and "not configured" in page
    assert "Store" in page and ">3<" in page  # users of the simulation
    assert "Journal" in page and "Last event" in page
    assert "System" in page and "0.1.0" in page and "Clock synchronised" in page
    assert "Disk free" in page and "Memory available" in page


async def test_a_reader_shows_its_last_credential_masked_as_the_journal_masks_it(
    client: Client,
) -> None:
    await sim(client, "/sim/wiegand", {"reader": "front-wiegand", "bits": ADA_BITS})
    await sim(client, "/sim/keys", {"reader": "front-keypad", "keys": "2468#"})
    await wait_for_event(client, type="access", reader="front-keypad")
    page = await technician(client, "SUPERADMIN")
    assert "0C8707" in page  # a card number is shown, as in the journal
    assert "****" in page and "2468" not in page  # a PIN never
    assert "granted" in page


async def test_a_role_without_logs_sees_no_credentials(client: Client) -> None:
    await sim(client, "/sim/wiegand", {"reader": "front-wiegand", "bits": ADA_BITS})
    await wait_for_event(client, type="access", reader="front-wiegand")
    page = await technician(client, "NETWORKADMIN")
    assert "front-wiegand" in page and "0C8707" not in page


async def test_a_role_that_may_not_move_doors_sees_no_buttons_and_is_refused(
    client: Client,
) -> None:
    page = await technician(client, "USERADMIN")
    assert "Pulse" not in page and "Lock down" not in page and "/doors/" not in page
    for action, form in (("pulse", {}), ("lockdown", {"on": "1"}), ("acknowledge", {})):
        status, answer, _ = await post_form(
            client, f"/doors/front/{action}", {"csrf_token": csrf_of(page), **form}
        )
        assert status == 403 and "needs the terminal capability" in answer, action
    assert front(client)["lock"] == "locked" and not front(client)["lockdown"]
    assert not await client.events(reason="remote_pulse")


async def test_a_door_form_without_the_csrf_token_is_refused(client: Client) -> None:
    await technician(client, "SUPERADMIN")
    status, _, _ = await post_form(client, "/doors/front/pulse", {})
    assert status == 403
    status, _, _ = await post_form(client, "/doors/front/pulse", {"csrf_token": "forged"})
    assert status == 403
    assert front(client)["lock"] == "locked"


async def test_pulse_asks_to_confirm_then_unlocks_and_is_journaled(client: Client) -> None:
    page = await technician(client, "SUPERADMIN")
    card = door_card(page, "front")
    assert "Pulse" in card and "Yes, unlock front for 5 s" in card  # inside <details>
    form = {"csrf_token": csrf_of(page)}
    status, _, headers = await post_form(client, "/doors/front/pulse", form)
    assert (status, headers["Location"]) == (303, "/?notice=pulse&door=front#door-front")
    assert front(client)["lock"] == "unlocked" and front(client)["relay_energised"]
    await wait_for_event(client, reason="remote_pulse", user_id="superadmin")
    status, page, _ = await get(client, headers["Location"])
    assert "Pulse sent to front." in page and "unlocked" in door_card(page, "front")


async def test_a_forced_open_alarm_is_shown_and_acknowledged(client: Client) -> None:
    await sim(client, "/sim/input", {"door": "front", "input": "contact", "active": True})
    await sim(client, "/sim/input", {"door": "front", "input": "contact", "active": False})
    assert "forced_open" in front(client)["alarms"]
    page = await technician(client, "SUPERADMIN")
    card = door_card(page, "front")
    assert "forced open" in card and "Acknowledge" in card
    status, _, _ = await post_form(
        client, "/doors/front/acknowledge", {"csrf_token": csrf_of(page)}
    )
    assert status == 303
    assert front(client)["alarms"] == []
    page = (await get(client, "/"))[1]
    assert "forced open" not in door_card(page, "front")


async def test_the_lockdown_switch_locks_the_door_and_pulse_is_then_refused(
    client: Client,
) -> None:
    page = await technician(client, "SUPERADMIN")
    form = {"csrf_token": csrf_of(page), "on": "1"}
    status, _, _ = await post_form(client, "/doors/front/lockdown", form)
    assert status == 303 and front(client)["lockdown"]
    page = (await get(client, "/"))[1]
    assert "End lockdown" in door_card(page, "front")
    status, _, headers = await post_form(
        client, "/doors/front/pulse", {"csrf_token": csrf_of(page)}
    )
    assert "refused_lockdown" in headers["Location"] and front(client)["lock"] == "locked"
    page = (await get(client, headers["Location"]))[1]
    assert '<p class="notice bad" role="status">front is in lockdown: no pulse.</p>' in page
    status, _, _ = await post_form(client, "/doors/front/lockdown", {**form, "on": "0"})
    assert not front(client)["lockdown"]


async def test_a_notice_names_only_a_door_that_exists(client: Client) -> None:
    await technician(client, "SUPERADMIN")
    page = (await get(client, "/?notice=pulse&door=<script>x</script>"))[1]
    assert "Pulse sent" not in page and "<script>x" not in page


async def test_an_unknown_door_is_404_and_a_bad_switch_400(client: Client) -> None:
    page = await technician(client, "SUPERADMIN")
    token = {"csrf_token": csrf_of(page)}
    assert (await post_form(client, "/doors/nowhere/pulse", token))[0] == 404
    assert (await post_form(client, "/doors/front/lockdown", {**token, "on": "x"}))[0] == 400


async def test_the_live_part_is_the_dashboard_without_its_frame(client: Client) -> None:
    await technician(client, "SUPERADMIN")
    status, part, headers = await get(client, "/dashboard/live")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert 'id="door-front"' in part and "<html" not in part


async def test_the_dashboard_with_its_style_and_script_is_under_200_kb(client: Client) -> None:
    page = await technician(client, "SUPERADMIN")
    total = len(page.encode())
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert len(assets) == 2 and all("?v=" in asset for asset in assets)  # new URL per release
    for asset in assets:
        status, body, _ = await get(client, asset)
        assert status == 200
        total += len(body.encode())
    assert total < MAX_PAGE_BYTES
