"""The status page as a browser without JavaScript uses it: forms and full page loads,
over an in-process gateway (`tests/web/conftest.py`), reading the hidden CSRF fields."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.web.conftest import Answer, Client

HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    found = HIDDEN_CSRF.search(page)
    assert found is not None, page
    return html.unescape(found.group(1))


async def get(client: Client, path: str) -> Answer:
    """A page load that does not follow redirects (the test looks at them)."""
    return await client.call("GET", path, allow_redirects=False)


async def post_form(client: Client, path: str, form: dict[str, str], **kwargs: Any) -> Answer:
    return await client.call("POST", path, data=form, allow_redirects=False, **kwargs)


async def log_in(client: Client, username: str = "admin", password: str = "simulate") -> Answer:
    """Open the login form, fill it in, send it: the answer to the POST."""
    status, page, _ = await get(client, "/login")
    assert status == 200, page
    form = {"csrf_token": csrf_of(page), "username": username, "password": password}
    return await post_form(client, "/login", form)


async def logged_in_page(
    client: Client, username: str = "admin", password: str = "simulate"
) -> str:
    """Log in and answer the dashboard's HTML."""
    status, body, headers = await log_in(client, username, password)
    assert status == 303 and headers["Location"] == "/", (status, body)
    status, page, _ = await get(client, "/")
    assert status == 200, page
    return str(page)
