"""A technician opens the history chart and runs the self-test in a real browser, on the
real daemon (simulated hardware)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from gateway.hw.formats import encode_h10301
from tests.daemon.conftest import SIMULATE, Daemon, start_daemon
from tests.page.conftest import PHONE, log_in, screenshot, sim


def test_the_history_page_shows_the_chart(logged_in: Page, daemon: Daemon) -> None:
    sim(daemon, "/sim/wiegand", {"reader": "front-wiegand", "bits": encode_h10301(12, 34567)})
    page = logged_in
    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(daemon.base_url + "/history")
    chart = page.get_by_role("img", name="Access in the last 24 hours")
    expect(chart).to_be_visible()
    expect(page.locator("svg.history-chart rect.bar.granted")).to_have_count(24)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600  # it fills the page, not a thumbnail
    totals = page.get_by_text("1 granted, 0 denied, 0 door alarms").first
    for _ in range(20):  # the decision reaches the journal on the writer's thread
        if totals.is_visible():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(totals).to_be_visible()
    screenshot(page, "history-desktop")
    page.set_viewport_size(PHONE)
    # The page itself does not scroll sideways; the chart keeps readable text and
    # scrolls inside its card instead.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    label = page.locator("svg.history-chart text").first.bounding_box()
    assert label is not None and label["height"] >= 10  # px: the axis labels stay legible
    current_hour = page.locator("svg.history-chart rect.bar.granted").last.bounding_box()
    assert current_hour is not None and current_hour["x"] + current_hour["width"] <= PHONE["width"]
    screenshot(page, "history-phone")


def test_pressing_self_test_shows_the_results(logged_in: Page, daemon: Daemon) -> None:
    page = logged_in
    page.get_by_role("link", name="Self-test").click()
    expect(page.get_by_text("No self-test has run since the daemon started.")).to_be_visible()
    page.get_by_role("button", name="Run the self-test").click()
    expect(page).to_have_url(daemon.base_url + "/selftest")
    results = page.locator("li.check")
    expect(results.first).to_be_visible()
    assert results.count() >= 10
    gpio = results.filter(has=page.locator(".check-name", has_text=re.compile("^GPIO$")))
    expect(gpio).to_contain_text("simulated")
    database = results.filter(has=page.locator(".check-name", has_text=re.compile("^database$")))
    expect(database).to_contain_text("intact")
    expect(page.get_by_text("by admin")).to_be_visible()
    screenshot(page, "selftest-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "selftest-phone")


def test_the_configuration_page_shows_the_check_and_masked_settings(
    logged_in: Page, daemon: Daemon
) -> None:
    page = logged_in
    page.get_by_role("link", name="Configuration").click()
    expect(page.get_by_text("The file on disk is valid")).to_be_visible()
    page.get_by_text("http_unlock", exact=True).click()  # open its section
    key = page.get_by_role("rowheader", name="http_unlock.password", exact=True)
    password = page.locator("tr").filter(has=key)
    expect(password).to_be_visible()
    expect(password).to_contain_text("****")
    assert 'simulate"' not in page.content()  # the clear-text passwords of simulate.toml
    screenshot(page, "config-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "config-phone")


def test_a_long_configuration_path_fits_a_phone(page: Page, tmp_path: Path) -> None:
    """An installer's configuration may live deep in a path with no spaces or hyphens to
    break at: the page wraps it instead of scrolling the whole page sideways."""
    folder = tmp_path / "installations" / "srv" / "doorgatewayconfiguration" / "frontentrance"
    folder.mkdir(parents=True)
    config = folder / "simulate.toml"
    shutil.copy(SIMULATE, config)
    daemon = start_daemon(tmp_path / "state", config=config)
    try:
        log_in(page, daemon)
        page.goto(daemon.base_url + "/config")
        expect(page.get_by_text(str(config)).first).to_be_visible()
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        daemon.stop()
