"""The live event stream (`GET /api/v1/events/stream`, Server-Sent Events) and the decision
trace (`GET /api/v1/events/{seq}`) on a real gateway: cards presented through /sim/wiegand,
events journaled by the real writer, read over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import aiohttp
import pytest

from benchmarks.stream_load import measure
from gateway.hw.formats import encode_h10301
from gateway.model import Event
from gateway.web import live
from tests.security.roles import site_with_roles
from tests.web.conftest import Client
from tests.web.sse import STREAM, Message, open_stream

ADA_BITS = encode_h10301(12, 34567)  # user 1001, granted at the front door
UNKNOWN_BITS = encode_h10301(99, 1)  # nobody's card: denied


async def present(client: Client, bits: str = ADA_BITS, reader: str = "front-wiegand") -> None:
    status, body, _ = await client.call(
        "POST", "/sim/wiegand", json={"reader": reader, "bits": bits, "bit_interval_us": 500}
    )
    assert status == 200, body


async def journaled(client: Client, count: int, **match: Any) -> list[dict[str, Any]]:
    """Wait (bounded) until `count` journal rows match, and return them."""
    for _ in range(200):
        await client.gateway.writer.flush()
        rows = await client.events(**match)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} events {match} never journaled: {await client.events()}")


async def journal_seqs_after(client: Client, after: int) -> list[int]:
    await client.gateway.writer.flush()
    return [row.seq for row in await client.gateway.recorder.read_events(after, 1000)]


def ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages if m.id is not None]


async def test_a_reconnect_with_last_event_id_gets_every_event_in_between_exactly_once(
    client: Client,
) -> None:
    headers = await client.token_headers()
    first = await open_stream(client.http, client.base, headers)
    await present(client)
    granted = (await journaled(client, 1, type="access", granted=True))[0]
    seen = await first.until(granted["seq"])
    assert seen[-1].data["reason"] == "granted" and seen[-1].data["user_id"] == "1001"
    last_id = seen[-1].id
    assert last_id is not None
    first.close()  # the phone loses the Wi-Fi...

    await present(client, UNKNOWN_BITS)  # ...while the door keeps deciding
    await present(client)
    await journaled(client, 1, type="access", granted=False)
    # The reconnect races more presentations: some events are journaled while it reads
    # what it missed, some while it subscribes, some after.
    resumed_headers = {**headers, "Last-Event-ID": str(last_id)}
    racing = asyncio.gather(*(present(client, encode_h10301(98, n)) for n in range(4)))
    second = await open_stream(client.http, client.base, resumed_headers)
    await racing
    await journaled(client, 5, type="access", granted=False)
    expected = await journal_seqs_after(client, last_id)
    got = await second.until(expected[-1])
    assert ids(got) == expected  # in order, none twice, none missing
    second.close()


async def test_after_query_resumes_too_and_the_header_wins(client: Client) -> None:
    headers = await client.token_headers()
    await present(client)
    await present(client, UNKNOWN_BITS)
    rows = await journaled(client, 1, type="access", granted=False)
    everything = await journal_seqs_after(client, 0)
    # ?after=0 replays the whole journal
    stream = await open_stream(client.http, client.base, headers, after="0")
    assert ids(await stream.until(everything[-1])) == everything
    stream.close()
    # an EventSource keeps its URL on reconnect and adds the header: the header decides
    denied_seq = rows[0]["seq"]
    resumed = await open_stream(
        client.http, client.base, {**headers, "Last-Event-ID": str(denied_seq - 1)}, after="0"
    )
    assert ids(await resumed.until(everything[-1])) == [s for s in everything if s >= denied_seq]
    resumed.close()


async def test_without_a_position_the_stream_starts_with_the_next_event(client: Client) -> None:
    headers = await client.token_headers()
    await present(client, UNKNOWN_BITS)
    old = await journaled(client, 1, type="access")
    stream = await open_stream(client.http, client.base, headers)
    await present(client)
    new = await journaled(client, 1, type="access", granted=True)
    got = await stream.until(new[0]["seq"])
    assert all(m.id is not None and m.id > old[0]["seq"] for m in got)
    stream.close()


async def test_an_id_from_another_journal_does_not_hide_new_events(client: Client) -> None:
    """A browser tab open across a reinstall comes back with an id this journal never
    gave: it starts with the next event rather than wait for seq to catch up."""
    headers = {**await client.token_headers(), "Last-Event-ID": "999999"}
    stream = await open_stream(client.http, client.base, headers)
    await present(client)
    row = (await journaled(client, 1, type="access"))[0]
    assert ids(await stream.until(row["seq"]))[-1] == row["seq"]
    stream.close()


async def test_filters_by_door_reader_result_and_user(client: Client) -> None:
    headers = await client.token_headers()
    query = {"after": "0", "door": "front", "reader": "front-wiegand"}
    denied = await open_stream(client.http, client.base, headers, result="denied", **query)
    granted = await open_stream(client.http, client.base, headers, result="granted", **query)
    ada = await open_stream(client.http, client.base, headers, user="1001", after="0")
    back = await open_stream(client.http, client.base, headers, door="back", after="0")
    await present(client, UNKNOWN_BITS)
    await present(client)
    await present(client, encode_h10301(12, 11111))  # Charles: known, inactive, denied
    rows = await journaled(client, 3, type="access")
    last = rows[-1]["seq"]

    def reasons(messages: list[Message]) -> list[str]:
        return [m.data["reason"] for m in messages if m.event == "message"]

    got_denied = await denied.until(last)
    assert reasons(got_denied) == ["unknown_credential", "user_inactive"]
    assert all(m.data["granted"] is False and m.data["door"] == "front" for m in got_denied)
    got_granted = await granted.until(rows[1]["seq"])
    assert reasons(got_granted) == ["granted"]
    got_ada = await ada.until(rows[1]["seq"])
    assert {m.data["user_id"] for m in got_ada} == {"1001"}
    # nothing happened at the back door: that stream only has heartbeats to say
    try:
        message = await back.next(timeout=0.5)
    except TimeoutError:
        message = None
    assert message is None or message.data["door"] == "back"
    for stream in (denied, granted, ada, back):
        stream.close()


async def test_a_bad_filter_or_position_is_a_400(client: Client) -> None:
    headers = await client.token_headers()
    for query in ({"result": "maybe"}, {"after": "-1"}, {"after": "x"}, {"door": "d" * 200}):
        status, body, _ = await client.call("GET", STREAM, params=query, headers=headers)
        assert status == 400, (query, body)
    status, _, _ = await client.call("GET", STREAM, headers={**headers, "Last-Event-ID": "seven"})
    assert status == 400


async def test_no_login_is_401_and_a_role_without_logs_is_403(client: Client) -> None:
    status, body, _ = await client.call("GET", STREAM)
    assert status == 401 and "events" not in str(body)
    status, _, _ = await client.call("GET", "/api/v1/events/1")
    assert status == 401
    await site_with_roles(client)
    for role, expected in (("NETWORKADMIN", 403), ("PERSONALUSER", 403), ("USERADMIN", 200)):
        headers = await client.token_headers(role.lower(), "correct horse battery")
        async with client.http.get(client.base + STREAM, headers=headers) as resp:
            assert resp.status == expected, role


async def test_the_status_pages_cookie_opens_the_stream(client: Client) -> None:
    status, body, _ = await client.login(cookie=True)
    assert status == 200, body
    stream = await open_stream(client.http, client.base)  # the cookie jar carries it
    await present(client)
    row = (await journaled(client, 1, type="access"))[0]
    assert ids(await stream.until(row["seq"]))[-1] == row["seq"]
    stream.close()


async def test_open_streams_are_capped_and_the_next_one_is_told_to_come_back(
    client: Client,
) -> None:
    headers = await client.token_headers()
    cap = 32
    # Phones on the site's Wi-Fi: several addresses (one address may open only 32
    # connections of any kind, gateway.web.limits), all of them on loopback here.
    phones = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{n}", 0)))
        for n in (2, 3, 4)
    ]
    try:
        streams = [await open_stream(phones[n % 2], client.base, headers) for n in range(cap)]
        async with phones[2].get(client.base + STREAM, headers=headers) as resp:
            assert resp.status == 503
            assert int(resp.headers["Retry-After"]) > 0
        streams.pop().close()
        for _ in range(100):  # the server notices the hang-up within its poll interval
            async with phones[2].get(client.base + STREAM, headers=headers) as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("a closed stream's place was never given back")
        for stream in streams:
            stream.close()
    finally:
        for phone in phones:
            await phone.close()


async def test_a_logout_ends_the_stream_it_opened(client: Client) -> None:
    streams = client.gateway.web_app[live.STREAMS]
    streams.limits = dataclasses.replace(streams.limits, poll_s=0.05, session_check_s=0.1)
    headers = await client.token_headers()
    other = await client.token_headers()  # another session of the same technician
    stream = await open_stream(client.http, client.base, headers)
    stays = await open_stream(client.http, client.base, other)
    status, _, _ = await client.call("POST", "/api/v1/logout", headers=headers)
    assert status == 200
    message = await stream.next(timeout=2)
    while message.event == "message":  # the logout itself, journaled
        message = await stream.next(timeout=2)
    assert message.event == "session_ended"
    with pytest.raises((EOFError, aiohttp.ClientError)):
        await stream.next(timeout=2)
    await present(client)
    row = (await journaled(client, 1, type="access"))[0]
    assert ids(await stays.until(row["seq"]))[-1] == row["seq"]  # the other one lives on
    for opened in (stream, stays):
        opened.close()


async def test_a_client_too_far_behind_is_dropped_and_comes_back_losing_nothing(
    client: Client,
) -> None:
    streams = client.gateway.web_app[live.STREAMS]
    streams.limits = dataclasses.replace(streams.limits, max_queued=3)
    headers = await client.token_headers()
    stream = await open_stream(client.http, client.base, headers)
    recorder = client.gateway.recorder

    def door_event(n: int) -> Event:
        return Event("door", client.clock.time(), door="back", reason="burst", trace=str(n))

    recorder.emit(door_event(0))  # once it arrives, the stream follows the feed
    await recorder.flush()
    first = recorder.last_seq()
    await stream.until(first)
    for n in range(1, 11):  # a burst: more rows at once than the client's queue holds
        recorder.emit(door_event(n))
    await recorder.flush()
    expected = [row.seq for row in await recorder.read_events(first, 100)]
    assert len(expected) == 10
    got = await stream.until(2**62)  # until a control message
    assert got[-1].event == "dropped" and got[-1].data["reason"] == "too_slow"
    last = ids(got)[-1] if ids(got) else first
    again = await open_stream(client.http, client.base, {**headers, "Last-Event-ID": str(last)})
    rest = await again.until(expected[-1])
    assert ids(got) + ids(rest) == expected  # nothing lost, nothing twice
    stream.close()
    again.close()


async def test_a_quiet_stream_sends_heartbeats(client: Client) -> None:
    streams = client.gateway.web_app[live.STREAMS]
    streams.limits = dataclasses.replace(streams.limits, poll_s=0.05, heartbeat_s=0.1)
    headers = await client.token_headers()
    await client.gateway.writer.flush()  # the login is journaled before the stream opens
    stream = await open_stream(client.http, client.base, headers)
    with pytest.raises(TimeoutError):  # nothing happens at the door for 0.5 s...
        await asyncio.wait_for(stream.next(), 0.5)
    assert stream.heartbeats >= 2  # ...and the connection still says so
    assert stream.retry_ms == 3000
    stream.close()


async def test_an_unattended_stream_ends_when_its_session_goes_idle(client: Client) -> None:
    """An events page left open on a laptop does not keep its session alive: the stream is
    the script's, not a person's (as the dashboard's refresh)."""
    streams = client.gateway.web_app[live.STREAMS]
    streams.limits = dataclasses.replace(streams.limits, poll_s=0.05, session_check_s=0.1)
    stream = await open_stream(client.http, client.base, await client.token_headers())
    idle_s = client.gateway.settings.web.token_idle_s
    client.clock.advance(idle_s / 2)
    await asyncio.sleep(0.3)  # the stream checks its session a few times meanwhile...
    client.clock.advance(idle_s / 2 + 1)  # ...which must not have restarted its idle time
    message = await stream.next(timeout=2)
    while message.event == "message":
        message = await stream.next(timeout=2)
    assert message.event == "session_ended"
    stream.close()


async def test_stopping_with_streams_open_is_prompt_and_tells_them(client: Client) -> None:
    headers = await client.token_headers()
    streams = [await open_stream(client.http, client.base, headers) for _ in range(5)]
    started = time.monotonic()
    await client.gateway.stop()
    took = time.monotonic() - started
    assert took < 2.0, f"stop took {took:.1f} s with streams open"
    for stream in streams:
        message = await stream.next(timeout=2)
        while message.event == "message":  # the doors locking, `stopping` journaled
            message = await stream.next(timeout=2)
        assert message.event == "stopping"
        with pytest.raises((EOFError, aiohttp.ClientError)):  # and the stream ends
            await stream.next(timeout=2)
        stream.close()


async def test_the_events_are_shown_as_the_events_route_shows_them(client: Client) -> None:
    headers = await client.token_headers()
    stream = await open_stream(client.http, client.base, headers, after="0")
    await client.call(
        "POST", "/sim/keys", json={"reader": "front-keypad", "keys": "1234#"}
    )  # Ada's PIN
    row = (await journaled(client, 1, type="access", credential_kind="pin"))[0]
    got = await stream.until(row["seq"])
    status, listed, _ = await client.call(
        "GET", "/api/v1/events", params={"after": "0"}, headers=headers
    )
    assert status == 200
    listed_row = next(e for e in listed["events"] if e["seq"] == row["seq"])
    assert got[-1].data == listed_row
    assert got[-1].data["credential"] == "****"
    assert "1234" not in str([m.data for m in got])
    stream.close()


async def test_the_decision_trace_of_one_event(client: Client) -> None:
    headers = await client.token_headers()
    await present(client, encode_h10301(12, 11111))  # Charles: known, inactive
    row = (await journaled(client, 1, type="access"))[0]
    status, body, _ = await client.call("GET", f"/api/v1/events/{row['seq']}", headers=headers)
    assert status == 200, body
    assert body["event"]["seq"] == row["seq"] and body["event"]["reason"] == "user_inactive"
    trace = body["trace"]
    assert trace["decided_by"].startswith("user:")
    assert trace["steps"][0].startswith("lookup:card")
    assert trace["latency_ms"] == row["latency_ms"] and trace["latency_ms"] >= 0
    assert trace["raw"] == encode_h10301(12, 11111)  # the frame as the reader sent it
    status, _, _ = await client.call("GET", "/api/v1/events/999999", headers=headers)
    assert status == 404


async def test_twenty_open_streams_do_not_slow_a_card_decision() -> None:
    """The benchmark's measurement (benchmarks/stream_load.py), with a generous bound: the
    streams are served off the decision path, so 20 of them cost a card well under the
    20 ms a person could notice, while each stream still got every decision."""
    quiet = await measure(streams=0, cards=15)
    busy = await measure(streams=20, cards=15)
    assert busy["events_per_stream"] >= 15
    slower_by = busy["card_to_decision_ms"]["p50"] - quiet["card_to_decision_ms"]["p50"]
    assert slower_by < 20.0, (quiet, busy)
    assert busy["decide_ms"]["p50"] < 5.0, busy
