"""A technician reads a reader's diagnostics and learns a card in a real browser, against
the real daemon on simulated hardware (frames played through /sim/wiegand)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon
from tests.page.conftest import PHONE, screenshot, sim

READER = "front-wiegand"
NEW_CARD = encode_h10301(12, 40000)  # printed on the card as 12/40000; nobody has it yet
# The same frame with its last data bit flipped: the trailing (odd) parity fails.
BAD_PARITY = NEW_CARD[:-2] + ("0" if NEW_CARD[-2] == "1" else "1") + NEW_CARD[-1]


def present(daemon: Daemon, bits: str) -> None:
    sim(daemon, "/sim/wiegand", {"reader": READER, "bits": bits})


def test_read_the_diagnostics_of_a_frame_with_bad_parity(logged_in: Page, daemon: Daemon) -> None:
    page = logged_in
    present(daemon, BAD_PARITY)
    page.get_by_role("link", name="Readers").click()
    reader = page.locator(f"#reader-{READER}")
    newest = reader.locator("li.frame").first
    expect(newest).to_contain_text(BAD_PARITY)
    expect(newest).to_contain_text("parity: bad")
    expect(newest).to_contain_text("H10301: parity bit 25 (odd over bits 13-24) is wrong")
    expect(reader).to_contain_text("parity 1")
    screenshot(page, "readers-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "readers-phone")


def test_learn_a_card_and_enroll_it_then_the_door_opens(logged_in: Page, daemon: Daemon) -> None:
    page = logged_in
    page.get_by_role("link", name="Readers").click()
    page.locator(f"#reader-{READER}").get_by_role("link", name="Learn a card").click()
    # "Wait for the next card", then the card is presented: the page comes back with it.
    page.get_by_role("button", name="Wait for the next card").click(no_wait_after=True)
    present(daemon, NEW_CARD)
    expect(page.get_by_role("radio", checked=True)).to_have_accessible_name(
        re.compile(r"^#1 .* accepted \(H10301\)"), timeout=20_000
    )
    page.get_by_label("Number printed on the card").fill("12/40000")
    page.get_by_role("button", name="Find matches").click()
    best = page.locator("#matches tr.candidate").first
    expect(best).to_contain_text("H10301")
    expect(best).to_contain_text("facility/card")
    expect(best).to_contain_text("best")
    screenshot(page, "learn-a-card")
    page.get_by_label("Enroll card 0C9C40 for user ID").fill("1002")
    page.get_by_role("button", name="Enroll card").click()
    expect(page.get_by_role("status")).to_contain_text("Card enrolled")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#door-front [data-field=lock]")).to_have_text("locked")
    present(daemon, NEW_CARD)  # the same card, denied while it was unknown
    page.reload()
    expect(page.locator("#door-front [data-field=lock]")).to_have_text("unlocked")
