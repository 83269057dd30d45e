"""Section 9: register, list and unregister agents; initSync sends the journal first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.actatek.conftest import Api, free_port
from tests.actatek.terminal_sim import ADA_BITS, present

REFERENCE_FIELDS = {"url", "registrationTime", "lastUpdate", "lastCheck", "lastCheckStatus"}


class Receiver:
    """An agent endpoint on loopback that keeps every pushed log entry."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.entries.extend(await request.json())
        return web.json_response({"status": "ok"})

    async def wait_for(self, seq: int) -> None:
        for _ in range(250):
            if any(entry.get("logID") == seq for entry in self.entries):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"logID {seq} never reached the agent")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    agent = Receiver()
    app = web.Application()
    app.router.add_post("/agent", agent.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    agent.url = f"http://127.0.0.1:{port}/agent"
    yield agent
    await runner.cleanup()


async def agents(api: Api) -> Any:
    status, body = await api.call("GET", f"agent/{api.sid('NETWORKADMIN')}")
    assert status == 200, body
    return body


async def test_register_list_unregister_as_the_reference_answers(api: Api) -> None:
    sid = api.sid()
    body = {"url": "https://anc.cde.com", "agentVersion": "1.2", "magic": "1", "initSync": False}
    assert await api.call("POST", f"agent/{sid}", body) == (
        200,
        {"status": "success", "message": "agent registered"},
    )
    secret = {"url": "http://user:s3cret@abc.def.com:8080/AccessServer/AgentService.asmx"}
    assert (await api.call("POST", f"agent/{sid}", secret))[0] == 200
    listed = await agents(api)
    assert [a["url"] for a in listed] == [
        "https://anc.cde.com",
        "http://abc.def.com:8080/AccessServer/AgentService.asmx",  # never the password
    ]
    assert all(set(a) >= REFERENCE_FIELDS and a["active"] is True for a in listed)
    assert listed[0]["lastUpdate"] == "1970-01-01T00:00:00Z"
    assert listed[0]["registrationTime"].endswith("Z")
    status, answer = await api.call("DELETE", f"agent/{sid}?url=https://anc.cde.com")
    assert (status, answer) == (
        200,
        {"status": "success", "message": "Unregistration Agent Success"},
    )
    assert [a["url"] for a in await agents(api)] == [listed[1]["url"]]
    status, answer = await api.call("DELETE", f"agent/{sid}?url=https://anc.cde.com")
    assert status == 400 and answer["status"] == "error"
    rows = await api.gateway.recorder.read_events(0, 1000)
    details = " ".join(e.trace for e in rows if e.type == "api")
    assert "s3cret" not in details
    reasons = [e.reason for e in await api.gateway.recorder.read_events(0, 1000)]
    assert "agent_registered" in reasons and "agent_unregistered" in reasons


async def test_init_sync_sends_the_journal_then_new_events(api: Api, receiver: Receiver) -> None:
    old = await present(api, ADA_BITS)
    body = {"url": receiver.url, "initSync": True}
    assert (await api.call("POST", f"agent/{api.sid()}", body))[0] == 200
    await receiver.wait_for(old.seq)  # sent although it happened before the registration
    new = await present(api, ADA_BITS)
    await receiver.wait_for(new.seq)
    listed = await agents(api)
    assert listed[0]["lastCheckStatus"] is True


async def test_without_init_sync_only_new_events_go(api: Api, receiver: Receiver) -> None:
    old = await present(api, ADA_BITS)
    assert (await api.call("POST", f"agent/{api.sid()}", {"url": receiver.url}))[0] == 200
    new = await present(api, ADA_BITS)
    await receiver.wait_for(new.seq)
    assert all(entry["logID"] > old.seq for entry in receiver.entries)


async def test_roles_and_bad_input_register_nothing(api: Api) -> None:
    status, body = await api.call("GET", f"agent/{api.sid('USERADMIN')}")
    assert status == 400 and "may not" in body["message"]
    for bad in (
        {},
        {"url": "ftp://files.example.com"},
        {"url": "https://a.example.com", "initSync": "yes"},
        {"url": "https://a.example.com", "colour": "red"},
        {"url": "https://a.example.com", "magic": "x" * 300},
        ["https://a.example.com"],
    ):
        status, body = await api.call("POST", f"agent/{api.sid()}", bad)
        assert status == 400 and body["status"] == "error", bad
    for query in ("", "?url=", "?url=a&url=b", "?link=https://a.example.com"):
        status, body = await api.call("DELETE", f"agent/{api.sid()}{query}")
        assert status == 400, query
    assert await agents(api) == []


JSONISH = st.none() | st.booleans() | st.integers() | st.text(max_size=40)
AGENT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "url": st.sampled_from(["https://x.example.com/a", "http://[::1]:0/", "mailto:x"])
        | JSONISH,
        "agentVersion": JSONISH,
        "magic": JSONISH,
        "initSync": JSONISH,
    },
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=AGENT_BODIES)
async def test_generated_registrations_never_fail(api: Api, body: dict[str, Any]) -> None:
    before = await agents(api)
    status, answer = await api.call("POST", f"agent/{api.sid()}", body)
    assert status in (200, 400), answer
    if status == 400:
        assert await agents(api) == before
    else:
        await api.call("DELETE", f"agent/{api.sid()}?url={body['url']}")
