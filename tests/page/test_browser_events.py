"""In a real browser: a card presented at the door appears on the events page by itself,
and a click on it tells why it was decided so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon
from tests.page.conftest import DESKTOP, PHONE, screenshot, sim

CHARLES_BITS = encode_h10301(12, 11111)  # known card, inactive user: denied
ADA_BITS = encode_h10301(12, 34567)


@pytest.fixture
def browser_no_js(browser: Browser) -> Iterator[Page]:
    """A fresh profile with JavaScript turned off."""
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def present(daemon: Daemon, bits: str) -> None:
    sim(daemon, "/sim/wiegand", {"reader": "front-wiegand", "bits": bits})


def test_a_presented_card_appears_live_and_its_trace_says_why(
    logged_in: Page, daemon: Daemon
) -> None:
    page = logged_in
    page.get_by_role("link", name="Events").click()
    expect(page).to_have_url(daemon.base_url + "/events")
    expect(page.locator("#events")).to_have_attribute("data-live", "1")  # the stream is open
    page.evaluate("window.notReloaded = true")

    present(daemon, CHARLES_BITS)
    denied = page.locator("#events tbody tr", has_text="user_inactive").first
    expect(denied).to_be_visible()
    expect(denied).to_contain_text("denied")
    present(daemon, ADA_BITS)
    granted = page.locator("#events tbody tr", has_text="granted").first
    expect(granted).to_contain_text("1001")
    expect(page.locator("#events tbody tr").first).to_contain_text("unlocked")  # the strike
    assert page.evaluate("window.notReloaded") is True  # no reload: the stream did it
    screenshot(page, "events-desktop")

    denied.get_by_role("link", name="user_inactive").click()
    expect(page.locator("#decided-by")).to_have_text("user:inactive")
    expect(page.locator("#raw-frame")).to_contain_text(CHARLES_BITS)
    expect(page.locator("#trace-steps li").first).to_contain_text("lookup:card,user=1003")
    page.set_viewport_size(PHONE)
    screenshot(page, "event-trace-phone")


def test_the_events_page_works_without_javascript(daemon: Daemon, browser_no_js: Page) -> None:
    page = browser_no_js
    present(daemon, CHARLES_BITS)
    page.goto(daemon.base_url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("simulate")
    page.get_by_role("button", name="Log in").click()
    page.goto(daemon.base_url + "/events")
    page.get_by_label("Result").select_option("denied")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(daemon.base_url + "/events?door=&reader=&result=denied&user=")
    expect(page.locator("#events tbody tr").first).to_contain_text("user_inactive")
    expect(page.locator("#events")).not_to_have_attribute("data-live", "1")
