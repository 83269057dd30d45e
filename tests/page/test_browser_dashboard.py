"""The dashboard in Debian's chromium against the real daemon on simulated hardware: a
pulse with its confirmation moves the relay, a forced-open alarm is acknowledged, the
page works without JavaScript, and screenshots at 1280 px and 360 px for a person."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from playwright.sync_api import Browser, Page, expect

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import Daemon
from tests.page.conftest import DESKTOP, PHONE, log_in, screenshot, sim

SETTLE_S = 0.2  # past the 50 ms contact debounce


def outputs(daemon: Daemon) -> dict[str, Any]:
    with urllib.request.urlopen(daemon.base_url + "/sim/outputs", timeout=10) as answer:
        return dict(json.loads(answer.read())["doors"])


def set_contact(daemon: Daemon, is_open: bool) -> None:
    sim(daemon, "/sim/input", {"door": "front", "input": "contact", "active": is_open})
    time.sleep(SETTLE_S)


def test_pulse_a_door_after_confirming_and_see_the_relay_change(
    logged_in: Page, daemon: Daemon
) -> None:
    page = logged_in
    door = page.locator("#door-front")
    assert outputs(daemon)["front"]["relay"] == "locked"
    door.get_by_text("Pulse…").click()
    confirm = door.get_by_role("button", name="Yes, unlock front for 5 s")
    expect(confirm).to_be_visible()
    confirm.click()
    expect(page.get_by_role("status")).to_have_text("Pulse sent to front.")
    expect(page.locator("#door-front [data-field=relay]")).to_have_text("energised")
    assert outputs(daemon)["front"]["relay"] == "unlocked"


def test_acknowledge_a_forced_open_alarm(logged_in: Page, daemon: Daemon) -> None:
    page = logged_in
    set_contact(daemon, True)  # opened while locked: forced open
    set_contact(daemon, False)
    door = page.locator("#door-front")
    # the live refresh brings the alarm in without a reload
    expect(door.locator("[data-field=alarms]")).to_contain_text("forced open", timeout=8000)
    door.get_by_role("button", name="Acknowledge alarms").click()
    expect(page.get_by_role("status")).to_have_text("Alarms of front acknowledged.")
    expect(page.locator("#door-front [data-field=alarms]")).to_have_text("none")


def test_screenshots_of_the_dashboard_on_a_laptop_and_a_phone(
    browser: Browser, daemon: Daemon
) -> None:
    sim(daemon, "/sim/wiegand", {"reader": "front-wiegand", "bits": encode_h10301(12, 11111)})
    sim(daemon, "/sim/keys", {"reader": "front-keypad", "keys": "1234#"})
    time.sleep(SETTLE_S)  # something for the readers' rows to show
    shots = (
        ("dashboard-1280", DESKTOP, "light"),
        ("dashboard-360", PHONE, "light"),
        ("dashboard-360-dark", PHONE, "dark"),  # the system's dark theme: a dark cupboard
    )
    for name, viewport, scheme in shots:
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        page = context.new_page()
        log_in(page, daemon)
        expect(page.locator("#door-back")).to_be_visible()
        expect(page.locator("#reader-front-wiegand")).to_contain_text("0C2B67")
        expect(page.locator("#reader-front-keypad")).to_contain_text("****")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: the page scrolls sideways ({width} px)"
        assert screenshot(page, name).stat().st_size > 10_000
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(0, 0, 0)" if scheme == "dark" else "rgb(255, 255, 255)")
        context.close()


def test_without_javascript_the_dashboard_renders_and_pulse_works(
    browser: Browser, daemon: Daemon
) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    log_in(page, daemon)
    expect(page.locator("#door-front")).to_be_visible()
    expect(page.locator("#door-back")).to_be_visible()
    door = page.locator("#door-front")
    door.get_by_text("Pulse…").click()  # <details> opens without a script
    door.get_by_role("button", name="Yes, unlock front for 5 s").click()
    expect(page.get_by_role("status")).to_have_text("Pulse sent to front.")
    assert outputs(daemon)["front"]["relay"] == "unlocked"
    screenshot(page, "dashboard-360-no-javascript")
    context.close()


def test_the_keyboard_reaches_the_skip_link_first(logged_in: Page) -> None:
    page = logged_in
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
