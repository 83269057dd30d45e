"""The reader pages with a browser's forms (no JavaScript): a frame's diagnostics, learning
a card from its printed number and enrolling it, and what each role may see. In-process
gateway on simulated hardware (tests/web/conftest.py)."""

from __future__ import annotations

import asyncio
import html

import pytest

from gateway.hw.formats import encode_h10301
from gateway.web.page import readers as page_readers
from tests.page.forms import csrf_of, get, logged_in_page, login_for, post_form
from tests.web.conftest import PASSWORD, Client

READER = "front-wiegand"
NEW_CARD = encode_h10301(12, 40000)  # printed 12/40000; nobody has it yet
NEW_CANONICAL = "0C9C40"
LEARN = f"/readers/{READER}/learn"


async def present(client: Client, bits: str) -> None:
    status, body, _ = await client.call(
        "POST", "/sim/wiegand", json={"reader": READER, "bits": bits}
    )
    assert status == 200, body


def damaged(bits: str) -> str:
    return bits[:-2] + ("0" if bits[-2] == "1" else "1") + bits[-1]


async def test_without_a_login_the_reader_pages_redirect(client: Client) -> None:
    for path in ("/readers", LEARN):
        status, _, headers = await get(client, path)
        assert (status, headers.get("Location")) == (303, login_for(path)), path
    status, _, headers = await post_form(client, f"/readers/{READER}/enroll", {"frame": "1"})
    assert (status, headers.get("Location")) == (303, "/login")


async def test_the_readers_page_explains_a_frame_with_bad_parity(client: Client) -> None:
    await logged_in_page(client)
    await present(client, damaged(NEW_CARD))
    status, page, _ = await get(client, "/readers")
    assert status == 200
    text = html.unescape(page)
    assert 'id="reader-front-wiegand"' in page
    assert damaged(NEW_CARD) in text
    assert "parity bit 25 (odd over bits 13-24) is wrong" in text
    assert "parity 1" in text  # the rejection counter
    assert 'href="/readers/front-wiegand/learn"' in page


async def test_learn_then_enroll_with_forms_and_the_card_opens_the_door(client: Client) -> None:
    await logged_in_page(client)
    await present(client, NEW_CARD)
    status, page, _ = await get(client, f"{LEARN}?printed=12%2F40000")
    assert status == 200, page
    text = html.unescape(page)
    assert "H10301" in text and "facility/card" in text and "best" in text
    assert f"Enroll card {NEW_CANONICAL}" in text
    frame = text.split('name="frame" value="')[1].split('"')[0]
    form = {"csrf_token": csrf_of(page), "frame": frame, "user_id": "1002", "printed": "12/40000"}
    status, _, headers = await post_form(client, f"/readers/{READER}/enroll", form)
    assert status == 303 and headers["Location"].startswith(LEARN + "?notice=enrolled")
    status, page, _ = await get(client, headers["Location"])
    assert "Card enrolled" in page

    await present(client, NEW_CARD)
    for _ in range(100):
        granted = await client.events(type="access", credential=NEW_CANONICAL, granted=True)
        if granted:
            break
        await asyncio.sleep(0.02)
    assert granted and granted[0]["user_id"] == "1002"


async def test_a_garbage_number_or_unknown_user_says_why_and_stores_nothing(
    client: Client,
) -> None:
    await logged_in_page(client)
    await present(client, NEW_CARD)
    status, page, _ = await get(client, f"{LEARN}?printed=hello%21")
    assert status == 400
    assert "type the number printed on the card" in html.unescape(page)
    before = [u.cards for u in client.gateway.stores.users.list_users()]
    status, page, _ = await get(client, f"{LEARN}?printed=12%2F40000")
    frame = page.split('name="frame" value="')[1].split('"')[0]
    form = {"csrf_token": csrf_of(page), "frame": frame, "user_id": "nobody"}
    status, page, _ = await post_form(client, f"/readers/{READER}/enroll", form)
    assert status == 404 and "nobody" in html.unescape(page)
    assert [u.cards for u in client.gateway.stores.users.list_users()] == before


async def test_an_unknown_reader_is_404(client: Client) -> None:
    await logged_in_page(client)
    status, page, _ = await get(client, "/readers/nowhere/learn")
    assert status == 404 and "nowhere" in html.unescape(page)


async def test_a_role_without_logs_sees_no_bits_and_cannot_learn(client: Client) -> None:
    client.gateway.stores.technicians.set_technician_password("net", PASSWORD, level="NETWORKADMIN")
    await logged_in_page(client, "net", PASSWORD)
    await present(client, NEW_CARD)
    status, page, _ = await get(client, "/readers")
    assert status == 200
    assert NEW_CARD not in page and "40000" not in page
    assert "Learn a card" not in page
    status, page, _ = await get(client, LEARN)
    assert status == 403


async def test_the_readers_page_shows_a_frame_of_every_reader_kind(client: Client) -> None:
    await logged_in_page(client)
    for path, body in (
        ("/sim/keys", {"reader": "front-keypad", "keys": "12"}),
        ("/sim/qr", {"reader": "back-qr", "text": "ticket-7"}),
        ("/sim/card", {"reader": "back-nfc", "uid": "04A1B2C3"}),
        ("/sim/card", {"reader": "back-exit", "uid": "04A1B2C3"}),
    ):
        status, answer, _ = await client.call("POST", path, json=body)
        assert status == 200, answer
    await asyncio.sleep(0.5)  # the NFC and PC/SC readers deliver from their threads
    status, page, _ = await get(client, "/readers")
    assert status == 200, page
    assert "uid 04A1B2C3" in page and "ticket-7" not in page


async def test_wait_for_a_card_answers_when_its_frame_arrives(client: Client) -> None:
    await logged_in_page(client)
    await present(client, NEW_CARD)  # frame 1, already on the page
    status, page, _ = await get(client, LEARN)
    assert 'name="after" value="1"' in page  # the "wait for the next card" form
    waiting = asyncio.create_task(get(client, f"{LEARN}?after=1"))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # no new frame yet: the page waits
    await present(client, encode_h10301(12, 40001))
    status, page, _ = await waiting
    assert status == 200
    assert 'value="2" checked' in page  # the new card's frame, chosen


async def test_wait_for_a_card_gives_up_and_says_what_to_check(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_readers, "WAIT_S", 0.3)
    await logged_in_page(client)
    status, page, _ = await get(client, f"{LEARN}?after=0")
    assert status == 200
    assert "No frame from front-wiegand in" in html.unescape(page)


async def test_the_readers_page_stays_small_with_every_frame_listed(client: Client) -> None:
    """Each page under 200 KB (a phone on a weak Wi-Fi), with 20 frames on each reader."""
    await logged_in_page(client)
    for card in range(20):
        await present(client, damaged(encode_h10301(12, card)))
    status, page, _ = await get(client, "/readers")
    assert status == 200
    assert page.count('class="frame"') == 20
    size = len(page.encode())
    assert size < 200_000, size


async def test_the_readers_page_shows_an_osdp_readers_secure_channel_and_install_mode(
    client: Client,
) -> None:
    await logged_in_page(client)
    for _ in range(200):  # the simulated PD is keyed in install mode first
        status, page, _ = await get(client, "/readers")
        assert status == 200
        if 'data-field="secure-channel"><span class="badge good">yes' in page:
            break
        await asyncio.sleep(0.05)
    text = html.unescape(page)
    section = text.split('id="reader-back-osdp"')[1].split("</section>")[0]
    assert "Secure Channel</dt>" in section and "yes</span> own key" in section
    assert "install mode is on" in section and 'class="notice warn"' in section
