"""The simulation API presses the doorbell like any door input (`make run` can ring it)."""

from __future__ import annotations

import asyncio

from tests.web.conftest import Client

BUTTON_SETTLE_S = 0.1  # past the 50 ms button debounce, on the real event loop


async def press(client: Client, active: bool) -> None:
    body = {"door": "front", "input": "doorbell", "active": active}
    status, answer, _ = await client.call("POST", "/sim/input", json=body)
    assert status == 200, answer
    await asyncio.sleep(BUTTON_SETTLE_S)


async def test_the_simulated_doorbell_is_journaled_and_shown(client: Client) -> None:
    await press(client, True)
    _, status, _ = await client.call("GET", "/api/v1/status", headers=await client.token_headers())
    assert status["doors"]["front"]["doorbell"] == "pressed"
    await press(client, False)
    rings = await client.events(door="front", reason="doorbell")
    assert [(e["type"], e["trace"]) for e in rings] == [("door", "button")]
    _, outputs, _ = await client.call("GET", "/sim/outputs")
    assert outputs["doors"]["front"] == {
        "relay": "locked",  # a doorbell never unlocks
        "alarm_output": False,
        "second_relay": "off",  # "access_granted" here: the doorbell mode is not set
    }


async def test_a_door_without_a_doorbell_says_so(client: Client) -> None:
    body = {"door": "back", "input": "doorbell", "active": True}
    status, answer, _ = await client.call("POST", "/sim/input", json=body)
    assert status == 404 and "no doorbell input" in answer["message"]
