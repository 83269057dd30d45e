"""Anti-passback URLs against real servers: the filled URL arrives, failures become events,
nothing waits, PINs only over https and never in logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.model import Event
from gateway.upstream.antipassback import AntiPassbackNotifier
from tests.fakes import ManualClock
from tests.upstream.verify_fakes import (
    DroppingUpstream,
    FakeUpstream,
    closed_port,
    cred,
    reader,
    self_signed,
)

OPEN_DOOR = (
    "/fcgi/OpenDoor?action=OpenDoor&DoorNum=1&AntiPassbackMode=$antipassbackmode"
    "&Name=$name&UnlockType=$unlocktype&Code=$code"
)
RETURNS_AT_ONCE_S = 0.05


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


class Notifier:
    """An AntiPassbackNotifier with its events collected."""

    def __init__(self, **options: object) -> None:
        self.events: list[Event] = []
        self.apb = AntiPassbackNotifier(self.events.append, ManualClock(), **options)  # type: ignore[arg-type]

    def reasons(self) -> list[tuple[str, str]]:
        return [(e.reason, e.trace) for e in self.events]


@pytest.fixture
async def notifier() -> AsyncIterator[Notifier]:
    made = Notifier(timeout_s=0.3)
    yield made
    await made.apb.close()


def timed_notify(notifier: Notifier, *args: object) -> float:
    started = time.monotonic()
    notifier.apb.notify(*args)  # type: ignore[arg-type]
    return time.monotonic() - started


async def test_the_receiver_gets_the_filled_url(server: FakeUpstream, notifier: Notifier) -> None:
    url = f"http://admin:Admin123@127.0.0.1:{server.port}{OPEN_DOOR}"
    entry = reader(apb_urls=(url,), card_display_format="W26")
    elapsed = timed_notify(notifier, entry, cred("card", "0C8707"), "Ada Lovelace")
    assert elapsed < RETURNS_AT_ONCE_S
    await notifier.apb.close()  # waits for the request in flight
    seen = server.seen[0]
    assert seen.path == "/fcgi/OpenDoor"
    assert seen.query == {
        "action": "OpenDoor",
        "DoorNum": "1",
        "AntiPassbackMode": "Entry",
        "Name": "Ada Lovelace",
        "UnlockType": "RF Card",
        "Code": "012-34567",
    }
    assert "Name=Ada%20Lovelace" in seen.path_qs
    assert seen.headers["Authorization"] == "Basic YWRtaW46QWRtaW4xMjM="
    assert notifier.events == [] and notifier.apb.status()["sent"] == 1


async def test_exit_readers_and_qr_codes(server: FakeUpstream, notifier: Notifier) -> None:
    urls = tuple(f"{server.base}/{n}?m=$antipassbackmode&t=$unlocktype&c=$code" for n in range(10))
    notifier.apb.notify(reader(apb_urls=urls, direction="out"), cred("qr", "Q&A=1"), "")
    await notifier.apb.close()
    assert sorted(s.path for s in server.seen) == sorted(f"/{n}" for n in range(10))
    assert {tuple(s.query.items()) for s in server.seen} == {
        (("m", "Exit"), ("t", "QR Code"), ("c", "Q&A=1"))
    }


async def test_a_failing_url_is_an_event_and_delays_nothing(
    server: FakeUpstream, notifier: Notifier
) -> None:
    dead = f"http://admin:Admin123@127.0.0.1:{closed_port()}{OPEN_DOOR}"
    healthy = f"{server.base}/ok?c=$code"
    elapsed = timed_notify(notifier, reader(apb_urls=(dead, healthy)), cred("card", "0C8707"), "A")
    assert elapsed < RETURNS_AT_ONCE_S
    await notifier.apb.close()
    assert len(server.seen) == 1
    [event] = notifier.events
    assert (event.type, event.reason, event.door, event.reader) == (
        "upstream",
        "apb_url_failed",
        "front",
        "r1",
    )
    assert event.trace == (
        f"apb:GET http://admin:***@127.0.0.1:{dead.split(':')[3].split('/')[0]}/fcgi/OpenDoor"
        "?action=OpenDoor&DoorNum=1&AntiPassbackMode=Entry&Name=A&UnlockType=RF%20Card"
        "&Code=0C8707 > unreachable"
    )


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_dropped_url_is_sent_once_and_is_an_event(reset: bool, notifier: Notifier) -> None:
    # The receiver read the OpenDoor URL, then the connection dropped: it may have opened
    # its door and logged an Entry already, so sending it again could do both twice.
    dropping = DroppingUpstream(drop=(0,), reset=reset)
    await dropping.start()
    try:
        entry = reader(apb_urls=(f"{dropping.base}/open",))
        notifier.apb.notify(entry, cred("card", "0C8707"), "A")
        await notifier.apb.close()
    finally:
        await dropping.stop()
    assert dropping.requests == ["GET /open HTTP/1.1"]
    assert notifier.reasons() == [
        ("apb_url_failed", f"apb:GET http://127.0.0.1:{dropping.port}/open > unreachable")
    ]


async def test_a_stalled_receiver_times_out_in_the_background(
    server: FakeUpstream, notifier: Notifier
) -> None:
    stalled, healthy = FakeUpstream(), server
    stalled.stall()
    await stalled.start()
    try:
        urls = (f"{stalled.base}/slow", f"{healthy.base}/fast")
        started = time.monotonic()
        notifier.apb.notify(reader(apb_urls=urls), cred("card", "0C8707"), "A")
        assert time.monotonic() - started < RETURNS_AT_ONCE_S
        await asyncio.sleep(0.1)
        assert [s.path for s in healthy.seen] == ["/fast"]  # not held up by the slow one
        await notifier.apb.close(grace_s=2)  # returns once the slow one timed out
        assert [r for r, _ in notifier.reasons()] == ["apb_url_failed"]
        assert notifier.reasons()[0][1].endswith("/slow > timeout")
    finally:
        await stalled.stop()


async def test_http_errors_are_events(server: FakeUpstream, notifier: Notifier) -> None:
    server.answer_status(401)
    notifier.apb.notify(reader(apb_urls=(f"{server.base}/x",)), cred("card", "0C8707"), "A")
    await notifier.apb.close()
    assert notifier.reasons() == [
        ("apb_url_failed", f"apb:GET http://127.0.0.1:{server.port}/x > http_401")
    ]


async def test_close_cancels_what_is_still_waiting(server: FakeUpstream) -> None:
    slow = Notifier(timeout_s=30)
    server.stall()
    slow.apb.notify(reader(apb_urls=(f"{server.base}/slow",)), cred("card", "01"), "A")
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await slow.apb.close(grace_s=0.1)
    assert time.monotonic() - started < 0.5
    assert slow.apb.status()["in_flight"] == 0


async def test_a_pin_is_not_sent_over_http(
    server: FakeUpstream, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier.apb.notify(reader(apb_urls=(f"{server.base}{OPEN_DOOR}",)), cred("pin", "9182"), "A")
    await notifier.apb.close()
    assert server.seen == []
    [(reason, trace)] = notifier.reasons()
    assert reason == "apb_url_failed" and trace.endswith(
        "&UnlockType=PIN&Code=**** > pin_needs_https"
    )
    assert notifier.events[0].credential == "****"
    assert "9182" not in caplog.text


async def test_a_pin_goes_over_https_and_stays_out_of_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        context, _ = self_signed(tmp_path)
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"cannot make a test certificate: {exc}")
    caplog.set_level(logging.DEBUG)
    receiver = FakeUpstream()
    await receiver.start(tls=context)
    notifier = Notifier(ssl_setting=False)
    try:
        notifier.apb.notify(
            reader(apb_urls=(f"{receiver.base}{OPEN_DOOR}",)), cred("pin", "9182"), "A"
        )
        await notifier.apb.close()
    finally:
        await receiver.stop()
    assert receiver.seen[0].query["Code"] == "9182"
    assert receiver.seen[0].query["UnlockType"] == "PIN"
    assert notifier.events == []
    assert "9182" not in caplog.text and "Code=****" in caplog.text


async def test_a_card_the_format_cannot_show_is_not_sent(
    server: FakeUpstream, notifier: Notifier
) -> None:
    url = f"{server.base}{OPEN_DOOR}"
    notifier.apb.notify(reader(apb_urls=(url,), card_display_format="8HN"), cred("card", "01"), "")
    await notifier.apb.close()
    assert server.seen == []
    assert notifier.reasons()[0][1].endswith("> card_format")
