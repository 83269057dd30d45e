"""Browser tests of the status page: the real daemon as a subprocess on simulated
hardware (`tests/daemon/conftest.py`), driven by Playwright through Debian's chromium.

No browser is ever downloaded (`playwright install` is never run): chromium comes from
the Debian package (`scripts/system-deps.sh test`). If it is missing, the tests FAIL
with what to install; nothing is skipped. Screenshots go to `test-artifacts/`
(git-ignored) for a person to look at.

The tests are plain functions on Playwright's sync API: the daemon is another process,
so no event loop is needed on this side.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.daemon.conftest import REPO, Daemon, start_daemon
from tests.web.conftest import client, start  # noqa: F401 (fixtures of the unit tests)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
ADMIN, ADMIN_PASSWORD = "admin", "simulate"  # config/simulate.toml
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Per module, not per session: while it runs, Playwright's sync API holds an event
    loop on this thread, which the asyncio tests of the other modules must not meet."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless; `--no-sandbox` only as root (CI runs as root, and
    chromium's sandbox refuses to start there)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. "
            "Install it with `bash scripts/system-deps.sh test` "
            "(apt-get install chromium fonts-dejavu-core)."
        )
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    yield launched
    launched.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """The real daemon on config/simulate.toml, on a free loopback port."""
    running = start_daemon(tmp_path / "state")
    yield running
    running.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at desktop size."""
    fresh = browser.new_context(viewport=DESKTOP)
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def log_in(
    page: Page, daemon: Daemon, username: str = ADMIN, password: str = ADMIN_PASSWORD
) -> None:
    """Log in through the login form, as a technician would."""
    page.goto(daemon.base_url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


@pytest.fixture
def logged_in(page: Page, daemon: Daemon) -> Page:
    """A page logged in as the simulation's admin, on the dashboard."""
    log_in(page, daemon)
    assert page.url == daemon.base_url + "/", page.content()
    return page


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/ (for a person to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sim(daemon: Daemon, path: str, body: dict[str, Any]) -> Any:
    """POST to the daemon's /sim API (loopback, no login), JSON in and out."""
    request = urllib.request.Request(
        daemon.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")
