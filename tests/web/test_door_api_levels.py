"""Native door control needs a NETWORKADMIN or SUPERADMIN account; bodies are strict."""

from __future__ import annotations

from tests.web.conftest import Client

PASSWORD = "correct horse battery"


async def test_a_useradmin_may_not_move_doors(client: Client) -> None:
    client.gateway.stores.technicians.set_technician_password("clerk", PASSWORD, level="USERADMIN")
    headers = await client.token_headers("clerk", PASSWORD)
    for path, body in (
        ("/api/v1/doors/front/pulse", None),
        ("/api/v1/doors/front/lockdown", {"on": True}),
        ("/api/v1/doors/front/acknowledge", None),
        ("/api/v1/lockdown", {"on": True}),
    ):
        status, answer, _ = await client.call("POST", path, json=body, headers=headers)
        assert status == 403, (path, answer)
    assert not client.gateway.doors["front"].unlocked
    assert not client.gateway.doors["front"].lockdown


async def test_a_networkadmin_may(client: Client) -> None:
    client.gateway.stores.technicians.set_technician_password(
        "tech", PASSWORD, level="NETWORKADMIN"
    )
    headers = await client.token_headers("tech", PASSWORD)
    status, _, _ = await client.call("POST", "/api/v1/doors/front/pulse", headers=headers)
    assert status == 200 and client.gateway.doors["front"].unlocked


async def test_duplicate_keys_are_refused_and_nothing_changes(client: Client) -> None:
    headers = await client.token_headers()
    status, answer, _ = await client.call(
        "POST",
        "/api/v1/doors/front/lockdown",
        data=b'{"on": false, "on": true}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert status == 400 and "duplicate" in answer["message"]
    assert not client.gateway.doors["front"].lockdown
