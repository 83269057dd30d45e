"""Logging in to the status page with a browser's forms (no JavaScript): the session
cookie, its expiry, logout, the forced password change, CSRF, and no data without a
login. In-process gateway on simulated hardware, manual clock (tests/web/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from yarl import URL

from gateway.web.auth import ABSOLUTE_LIFETIME_S
from gateway.web.security import SESSION_COOKIE
from tests.page.forms import csrf_of, get, log_in, logged_in_page, post_form
from tests.web.conftest import PASSWORD, Client

PAGES = ("/", "/password")
DATA = ("/dashboard/live",)


async def test_without_a_login_pages_redirect_and_data_answers_401(client: Client) -> None:
    for path in PAGES:
        status, body, headers = await get(client, path)
        assert (status, headers.get("Location")) == (303, "/login"), (path, body)
    for path in DATA:
        status, body, _ = await get(client, path)
        assert status == 401, (path, body)
        assert "front" not in str(body) and "locked" not in str(body)


async def test_a_login_opens_the_dashboard_with_an_httponly_strict_cookie(client: Client) -> None:
    status, _, headers = await log_in(client)
    assert (status, headers["Location"]) == (303, "/")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, page, _ = await get(client, "/")
    assert status == 200
    assert 'id="door-front"' in page and 'id="door-back"' in page
    assert "admin" in page and "Log out" in page
    logins = await client.events(reason="login", user_id="admin")
    assert logins and logins[-1]["trace"].startswith("page from ")


async def test_a_wrong_password_answers_the_form_again_and_is_journaled(client: Client) -> None:
    status, page, headers = await log_in(client, "admin", "not the password")
    assert status == 401
    assert "Wrong username or password." in page
    assert SESSION_COOKIE not in headers.get("Set-Cookie", "")
    assert await client.events(reason="login_failed", user_id="admin")


async def test_the_login_form_is_throttled_as_the_api_is(client: Client) -> None:
    for _ in range(5):
        status, _, _ = await log_in(client, "admin", "not the password")
        assert status == 401
    status, page, headers = await log_in(client, "admin", "not the password")
    assert status == 429 and "Too many failed logins" in page
    assert int(headers["Retry-After"]) >= 1
    status, _, _ = await log_in(client)  # even the right password waits its turn
    assert status == 429
    client.clock.advance(2)
    status, _, _ = await log_in(client)
    assert status == 303


async def test_a_login_post_without_the_forms_token_is_refused(client: Client) -> None:
    form = {"csrf_token": "forged", "username": "admin", "password": "simulate"}
    status, page, headers = await post_form(client, "/login", form)
    assert status == 403 and "stale" in page
    assert SESSION_COOKIE not in headers.get("Set-Cookie", "")


async def test_logout_ends_the_session_and_needs_the_csrf_token(client: Client) -> None:
    page = await logged_in_page(client)
    status, _, _ = await post_form(client, "/logout", {})
    assert status == 403  # a form from elsewhere cannot log the technician out
    assert (await get(client, "/"))[0] == 200
    status, _, headers = await post_form(client, "/logout", {"csrf_token": csrf_of(page)})
    assert (status, headers["Location"]) == (303, "/login?out=1")
    assert (await get(client, "/"))[2].get("Location") == "/login"
    assert await client.events(reason="logout", user_id="admin")


async def test_the_old_cookie_is_dead_after_logout(client: Client) -> None:
    page = await logged_in_page(client)
    cookie = client.http.cookie_jar.filter_cookies(URL(client.base))[SESSION_COOKIE].value
    await post_form(client, "/logout", {"csrf_token": csrf_of(page)})
    status, _, _ = await client.call(
        "GET", "/", allow_redirects=False, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
    )
    assert status == 303


async def test_an_idle_session_expires(client: Client) -> None:
    await logged_in_page(client)
    idle = client.gateway.settings.web.token_idle_s
    client.clock.advance(idle - 1)
    assert (await get(client, "/"))[0] == 200  # in use: the idle time starts again
    client.clock.advance(idle - 1)
    assert (await get(client, "/"))[0] == 200
    client.clock.advance(idle + 1)
    status, _, headers = await get(client, "/")
    assert (status, headers["Location"]) == (303, "/login")


async def test_a_session_in_constant_use_still_ends_after_its_absolute_lifetime(
    client: Client,
) -> None:
    await logged_in_page(client)
    step = client.gateway.settings.web.token_idle_s / 2
    used = 0.0
    while used + step < ABSOLUTE_LIFETIME_S:
        client.clock.advance(step)
        used += step
        assert (await get(client, "/"))[0] == 200, used
    client.clock.advance(ABSOLUTE_LIFETIME_S - used + 1)
    assert (await get(client, "/"))[2].get("Location") == "/login"


async def test_a_one_time_password_must_be_changed_before_anything_else(client: Client) -> None:
    technicians = client.gateway.stores.technicians
    technicians.set_technician_password("newtech", PASSWORD, "SUPERADMIN", must_change=True)
    status, _, headers = await log_in(client, "newtech", PASSWORD)
    assert (status, headers["Location"]) == (303, "/password")
    for path in ("/", "/dashboard/live"):
        status, _, headers = await get(client, path)
        assert status in (303, 403) and headers.get("Location", "/password") == "/password"
    status, page, _ = await get(client, "/password")
    assert status == 200 and "one-time password" in page
    assert "Dashboard" not in page  # no navigation before the change
    new = "a quite different passphrase 42"
    form = {"csrf_token": csrf_of(page), "old": PASSWORD, "new": new, "again": new}
    status, _, headers = await post_form(client, "/password", form)
    assert (status, headers["Location"]) == (303, "/?notice=password")
    status, page, _ = await get(client, "/?notice=password")
    assert status == 200 and "Password changed." in page
    assert await client.events(reason="password_changed", user_id="newtech")


async def test_a_password_change_with_a_wrong_old_password_is_refused(client: Client) -> None:
    page = await logged_in_page(client)
    new = "a quite different passphrase 42"
    form = {"csrf_token": csrf_of(page), "old": "wrong", "new": new, "again": new}
    status, page, _ = await post_form(client, "/password", form)
    assert status == 403 and "current password is wrong" in page
    assert await client.events(reason="password_change_failed", user_id="admin")


async def test_a_streamed_login_body_is_cut_off_at_its_limit(client: Client) -> None:
    """Chunked (no declared length): read only up to the form's bound (4 KiB), not up to
    the server's largest body (4 MiB, for a photo)."""

    async def endless() -> AsyncIterator[bytes]:
        yield b"username=admin&password="
        for _ in range(16):
            yield b"x" * 4096

    status, _, _ = await client.call(
        "POST",
        "/login",
        data=endless(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert status == 413


async def test_a_form_with_a_field_twice_is_refused(client: Client) -> None:
    page = await logged_in_page(client)
    token = csrf_of(page)
    body = f"csrf_token={token}&on=0&on=1"
    status, _, _ = await client.call(
        "POST",
        "/doors/front/lockdown",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert status == 400
    assert not client.gateway.doors["front"].status()["lockdown"]


async def test_the_live_refresh_does_not_keep_an_unattended_session_alive(
    client: Client,
) -> None:
    await logged_in_page(client)
    idle = client.gateway.settings.web.token_idle_s
    # the script polling on a laptop left open: no person has acted since the page loaded
    client.clock.advance(idle / 2)
    assert (await get(client, "/dashboard/live"))[0] == 200
    client.clock.advance(idle / 2 - 1)
    assert (await get(client, "/dashboard/live"))[0] == 200
    client.clock.advance(2)
    assert (await get(client, "/dashboard/live"))[0] == 401
    assert (await get(client, "/"))[2].get("Location") == "/login"
