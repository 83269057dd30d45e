"""Least privilege on reads (docs/security.md, "What each role can read"): a session is
not enough to read card numbers, raw Wiegand bits, who logged in from where, or the
journal; each part of the status and each endpoint names the capability it needs."""

from __future__ import annotations

import json
from typing import Any

from tests.web.conftest import ADA_CARD, Client

PASSWORD = "correct horse battery"
ROLES = ("PERSONALUSER", "USERADMIN", "NETWORKADMIN", "SUPERADMIN")
# Demo card 0C8707 (H10301 facility 12, card 34567) as the front Wiegand reader sees it.
ADA_BITS = "10000110010000111000001111"

# What each role sees of GET /api/v1/status (docs/security.md).
EVERYONE = {"device", "doors", "readers", "system", "floors"}
SECTIONS = {
    "PERSONALUSER": EVERYONE,
    "USERADMIN": EVERYONE | {"access", "store"},
    "NETWORKADMIN": EVERYONE
    | {"upstream", "journal", "forwarding", "http_unlock", "notifications", "web_relay"},
}
# Without `logs`, a reader's recent frames keep their shape but not their value.
FRAME_SHAPE = {"time", "bit_count", "duration_us", "median_interval_us", "kind", "format"} | {
    "id",
    "min_interval_us",
    "max_interval_us",
}


async def headers_of(client: Client, role: str) -> dict[str, str]:
    """A bearer token of a technician account of `role`."""
    name = role.lower()
    client.gateway.stores.technicians.set_technician_password(name, PASSWORD, level=role)
    return await client.token_headers(name, PASSWORD)


async def present_ada_card(client: Client) -> None:
    body = {"reader": "front-wiegand", "bits": ADA_BITS}
    status, answer, _ = await client.call("POST", "/sim/wiegand", json=body)
    assert status == 200, answer


async def read(client: Client, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    status, body, _ = await client.call("GET", path, headers=headers)
    return status, body


async def test_a_personaluser_learns_no_card_bits_or_login_address(client: Client) -> None:
    """The attack: the lowest account read a card clonable from its facility and number,
    and every technician's login address, from two endpoints that only wanted a session."""
    await client.token_headers()  # admin logs in: journaled with its address
    await present_ada_card(client)
    personal = await headers_of(client, "PERSONALUSER")

    status, body = await read(client, "/api/v1/status", personal)
    assert status == 200
    shown = json.dumps(body)
    assert ADA_BITS not in shown and ADA_CARD not in shown
    assert '"card_number"' not in shown and '"facility"' not in shown
    assert body["doors"]["front"]["lock"] == "unlocked"  # door states stay visible

    status, body = await read(client, "/api/v1/events", personal)
    assert status == 403, body
    assert "logs" in body["message"]
    assert "127.0.0.1" not in json.dumps(body) and ADA_CARD not in json.dumps(body)


async def test_each_role_sees_its_sections_of_the_status(client: Client) -> None:
    await present_ada_card(client)
    everything = set(client.gateway.status_board.status())
    for role in ROLES:
        status, body = await read(client, "/api/v1/status", await headers_of(client, role))
        assert status == 200, (role, body)
        assert set(body) == SECTIONS.get(role, everything), role


async def test_raw_frames_need_the_logs_capability(client: Client) -> None:
    """A NETWORKADMIN wiring a reader sees each frame's length, timing, format and
    result; its bits and card number only with `logs` (USERADMIN, SUPERADMIN)."""
    await present_ada_card(client)
    for role in ROLES:
        _, body = await read(client, "/api/v1/status", await headers_of(client, role))
        (frame,) = body["readers"]["front-wiegand"]["recent"]
        assert frame["bit_count"] == 26 and frame["format"] == "H10301", role
        assert frame["result"] == "accepted", role
        if role in ("USERADMIN", "SUPERADMIN"):
            assert frame["bits"] == ADA_BITS and frame["card_number"] == 34567, role
        else:
            assert set(frame) == FRAME_SHAPE | {"result"}, (role, frame)


async def test_the_journal_needs_the_logs_capability(client: Client) -> None:
    await present_ada_card(client)
    for role in ROLES:
        status, body = await read(client, "/api/v1/events", await headers_of(client, role))
        if role in ("USERADMIN", "SUPERADMIN"):
            assert status == 200, (role, body)
            assert any(e["credential"] == ADA_CARD for e in body["events"]), role
        else:
            assert status == 403, (role, body)
            assert body["message"] == f"{role} may not do this: it needs the logs capability"
