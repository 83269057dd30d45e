"""Issue 10 item 1: no interface tells a caller whether a PIN or a card is someone else's.

The attack on the old code: `PUT myself` with a `password` answered "this PIN is already in
use by another user", so a PERSONALUSER learned every 4-digit PIN in use in 10,000
requests (and `cardsn` named the owner of a card); a USERADMIN did the same with one array
of 10,000 user updates. Now a login that cannot manage users cannot change credentials at
all (whatever the value), a PIN that is taken is refused without saying why, refused
credential changes wait and raise an alarm after a few, and count toward the login
throttle.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from gateway.model import User
from gateway.web import security
from gateway.web.actatek.credentials import ADDRESS_FREE_REFUSALS, FREE_REFUSALS
from tests.actatek.conftest import PASSWORD
from tests.security.roles import Site, site_with_roles
from tests.web.conftest import ADA_CARD, ADA_PIN, GRACE_CARD, Client

# The measured pace of the attack on a real daemon: 10,000 requests in 26 s.
SECONDS_PER_TRY = 26.0 / 10_000
DEMO_PINS = {ADA_PIN, "2468"}  # config/simulate.toml
PARALLEL = 16  # requests in flight: within the server's connections per address


@pytest.fixture
async def site(client: Client) -> Site:
    return await site_with_roles(client)


def shape(answer: tuple[int, Any]) -> tuple[int, str]:
    """An answer without its numbers (a wait in seconds changes as the clock moves)."""
    status, body = answer
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    return status, re.sub(r"\d+", "N", message)


async def many_users_with_pins(site: Site, count: int) -> set[str]:
    """`count` more door users with 4-digit PINs; returns every PIN in use on the site."""
    users = site.client.gateway.stores.users
    pins = set(DEMO_PINS)
    n = 0
    while len(pins) < count + len(DEMO_PINS):
        pin = f"{(n * 7919 + 13) % 10_000:04d}"
        if pin not in pins:
            users.add_user(User(f"u{n}", pin=pin))
            pins.add(pin)
        n += 1
    await site.client.gateway.rule_changes.settled()
    return pins


async def sweep(site: Site, method: str, path: str, bodies: list[Any]) -> list[tuple[int, Any]]:
    """Send every body, PARALLEL at a time, moving the clock at the attack's pace."""
    answers: list[tuple[int, Any]] = []
    for start_at in range(0, len(bodies), PARALLEL):
        batch = bodies[start_at : start_at + PARALLEL]
        answers += await asyncio.gather(*(site.call(method, path, body) for body in batch))
        site.client.clock.advance(SECONDS_PER_TRY * len(batch))
    return answers


def revealed(answers: dict[str, tuple[int, Any]], used: set[str]) -> set[str]:
    """Values whose answer no value that is not in use got: what the caller learned."""
    unused_shapes = {shape(a) for value, a in answers.items() if value not in used}
    return {
        value for value in used if value in answers and shape(answers[value]) not in unused_shapes
    }


async def test_a_personaluser_sweeping_every_pin_learns_nothing_and_is_stopped_and_alarmed(
    site: Site,
) -> None:
    admin = site.sid("USERADMIN")
    status, _ = await site.call("POST", f"user/{admin}", {"userID": "personaluser"})
    assert status == 200  # an active door record, made by an administrator
    used = await many_users_with_pins(site, 50)
    pins = [f"{n:04d}" for n in range(10_000)]
    bodies = [{"userID": "personaluser", "password": pin} for pin in pins]
    answers = dict(
        zip(
            pins,
            await sweep(site, "PUT", f"myself/{site.sid('PERSONALUSER')}", bodies),
            strict=True,
        )
    )

    assert revealed(answers, used) == set()
    assert all(status == 400 for status, _ in answers.values())  # no PIN was ever set
    assert not site.client.gateway.stores.users.get_user("personaluser").has_pin  # type: ignore[union-attr]
    messages = {body["message"] for _, body in answers.values()}
    assert not any("in use" in m or "public" in m or "user 1" in m for m in messages), messages
    # Stopped long before the end: only the first few were even looked at, the rest waited.
    waited = [p for p, (_, body) in answers.items() if "try again in" in body["message"]]
    assert len(waited) == 10_000 - FREE_REFUSALS
    # Journaled: each refusal that was looked at, and one alarm for the site.
    refused = await site.events(type="api", reason="credential_change_refused")
    assert [e["user_id"] for e in refused] == ["personaluser"] * FREE_REFUSALS
    assert all(p not in e["trace"] for e in refused for p in used)
    (alarm,) = await site.events(type="alarm", reason="credential_probing")
    assert alarm["user_id"] == "personaluser" and "127.0.0.1" in alarm["trace"]
    assert alarm["seq"] < refused[-1]["seq"] + 2  # raised at the last refusal looked at


