"""The whole gateway in-process on a manual clock: uptime and a keypad lockout saved across
a restart are durations, so a step of the wall clock does not change them."""

from __future__ import annotations

from gateway.model import Credential
from tests.web.conftest import ADA_PIN, Client, Start, stop

DAY = 86400.0
KEYPAD = "front-keypad"


def wrong_pins(client: Client, count: int) -> None:
    """`count` wrong PINs at the front keypad, one second apart."""
    for _ in range(count):
        client.gateway.pipeline.credential(Credential("pin", "0000", KEYPAD, client.clock.time()))
        client.clock.advance(1)


def keypad_locked(client: Client) -> dict[str, float]:
    status = client.gateway.status_board.status()["access"]["lockout"]
    locked: dict[str, float] = status["locked"]
    return locked


async def test_uptime_is_the_time_that_passed_whatever_the_wall_clock_does(
    client: Client,
) -> None:
    client.clock.advance(5)
    client.clock.step_wall(-DAY)
    assert client.gateway.status_board.status()["device"]["uptime_s"] == 5.0


async def test_a_lockout_saved_while_the_clock_was_a_day_ahead_is_not_longer_after_a_restart(
    start: Start,
) -> None:
    first = await start()
    first.clock.step_wall(DAY)  # the clock is wrong: a day ahead
    wrong_pins(first, 5)
    assert keypad_locked(first) == {KEYPAD: 59.0}
    await first.gateway.recorder.flush()
    await stop(first)
    second = await start()  # the clock is right again
    # Saved at the locking PIN with 60 s to run; how long the gateway was off is unknown
    # (the wall clock went back a day), so the 60 s start again, no more.
    assert keypad_locked(second) == {KEYPAD: 60.0}
    second.clock.advance(60)
    pin = Credential("pin", ADA_PIN, KEYPAD, second.clock.time())
    second.gateway.pipeline.credential(pin)
    await second.gateway.recorder.flush()
    events = await second.events(type="access", reader=KEYPAD)
    assert [(e["reason"], e["granted"]) for e in events][-1] == ("granted", True)
