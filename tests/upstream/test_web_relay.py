"""A user's web relay URLs against a real loopback server: filled like the anti-passback
URLs, sent once in the background, every result journaled by index and HTTP status, the
secret never in an event or a log, and a bounded queue that sheds instead of piling up."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest

from gateway.model import Event
from gateway.upstream.web_relay import WebRelaySender
from tests.fakes import ManualClock
from tests.upstream.verify_fakes import FakeUpstream, closed_port, cred, reader

RETURNS_AT_ONCE_S = 0.05


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


class Sender:
    """A WebRelaySender with its events collected."""

    def __init__(self, **options: object) -> None:
        self.events: list[Event] = []
        self.relay = WebRelaySender(self.events.append, ManualClock(), **options)  # type: ignore[arg-type]

    def results(self) -> list[tuple[str, str]]:
        return sorted((e.reason, e.trace) for e in self.events)


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    made = Sender(timeout_s=0.3)
    yield made
    await made.relay.close()


async def test_each_url_is_sent_filled_and_its_status_journaled(
    server: FakeUpstream, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = f"http://relay:S3cret@127.0.0.1:{server.port}/state.xml?relay1=1&who=$name"
    second = f"{server.base}/api/open?token=T0ken99&t=$unlocktype&c=$code"
    started = time.monotonic()
    sender.relay.send(reader(), cred("card", "0C8707"), "A1", "Ada Lovelace", (first, second))
    assert time.monotonic() - started < RETURNS_AT_ONCE_S
    await sender.relay.close()  # waits for what is queued
    by_path = {seen.path: seen for seen in server.seen}
    assert by_path["/state.xml"].query == {"relay1": "1", "who": "Ada Lovelace"}
    assert by_path["/state.xml"].headers["Authorization"] == "Basic cmVsYXk6UzNjcmV0"
    assert by_path["/api/open"].query == {"token": "T0ken99", "t": "RF Card", "c": "0C8707"}
    assert sender.results() == [
        ("web_relay_sent", f"web_relay:1:GET http://127.0.0.1:{server.port} > http_200"),
        ("web_relay_sent", f"web_relay:2:GET http://127.0.0.1:{server.port} > http_200"),
    ]
    assert {(e.type, e.user_id, e.door, e.reader) for e in sender.events} == {
        ("upstream", "A1", "front", "r1")
    }
    text = caplog.text + repr(sender.events) + repr(sender.relay.status())
    assert "S3cret" not in text and "T0ken99" not in text
    assert sender.relay.status()["sent"] == 2


async def test_a_failure_is_journaled_once_and_never_retried(
    server: FakeUpstream, sender: Sender
) -> None:
    server.answer_status(500)
    dead = f"http://127.0.0.1:{closed_port()}/x"
    sender.relay.send(reader(), cred("card", "01"), "A1", "A", (f"{server.base}/on", dead))
    await sender.relay.close()
    assert len(server.seen) == 1
    reasons = sender.results()
    assert reasons[0] == ("web_relay_failed", f"web_relay:1:GET {server.base} > http_500")
    assert reasons[1][0] == "web_relay_failed" and reasons[1][1].endswith("> unreachable")
    assert sender.relay.status()["failed"] == 2


async def test_a_pin_is_only_sent_over_https(server: FakeUpstream, sender: Sender) -> None:
    sender.relay.send(reader(), cred("pin", "4711"), "A1", "A", (f"{server.base}/p?c=$code",))
    await sender.relay.close()
    assert server.seen == []
    assert sender.results() == [
        ("web_relay_failed", f"web_relay:1:GET {server.base} > pin_needs_https")
    ]


async def test_a_full_queue_sheds_and_says_so_without_waiting(server: FakeUpstream) -> None:
    server.stall()
    sender = Sender(timeout_s=0.2, queue_size=2, workers=1)
    urls = tuple(f"{server.base}/{n}" for n in range(5))
    started = time.monotonic()
    sender.relay.send(reader(), cred("card", "01"), "A1", "A", urls)
    assert time.monotonic() - started < RETURNS_AT_ONCE_S
    await sender.relay.close(grace_s=1.0)
    overloaded = [e for e in sender.events if e.trace.endswith("> overloaded")]
    assert len(overloaded) >= 2
    assert all(e.reason == "web_relay_failed" for e in sender.events)
    assert sender.relay.status()["queued"] == 0