async def test_a_personaluser_cannot_tell_whose_card_a_number_is(site: Site) -> None:
    sid = site.sid("PERSONALUSER")
    assert (await site.call("POST", f"user/{site.sid('USERADMIN')}", {"userID": "personaluser"}))[
        0
    ] == 200
    taken = await site.call(
        "PUT", f"myself/{sid}", {"userID": "personaluser", "cardsn": GRACE_CARD}
    )
    free = await site.call("PUT", f"myself/{sid}", {"userID": "personaluser", "cardsn": "0E0E0E"})
    assert taken == free and taken[0] == 400
    assert "1002" not in taken[1]["message"] and "assigned" not in taken[1]["message"]
    assert site.client.gateway.stores.users.get_user("personaluser").cards == []  # type: ignore[union-attr]
    # Names are still the login's own to change; a card it already has may be sent back.
    site.client.gateway.stores.users.update_user(User("personaluser", cards=["0E0E0F"]))
    same = {"userID": "personaluser", "lastName": "Doe", "cardsn": "0e:0e:0f"}
    assert (await site.call("PUT", f"myself/{sid}", same))[0] == 200


async def test_a_useradmin_array_of_every_pin_learns_at_most_a_few_then_waits(
    site: Site,
) -> None:
    admin = site.sid("USERADMIN")
    assert (await site.call("POST", f"user/{admin}", {"userID": "9000"}))[0] == 200
    used = await many_users_with_pins(site, 50)
    pins = [f"{n:04d}" for n in range(10_000)]
    status, results = await site.call(
        "PUT", f"user/{admin}", [{"userID": "9000", "password": pin} for pin in pins]
    )
    assert status == 200
    answers = {
        pin: (200 if r["status"] == "success" else 400, r)
        for pin, r in zip(pins, results, strict=True)
    }
    assert len(revealed(answers, used)) <= FREE_REFUSALS  # was: every PIN in use
    messages = {r["message"] for r in results}
    assert not any("in use" in m or "public" in m or "user 1" in m for m in messages), messages
    after_waits = pins[pins.index(max(revealed(answers, used))) + 1 :]
    assert all("try again in" in answers[p][1]["message"] for p in after_waits)
    (alarm,) = await site.events(type="alarm", reason="credential_probing")
    assert alarm["user_id"] == "useradmin"


async def test_a_public_pin_and_another_users_pin_are_refused_alike(site: Site) -> None:
    gateway = site.client.gateway
    gateway.stores.users.set_public_pins(["97531"])
    await gateway.rule_changes.settled()
    admin = site.sid("USERADMIN")
    answers = [
        await site.call("POST", f"user/{admin}", {"userID": f"90{n}", "password": pin})
        for n, pin in enumerate((ADA_PIN, "97531"))
    ]
    assert (
        answers[0] == answers[1] == (400, {"status": "error", "message": answers[0][1]["message"]})
    )
    assert answers[0][1]["message"].startswith("password: ")
    assert (
        gateway.stores.users.get_user("900") is None
        and gateway.stores.users.get_user("901") is None
    )


async def test_a_useradmin_still_sees_who_holds_a_card_it_can_read_anyway(site: Site) -> None:
    status, body = await site.call(
        "POST", f"user/{site.sid('USERADMIN')}", {"userID": "9001", "cardsn": ADA_CARD}
    )
    assert (status, body["message"]) == (
        400,
        f"cardsn: card {ADA_CARD} is already assigned to user 1001",
    )
    assert await site.events(type="api", reason="credential_change_refused") == []


