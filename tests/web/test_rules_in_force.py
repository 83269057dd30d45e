"""A handler that writes the rules and never asks for a reload still answers only once the
engine decides on what it wrote: the stores report the change, the server waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.access.pins import PinHasher
from gateway.access.snapshot import RulesSnapshot
from gateway.doors.timers import LoopTimers
from gateway.model import User
from gateway.rule_changes import RuleChanges
from gateway.store.stores import Stores
from gateway.web.rules_in_force import RULES, rules_in_force
from tests.web.conftest import PASSWORD, Client


class Engine:
    """The engine's rules, reloaded as the daemon does (a snapshot built off the loop);
    a test can hold a reload open to see who waits for it."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.snapshot = stores.engine_state.load_snapshot()
        self.reloads = 0
        self.gate: asyncio.Event | None = None
        self.asked = asyncio.Event()  # a reload was asked for

    async def reload(self) -> None:
        self.asked.set()
        if self.gate is not None:
            await self.gate.wait()
        snapshot: RulesSnapshot = await asyncio.to_thread(self.stores.engine_state.load_snapshot)
        self.snapshot = snapshot
        self.reloads += 1


class Rig:
    def __init__(self, client: TestClient[web.Request, web.Application], engine: Engine) -> None:
        self.client, self.engine = client, engine


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stores = Stores.open(tmp_path / "gateway.db", PinHasher(bytes(32)))
    engine = Engine(stores)
    changes = RuleChanges(LoopTimers(asyncio.get_running_loop()), engine.reload)
    stores.on_rules_changed(changes.rules_changed)

    # Handlers as a newcomer would write them: a store call on a worker thread, no reload.
    async def add(request: web.Request) -> web.Response:
        user = User(request.match_info["user"], cards=["0A0B0C"])
        await asyncio.to_thread(stores.users.add_user, user)
        return web.json_response({"status": "success"})

    async def add_then_fail(request: web.Request) -> web.Response:
        await asyncio.to_thread(stores.users.add_user, User(request.match_info["user"]))
        raise RuntimeError("a bug after the write")

    async def add_many(request: web.Request) -> web.Response:
        for n in range(int(request.match_info["count"])):
            await asyncio.to_thread(stores.users.add_user, User(f"m{n}", cards=[f"0D{n:04X}"]))
        return web.json_response({"status": "success"})

    async def read(request: web.Request) -> web.Response:
        return web.json_response({"users": stores.users.count_users()})

    app = web.Application(middlewares=[rules_in_force])
    app[RULES] = changes
    app.router.add_post("/add/{user}", add)
    app.router.add_post("/add-then-fail/{user}", add_then_fail)
    app.router.add_post("/add-many/{count}", add_many)
    app.router.add_get("/read", read)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Rig(client, engine)
    await client.close()
    await changes.close()
    stores.close()


async def test_the_answer_waits_for_the_rules_the_handler_wrote(rig: Rig) -> None:
    rig.engine.gate = asyncio.Event()
    answer = asyncio.create_task(rig.client.post("/add/1001"))
    await asyncio.wait_for(rig.engine.asked.wait(), 10)  # the write, on a worker thread
    assert rig.engine.stores.users.get_user("1001") is not None
    done, _ = await asyncio.wait({answer}, timeout=0.2)  # loopback answers in far less
    assert not done  # written, not yet in force: no answer
    rig.engine.gate.set()
    response = await answer
    assert response.status == 200
    assert "1001" in rig.engine.snapshot.users  # in force when the answer arrives
    assert rig.engine.snapshot.cards["0A0B0C"].user_id == "1001"
    assert rig.engine.reloads == 1


async def test_a_handler_that_fails_after_writing_still_puts_the_write_in_force(
    rig: Rig,
) -> None:
    response = await rig.client.post("/add-then-fail/1002")
    assert response.status == 500
    assert "1002" in rig.engine.snapshot.users


async def test_many_writes_in_one_request_are_one_reload(rig: Rig) -> None:
    """An ACTAtek array of 500 users must not build 500 snapshots."""
    response = await rig.client.post("/add-many/30")
    assert response.status == 200
    assert len(rig.engine.snapshot.users) == 30
    assert rig.engine.reloads == 1


async def test_a_read_reloads_nothing(rig: Rig) -> None:
    response = await rig.client.get("/read")
    assert response.status == 200
    assert rig.engine.reloads == 0


async def test_in_the_daemon_any_write_reaches_the_engine_with_one_reload(client: Client) -> None:
    """Not only the API: whatever in the daemon writes the rules (here a worker thread, as
    an MQTT command would) has them reloaded, once, without asking."""
    gateway = client.gateway
    before = gateway.status_board.status()["store"]["reloads"]
    await asyncio.to_thread(gateway.stores.users.add_user, User("3001", cards=["0E0E01"]))
    await gateway.rule_changes.settled()
    assert gateway.engine.snapshot.cards["0E0E01"].user_id == "3001"
    assert gateway.status_board.status()["store"]["reloads"] == before + 1
    await asyncio.to_thread(gateway.stores.engine_state.save_engine_state, {})
    await gateway.rule_changes.settled()
    assert gateway.status_board.status()["store"]["reloads"] == before + 1  # not a rules change


async def test_an_actatek_array_is_in_force_at_the_answer_after_one_reload(
    client: Client,
) -> None:
    gateway = client.gateway
    gateway.stores.technicians.set_technician_password("tech", PASSWORD, "SUPERADMIN")
    login = {"username": "tech", "password": PASSWORD}
    status, body, _ = await client.call("POST", "/cgi-bin/restapi/login", json=login)
    assert status == 200, body
    before = gateway.status_board.status()["store"]["reloads"]
    items = [{"userID": f"A{n}", "cardsn": f"0F{n:04X}"} for n in range(20)]
    path = f"/cgi-bin/restapi/user/{body['sessionid']}"
    status, results, _ = await client.call("POST", path, json=items)
    assert status == 200 and {r["status"] for r in results} == {"success"}, results
    assert all(f"0F{n:04X}" in gateway.engine.snapshot.cards for n in range(20))
    assert gateway.status_board.status()["store"]["reloads"] == before + 1
