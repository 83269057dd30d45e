"""A technician logs in to the status page in a real browser and sees the doors."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.daemon.conftest import Daemon
from tests.page.conftest import log_in, screenshot


def test_a_technician_logs_in_and_sees_both_doors(page: Page, daemon: Daemon) -> None:
    page.goto(daemon.base_url + "/")
    expect(page).to_have_url(daemon.base_url + "/login")  # no data without a login
    screenshot(page, "login-1280")
    log_in(page, daemon, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    log_in(page, daemon)
    expect(page).to_have_url(daemon.base_url + "/")
    expect(page.locator("#door-front")).to_be_visible()
    expect(page.locator("#door-back")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