async def test_refused_credential_changes_count_toward_the_login_throttle(site: Site) -> None:
    admin = site.sid("USERADMIN")
    for n in range(FREE_REFUSALS):
        status, _ = await site.call(
            "POST", f"user/{admin}", {"userID": f"90{n}", "password": ADA_PIN}
        )
        assert status == 400
    for _ in range(security.FREE_FAILURES - FREE_REFUSALS):
        status, _ = await site.api.login("useradmin", "wrong password")
        assert status == 400
    # The refusals and the wrong passwords add up: even the right password must wait now.
    status, body = await site.api.login("useradmin", PASSWORD)
    assert status == 400 and "try again in" in body["message"], body


async def test_waits_end_and_are_forgotten_with_time(site: Site) -> None:
    admin = site.sid("USERADMIN")
    for n in range(FREE_REFUSALS):
        await site.call("POST", f"user/{admin}", {"userID": f"90{n}", "password": ADA_PIN})
    free_pin = {"userID": "9100", "password": "86420"}
    status, body = await site.call("POST", f"user/{admin}", free_pin)
    assert status == 400 and "try again in 60 s" in body["message"], body
    site.client.clock.advance(60)
    assert (await site.call("POST", f"user/{admin}", free_pin))[0] == 200
    # The next refusal doubles the wait; a week without one forgets them all.
    assert (await site.call("POST", f"user/{admin}", {"userID": "9101", "password": ADA_PIN}))[
        0
    ] == 400
    status, body = await site.call("POST", f"user/{admin}", {"userID": "9102", "password": "86421"})
    assert "try again in 120 s" in body["message"], body
    site.client.clock.advance(24 * 3600)  # a day: the waits are over, not forgotten
    status, body = await site.api.login("useradmin", PASSWORD)  # the session expired
    assert status == 200, body
    admin = body["sessionid"]
    assert (await site.call("POST", f"user/{admin}", {"userID": "9102", "password": "86421"}))[
        0
    ] == 200
    taken = {"userID": "9103", "password": ADA_PIN}
    assert (await site.call("POST", f"user/{admin}", taken))[0] == 400
    status, body = await site.call("POST", f"user/{admin}", {"userID": "9104", "password": "86422"})
    assert "try again in 240 s" in body["message"], body  # the fifth refusal
    site.client.clock.advance(7 * 24 * 3600)  # a quiet week: forgotten
    status, body = await site.api.login("useradmin", PASSWORD)
    admin = body["sessionid"]
    assert (await site.call("POST", f"user/{admin}", {"userID": "9105", "password": ADA_PIN}))[
        0
    ] == 400
    status, body = await site.call("POST", f"user/{admin}", {"userID": "9104", "password": "86422"})
    assert status == 200, body  # one refusal since: free again


async def test_many_accounts_from_one_address_wait_together(site: Site) -> None:
    """An attacker with several accounts learns no more from one address."""
    gateway = site.client.gateway
    sessions = []
    for n in range(5):
        gateway.stores.technicians.set_technician_password(f"clerk{n}", PASSWORD, level="USERADMIN")
        status, body = await site.api.login(f"clerk{n}", PASSWORD)
        assert status == 200, body
        sessions.append(body["sessionid"])
    tries = 0
    for sid in sessions[:4]:
        for _ in range(FREE_REFUSALS):
            if tries < ADDRESS_FREE_REFUSALS:
                body = {"userID": f"9{tries:03d}", "password": ADA_PIN}
                assert (await site.call("POST", f"user/{sid}", body))[0] == 400
                tries += 1
    assert tries == ADDRESS_FREE_REFUSALS
    # A fifth account, no refusal of its own, from the same address: it waits too.
    status, body = await site.call(
        "POST", f"user/{sessions[4]}", {"userID": "9500", "password": "86420"}
    )
    assert status == 400 and "try again in 60 s" in body["message"], body
