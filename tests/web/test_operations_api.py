"""The history, configuration and self-test endpoints on a real gateway (simulated
hardware, real journal, real HTTP on loopback)."""

from __future__ import annotations

import json

from gateway.hw.formats import encode_h10301
from tests.web.conftest import Client, Start

OPENDOOR_SECRET = "Akuvox-Secret-5521"


async def present(client: Client, facility: int, card: int) -> None:
    bits = encode_h10301(facility, card)
    status, body, _ = await client.call(
        "POST", "/sim/wiegand", json={"reader": "front-wiegand", "bits": bits}
    )
    assert status == 200, body


async def test_history_counts_the_cards_just_presented(client: Client) -> None:
    await present(client, 12, 34567)  # Ada: granted
    await present(client, 12, 11111)  # Babbage, inactive: denied
    await client.gateway.recorder.flush()
    headers = await client.token_headers()
    status, body, _ = await client.call("GET", "/api/v1/history", headers=headers)
    assert status == 200, body
    assert len(body["hours"]) == 24
    assert body["timezone"] == "Europe/London"
    assert (body["hours"][-1]["granted"], body["hours"][-1]["denied"]) == (1, 1)
    assert body["totals"] == {"granted": 1, "denied": 1, "alarms": 0}


async def test_the_configuration_holds_no_secret(start: Start) -> None:
    client = await start(password=OPENDOOR_SECRET)
    headers = await client.token_headers()
    status, body, _ = await client.call("GET", "/api/v1/config", headers=headers)
    assert status == 200, body
    text = json.dumps(body)
    assert OPENDOOR_SECRET not in text
    assert '"1234"' not in text and '"2468"' not in text  # the demo users' PINs
    assert body["settings"]["http_unlock"]["password"] == "****"
    assert body["settings"]["web"]["technicians"][0]["password"] == "****"
    assert body["settings"]["doors"][0]["name"] == "front"
    assert body["check"]["valid"] is True
    assert body["check"]["path"].endswith("simulate.toml")
    assert "front" in body["check"]["summary"]


async def test_the_selftest_runs_in_the_daemon_and_is_journaled(client: Client) -> None:
    headers = await client.token_headers()
    status, body, _ = await client.call("POST", "/api/v1/selftest", headers=headers)
    assert status == 200, body
    checks = {check["name"]: check for check in body["checks"]}
    assert checks["GPIO"]["status"] == "ok" and "simulated" in checks["GPIO"]["detail"]
    assert checks["database"]["status"] == "ok" and "intact" in checks["database"]["detail"]
    assert checks["journal"]["status"] == "ok"
    assert body["by"] == "admin"
    assert body["ok"] is (body["counts"]["fail"] == 0)
    await client.gateway.recorder.flush()
    journaled = await client.events(type="api", reason="selftest")
    assert len(journaled) == 1 and journaled[0]["user_id"] == "admin"


async def test_without_a_session_nothing_is_answered(client: Client) -> None:
    for method, path in (
        ("GET", "/api/v1/history"),
        ("GET", "/api/v1/config"),
        ("POST", "/api/v1/selftest"),
    ):
        status, body, _ = await client.call(method, path)
        assert status == 401, (path, body)
        assert "settings" not in body and "hours" not in body and "checks" not in body
