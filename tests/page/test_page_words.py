"""What a technician who has never seen the project reads on the page: every reason in
words with what to do, pages (not JSON) when something is not found or a form is wrong,
the way back to the page asked for after logging in, and links from the dashboard to
where the details are. In-process gateway on simulated hardware (tests/web/conftest.py)."""

from __future__ import annotations

import html
import re
import urllib.parse

from gateway.hw.formats import encode_h10301
from tests.page.forms import csrf_of, get, log_in, logged_in_page, post_form
from tests.web.conftest import Client
from tests.web.sse import open_stream
from tests.web.test_event_stream import ADA_BITS, journaled, present

CHARLES_BITS = encode_h10301(12, 11111)  # user 1003: known, inactive
INACTIVE_WORDS = "User 1003 is inactive."
INACTIVE_TODO = "activate the user, or check their validity dates"


def text_of(page: str) -> str:
    """The page as a person reads it: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_the_events_table_says_each_reason_in_words_beside_its_code(
    client: Client,
) -> None:
    await present(client, CHARLES_BITS)
    await journaled(client, 1, type="access")
    await logged_in_page(client)
    status, page, _ = await get(client, "/events")
    assert status == 200
    words = text_of(page)
    assert "user_inactive" in words and INACTIVE_WORDS in words and INACTIVE_TODO in words


async def test_the_trace_page_says_why_first_in_words_and_that_the_door_stayed_locked(
    client: Client,
) -> None:
    await present(client, CHARLES_BITS)
    row = (await journaled(client, 1, type="access"))[0]
    await logged_in_page(client)
    status, page, _ = await get(client, f"/events/{row['seq']}")
    assert status == 200
    words = text_of(page)
    why = words.index(INACTIVE_WORDS)
    assert why < words.index("Decided by")  # the words come before the rule codes
    assert INACTIVE_TODO in words
    assert "the strike did not fire" in words and "stayed locked" in words


async def test_a_grant_trace_says_in_words_that_the_strike_fired(client: Client) -> None:
    await present(client, ADA_BITS)
    row = (await journaled(client, 1, type="access", granted=True))[0]
    await journaled(client, 1, type="door", reason="unlocked")  # (its relocking, after the
    # pulse's real seconds, is in the browser test's walk)
    await logged_in_page(client)
    words = text_of((await get(client, f"/events/{row['seq']}"))[1])
    assert "Access granted to user 1001" in words
    assert "Door front unlocked: the strike fired" in words


async def test_the_dashboard_links_readers_doors_and_the_last_credential(
    client: Client,
) -> None:
    await present(client, CHARLES_BITS)
    row = (await journaled(client, 1, type="access"))[0]
    page = await logged_in_page(client)
    assert 'href="/readers#reader-front-wiegand"' in page
    assert 'href="/events?door=front"' in page and 'href="/events?door=back"' in page
    assert f'href="/events/{row["seq"]}"' in page
    assert INACTIVE_WORDS in text_of(page)


async def test_the_dashboard_counts_the_open_event_streams(client: Client) -> None:
    await logged_in_page(client)
    assert "Live event streams 0 open" in text_of((await get(client, "/"))[1])
    stream = await open_stream(client.http, client.base)  # the page's cookie opens it
    try:
        assert "Live event streams 1 open" in text_of((await get(client, "/"))[1])
    finally:
        stream.close()


async def test_an_unknown_door_or_a_bad_form_is_a_page_with_a_way_back(client: Client) -> None:
    token = {"csrf_token": csrf_of(await logged_in_page(client))}
    status, body, headers = await post_form(client, "/doors/nowhere/pulse", token)
    assert status == 404 and headers["Content-Type"].startswith("text/html"), body
    assert "nowhere" in body and 'href="/">Back to the dashboard' in body
    status, body, headers = await post_form(client, "/doors/front/lockdown", {**token, "on": "x"})
    assert status == 400 and headers["Content-Type"].startswith("text/html"), body
    assert "expected 1 or 0" in body and 'href="/"' in body
    status, body, headers = await get(client, "/events/999999")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert 'href="/events"' in body
    # the API's answers stay JSON
    status, body, headers = await client.call(
        "POST", "/api/v1/doors/nowhere/pulse", headers=await client.token_headers()
    )
    assert status == 404 and headers["Content-Type"].startswith("application/json")


async def test_a_form_field_given_twice_is_a_page(client: Client) -> None:
    token = csrf_of(await logged_in_page(client))
    body = f"csrf_token={token}&on=1&on=0"
    status, page, headers = await client.call(
        "POST", "/doors/front/lockdown", data=body, allow_redirects=False,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert status == 400 and headers["Content-Type"].startswith("text/html"), page
    assert "twice" in page and 'href="/"' in page


async def test_after_login_the_page_asked_for_opens(client: Client) -> None:
    status, _, headers = await get(client, "/events?door=front")
    location = urllib.parse.urlsplit(headers["Location"])
    assert status == 303 and location.path == "/login"
    assert urllib.parse.parse_qs(location.query) == {"next": ["/events?door=front"]}
    status, page, _ = await get(client, headers["Location"])
    assert status == 200 and 'name="next" value="/events?door=front"' in page
    form = {"csrf_token": csrf_of(page), "username": "admin", "password": "simulate"}
    status, _, headers = await post_form(client, "/login", {**form, "next": "/events?door=front"})
    assert (status, headers["Location"]) == (303, "/events?door=front")


async def test_after_login_no_other_site_is_opened(client: Client) -> None:
    for elsewhere in (
        "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
        "javascript:alert(1)", "/%2F%2Fevil.example", "events", "/\t/evil.example",
    ):  # fmt: skip
        status, page, _ = await get(client, "/login")
        form = {"csrf_token": csrf_of(page), "username": "admin", "password": "simulate"}
        status, _, headers = await post_form(client, "/login", {**form, "next": elsewhere})
        assert (status, headers["Location"]) == (303, "/"), elsewhere
        await post_form(client, "/logout", {"csrf_token": csrf_of((await get(client, "/"))[1])})
    status, page, _ = await get(client, "/login?next=//evil.example")
    assert "evil" not in page


async def test_a_plain_login_still_opens_the_dashboard(client: Client) -> None:
    status, _, headers = await log_in(client)
    assert (status, headers["Location"]) == (303, "/")


async def test_the_live_table_reads_the_words_from_the_daemon(client: Client) -> None:
    status, _, _ = await get(client, "/events/reasons")
    assert status == 401  # a script's data: no login, no words
    await logged_in_page(client)
    status, words, headers = await get(client, "/events/reasons")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert words["reasons"]["user_inactive"] == {
        "what": "{user} is inactive.",
        "todo": INACTIVE_TODO,
    }
    assert "HTTP error" in words["prefixes"]["upstream_http_"]["what"]


async def test_an_unknown_reader_is_a_not_found_page_back_to_the_readers(client: Client) -> None:
    await logged_in_page(client)
    status, page, _ = await get(client, "/readers/nowhere/learn")
    assert status == 404 and "nowhere" in html.unescape(page)
    assert "<h1>Not found</h1>" in page and 'href="/readers"' in page


async def test_a_mistyped_page_address_in_a_browser_is_a_page(client: Client) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    await logged_in_page(client)
    status, body, headers = await client.call("GET", "/event/12", headers=browser)
    assert status == 404 and headers["Content-Type"].startswith("text/html"), body
    assert "<h1>Not found</h1>" in body and 'href="/">Back to the dashboard' in body
    # a program asking, or an API path, still gets the API's JSON
    status, body, headers = await client.call("GET", "/event/12")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    for path in ("/api/v1/nothing", "/cgi-bin/restapi/nothing", "/sim/nothing"):
        status, body, headers = await client.call("GET", path, headers=browser)
        assert headers["Content-Type"].startswith("application/json"), (path, body)
