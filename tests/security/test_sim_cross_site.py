"""The simulation API is not a cross-site target (docs/security.md, "The simulation API").

A page on any site, open in a browser on the simulation host, could POST to
http://127.0.0.1:PORT/sim/keys: a form with `enctype="text/plain"` sends a JSON-looking
body without a CORS preflight, and a DNS-rebinding page (its own name resolving to
127.0.0.1) is even same-origin. Both reached the simulated door."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import ADA_PIN, Client

# <form method=post enctype=text/plain action=http://127.0.0.1:PORT/sim/keys>
#   <input name='{"reader":"front-keypad","keys":"1234#","pad":"' value='"}'>
# makes the browser send this body: NAME=VALUE, which is valid JSON.
FORM_BODY = f'{{"reader":"front-keypad","keys":"{ADA_PIN}#","pad":"="}}'
EVIL = "http://evil.example"


def port_of(client: Client) -> str:
    return client.gateway.settings.web.listen.rpartition(":")[2]


async def post_keys(client: Client, **headers: str) -> tuple[int, Any]:
    """Ada's PIN on the front keypad, as the given headers shape the request."""
    status, body, _ = await client.call(
        "POST", "/sim/keys", data=FORM_BODY.encode(), headers=headers
    )
    return status, body


async def test_a_cross_site_form_post_does_not_open_the_door(client: Client) -> None:
    status, body = await post_keys(
        client,
        **{"Content-Type": "text/plain;charset=UTF-8", "Origin": EVIL},
        **{"Sec-Fetch-Site": "cross-site", "Referer": f"{EVIL}/prize.html"},
    )
    assert status in (403, 415), body
    assert not client.gateway.doors["front"].unlocked


async def test_a_body_that_is_not_declared_json_is_refused(client: Client) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {} if content_type is None else {"Content-Type": content_type}
        status, body = await post_keys(client, **headers)
        assert status == 415, (content_type, body)
        assert "application/json" in body["message"]
    assert not client.gateway.doors["front"].unlocked


async def test_a_foreign_origin_is_refused_even_with_json(client: Client) -> None:
    for origin in (EVIL, "null", f"http://127.0.0.1:{int(port_of(client)) + 1}"):
        status, body = await post_keys(
            client, **{"Content-Type": "application/json", "Origin": origin}
        )
        assert status == 403, (origin, body)
        assert "origin" in body["message"].lower()
    assert not client.gateway.doors["front"].unlocked


async def test_a_dns_rebinding_host_is_refused(client: Client) -> None:
    """evil.example resolved to 127.0.0.1 a moment ago: same-origin for the browser, but
    the Host it sends is not a loopback name."""
    rebound = f"rebind.evil.example:{port_of(client)}"
    status, body = await post_keys(
        client,
        **{"Content-Type": "application/json", "Host": rebound, "Origin": f"http://{rebound}"},
    )
    assert status == 403, body
    assert "host" in body["message"].lower()
    status, body, _ = await client.call("GET", "/sim/outputs", headers={"Host": rebound})
    assert status == 403, body
    assert not client.gateway.doors["front"].unlocked


async def test_loopback_clients_and_their_own_pages_still_drive_it(client: Client) -> None:
    port = port_of(client)
    for host, origin in (
        (f"127.0.0.1:{port}", None),
        (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"),
        (f"localhost:{port}", f"http://localhost:{port}"),
        (f"[::1]:{port}", None),
    ):
        headers = {"Content-Type": "application/json", "Host": host}
        if origin is not None:
            headers["Origin"] = origin
        status, body = await post_keys(client, **headers)
        assert status == 200, (host, origin, body)
    assert client.gateway.doors["front"].unlocked
    status, _, _ = await client.call("GET", "/sim/outputs")
    assert status == 200
