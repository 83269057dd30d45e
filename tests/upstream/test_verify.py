"""The verify client against a real HTTP server on loopback: every answer form of the
reference, and every way the exchange can go wrong, each denied within the deadline."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp.client_proto
import aiohttp.http_parser
import pytest

from gateway.model import qr_fingerprint
from gateway.settings import UpstreamSettings
from gateway.upstream.template import VerifyRequest
from gateway.upstream.verify import VerifyClient, VerifyResult
from tests.upstream.verify_fakes import DroppingUpstream, FakeUpstream, closed_port, self_signed

TIMEOUT_S = 0.5
MARGIN_S = 0.4  # scheduling slack on a loaded CI machine


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


def settings(url: str, **options: object) -> UpstreamSettings:
    base = UpstreamSettings(url=url, device_id="gw-1", timeout_s=TIMEOUT_S)
    return dataclasses.replace(base, **options)  # type: ignore[arg-type]


def card_request(value: str = "0C8707") -> VerifyRequest:
    return VerifyRequest(kind="card", value=value, device_id="gw-1", time="T")


async def ask(url: str, request: VerifyRequest | None = None, **options: object) -> VerifyResult:
    """One request with a fresh client (closed afterwards)."""
    client = VerifyClient(settings(url, **options))
    try:
        return await client.verify(request or card_request())
    finally:
        await client.close()


async def timed(url: str, **options: object) -> tuple[VerifyResult, float]:
    started = time.monotonic()
    result = await ask(url, None, **options)
    return result, time.monotonic() - started


# ----------------------------------------------------------------------------- answers

GRANTS = [{"isvalid": True}, {"isvalid": 1}, {"validation_result": "1"}]
DENIALS = [{"isvalid": False}, {"isvalid": 0}, {"validation_result": "0"}]


@pytest.mark.parametrize("body", GRANTS, ids=str)
async def test_every_success_form_grants(server: FakeUpstream, body: object) -> None:
    server.answer_json(body)
    result = await ask(f"{server.base}/verify?card={{Card}}")
    assert (result.granted, result.reason, result.failure) == (True, "granted", False)
    assert result.status == 200


@pytest.mark.parametrize("body", DENIALS, ids=str)
async def test_every_failure_form_denies(server: FakeUpstream, body: object) -> None:
    server.answer_json(body)
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_denied", False)


@pytest.mark.parametrize(
    "body",
    [
        {"isvalid": "1"},
        {"isvalid": "true"},
        {"isvalid": 1.0},
        {"isvalid": 2},
        {"isvalid": None},
        {"validation_result": 1},
        {"validation_result": True},
        {"validation_result": "yes"},
        {"result": "ok"},
        {},
        [{"isvalid": True}],
        "isvalid",
        True,
        {"isvalid": True, "validation_result": "0"},
        {"isvalid": True, "validation_result": "2"},
        {"data": {"isvalid": True}},
    ],
    ids=str,
)
async def test_wrong_shapes_are_bad_answers(server: FakeUpstream, body: object) -> None:
    server.answer_json(body)
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason) == (False, "upstream_bad_answer")
    assert not result.failure  # the server is up: no reason to open the breaker


@pytest.mark.parametrize("text", ["", "OK", "isvalid=1", "<html>ok</html>", '{"isvalid": tru'])
async def test_garbage_is_a_bad_answer(server: FakeUpstream, text: str) -> None:
    server.answer_text(text)
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason) == (False, "upstream_bad_answer")


@pytest.mark.parametrize(
    "text",
    [
        '{"isvalid": false, "isvalid": true}',
        '{"isvalid": true, "isvalid": true}',
        '{"validation_result": "0", "validation_result": "1"}',
        '{"isvalid": true, "user": {"name": "A", "name": "B"}}',
        '{"isvalid": true, "doors": [{"id": 1, "id": 2}]}',
    ],
)
async def test_a_duplicate_key_at_any_depth_is_a_bad_answer(
    server: FakeUpstream, text: str
) -> None:
    # Parsers disagree on which of two equal keys wins: the answer means nothing.
    server.answer_text(text)
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason) == (False, "upstream_bad_answer")
    assert result.detail == "http_200,duplicate_key"
    assert not result.failure  # the server answered: a malformed answer, not an outage


async def test_a_byte_order_mark_is_still_accepted(server: FakeUpstream) -> None:
    server.answer_text("\ufeff" + '{"isvalid": true}')
    assert (await ask(f"{server.base}/verify")).granted


async def test_both_fields_agreeing_grant(server: FakeUpstream) -> None:
    server.answer_json({"isvalid": 1, "validation_result": "1"})
    result = await ask(f"{server.base}/verify")
    assert result.granted
    assert result.detail == "http_200,isvalid=1,validation_result=1"


async def test_prompt_text_is_kept_cleaned_and_capped(server: FakeUpstream) -> None:
    server.answer_json({"isvalid": False, "message": "Visitor pass\nexpired" + "!" * 500})
    result = await ask(f"{server.base}/verify")
    assert result.reason == "upstream_denied"
    assert result.message.startswith("Visitor pass expired!")
    assert len(result.message) == 120
    server.answer_json({"validation_result": "1", "prompt": "Welcome"})
    assert (await ask(f"{server.base}/verify")).message == "Welcome"


# ----------------------------------------------------------------------------- HTTP failures


@pytest.mark.parametrize(
    ("status", "breaker_failure"), [(500, True), (503, True), (404, False), (401, False)]
)
async def test_http_errors_deny_with_their_status(
    server: FakeUpstream, status: int, breaker_failure: bool
) -> None:
    server.answer_status(status)  # the body says isvalid: true, which must not count
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason) == (False, f"upstream_http_{status}")
    assert result.failure is breaker_failure


async def test_redirects_are_not_followed(server: FakeUpstream) -> None:
    server.answer_status(302)
    result = await ask(f"{server.base}/verify")
    assert result.reason == "upstream_http_302"
    assert len(server.seen) == 1


async def test_a_stalled_server_is_a_timeout_at_the_deadline(server: FakeUpstream) -> None:
    server.stall()
    result, elapsed = await timed(f"{server.base}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_timeout", True)
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + MARGIN_S


async def test_a_closed_port_is_unreachable_at_once() -> None:
    result, elapsed = await timed(f"http://127.0.0.1:{closed_port()}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_unreachable", True)
    assert elapsed < TIMEOUT_S


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_request_the_server_dropped_is_asked_once(reset: bool) -> None:
    dropping = DroppingUpstream(drop=(1,), reset=reset)
    await dropping.start()
    client = VerifyClient(settings(f"{dropping.base}/verify?card={{Card}}"))
    try:
        first = await client.verify(card_request("0C8707"))
        second = await client.verify(card_request("0D10E1"))  # read, then dropped
    finally:
        await client.close()
        await dropping.stop()
    assert first.reason == "upstream_denied"
    # One question per presentation: the server may have acted on the dropped one.
    assert dropping.requests == [
        "GET /verify?card=0C8707 HTTP/1.1",
        "GET /verify?card=0D10E1 HTTP/1.1",
    ]
    assert (second.granted, second.reason, second.failure) == (False, "upstream_unreachable", True)
    assert second.detail == "unreachable:ConnectionDropped"


@pytest.mark.parametrize("close_after_s", [0.0, 0.001, 0.005, 0.05])
async def test_a_server_closing_connections_between_cards_costs_nothing(
    close_after_s: float,
) -> None:
    # The server closes its side after each answer, at once or after a keep-alive
    # timeout about as long as the gap between cards, without saying so: no card may be
    # sent into a connection that is closing (where it would fail, as it is not resent).
    closing = DroppingUpstream(close_after_s=close_after_s)
    await closing.start()
    client = VerifyClient(settings(f"{closing.base}/verify?card={{Card}}"))
    cards = ("0C8707", "0D10E1", "0C2B67", "0C8708", "0C8709")
    try:
        results = []
        for card in cards:
            results.append(await client.verify(card_request(card)))
            await asyncio.sleep(close_after_s)
    finally:
        await client.close()
        await closing.stop()
    assert [r.reason for r in results] == ["upstream_denied"] * len(cards)
    assert len(closing.requests) == len(cards)


async def test_a_connection_reset_mid_response_denies(server: FakeUpstream) -> None:
    server.reset()
    result, elapsed = await timed(f"{server.base}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_unreachable", True)
    assert elapsed < TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "chunked"])
async def test_a_10_mb_body_is_too_large(server: FakeUpstream, announce: bool) -> None:
    server.flood(announce_length=announce)
    result, elapsed = await timed(f"{server.base}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_too_large", False)
    assert elapsed < TIMEOUT_S + MARGIN_S


async def test_the_body_cap_is_the_setting(server: FakeUpstream) -> None:
    server.answer_json({"isvalid": True, "pad": "x" * 2000})
    assert (await ask(f"{server.base}/verify", max_body_bytes=1024)).reason == "upstream_too_large"
    assert (await ask(f"{server.base}/verify", max_body_bytes=4096)).granted


# ----------------------------------------------------------------------------- URL and auth


async def test_values_are_percent_encoded_and_cannot_add_parameters(server: FakeUpstream) -> None:
    qr = "a&b=c d/é%2F?#"
    request = VerifyRequest(kind="qr", value=qr, device_id="gw 1", time="T")
    result = await ask(f"{server.base}/v/{{QRCode}}?qr={{QRCode}}&dev={{DeviceID}}", request)
    assert result.granted
    seen = server.seen[0]
    assert seen.query == {"qr": qr, "dev": "gw 1"}
    assert seen.path == f"/v/{qr}"
    # The trace names the target with the code as its fingerprint: a QR code is a secret.
    assert result.target == f"127.0.0.1:{server.port}/v/{qr_fingerprint(qr)}"


async def test_basic_auth_from_the_settings(server: FakeUpstream) -> None:
    await ask(f"{server.base}/v", username="gw", password="s3cret")
    assert server.seen[0].headers["Authorization"] == "Basic Z3c6czNjcmV0"


async def test_basic_auth_from_the_url(server: FakeUpstream) -> None:
    await ask(f"http://gw:s3cret@127.0.0.1:{server.port}/v")
    assert server.seen[0].headers["Authorization"] == "Basic Z3c6czNjcmV0"


async def test_bearer_token(server: FakeUpstream) -> None:
    await ask(f"{server.base}/v", bearer_token="abc.DEF-123")
    assert server.seen[0].headers["Authorization"] == "Bearer abc.DEF-123"
    assert server.seen[0].headers["User-Agent"].startswith("door-gateway/")


async def test_the_pin_never_reaches_the_log(
    server: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = VerifyRequest(kind="pin", value="918273", device_id="gw-1", time="T")
    result = await ask(f"{server.base}/pin/{{Pin}}?p={{PINCode}}", request)
    assert server.seen[0].query == {"p": "918273"}
    assert "918273" not in caplog.text
    assert "/pin/****?p=****" in caplog.text
    assert result.target == f"127.0.0.1:{server.port}/pin/****"


# ----------------------------------------------------------------------------- TLS


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[FakeUpstream, Path]]:
    try:
        context, cert = self_signed(tmp_path)
    except (OSError, RuntimeError) as exc:  # no openssl binary
        pytest.skip(f"cannot make a test certificate: {exc}")
    upstream = FakeUpstream()
    await upstream.start(tls=context)
    yield upstream, cert
    await upstream.stop()


async def test_tls_is_verified_by_default(tls_server: tuple[FakeUpstream, Path]) -> None:
    server, _ = tls_server
    result = await ask(f"{server.base}/verify")
    assert (result.granted, result.reason, result.failure) == (False, "upstream_tls", True)
    assert server.seen == []


async def test_tls_with_the_sites_ca_file(tls_server: tuple[FakeUpstream, Path]) -> None:
    server, cert = tls_server
    assert (await ask(f"{server.base}/verify", ca_file=str(cert))).granted


async def test_tls_verification_can_be_switched_off(tls_server: tuple[FakeUpstream, Path]) -> None:
    server, _ = tls_server
    assert (await ask(f"{server.base}/verify", verify_tls=False)).granted


async def test_a_server_that_does_not_speak_http_is_a_bad_answer() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b'HELLO WORLD\r\n\r\n{"isvalid": true}')
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = raw.sockets[0].getsockname()[1]
        result = await ask(f"http://127.0.0.1:{port}/verify")
    finally:
        raw.close()
        await raw.wait_closed()
    assert (result.granted, result.reason, result.failure) == (False, "upstream_bad_answer", False)


def test_an_unusable_ca_file_stops_start_up_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"upstream\.ca_file .*ca\.pem: not a usable PEM CA file"):
        VerifyClient(settings("https://srv/v", ca_file=str(bad)))


# A grant whose HTTP framing is ambiguous: how long the body is depends on which header a
# parser believes (request smuggling's trick, here on a response). RFC 9112 6.3 makes it
# an unrecoverable error; aiohttp's C parser refuses it, its pure-Python parser (used
# where no compiled wheel exists, or with AIOHTTP_NO_EXTENSIONS set) takes the first one.
AMBIGUOUS_GRANTS = {
    "two_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nContent-Length: 40\r\n\r\n"
    b'{"isvalid": true}{"isvalid": false, "x": 1}',
    "a_length_list": b"HTTP/1.1 200 OK\r\nContent-Length: 17, 40\r\n\r\n"
    b'{"isvalid": true}{"isvalid": false, "x": 1}',
}


@pytest.mark.parametrize("parser", ["compiled", "pure_python"])
@pytest.mark.parametrize("answer", sorted(AMBIGUOUS_GRANTS))
async def test_a_grant_with_ambiguous_framing_is_a_bad_answer(
    monkeypatch: pytest.MonkeyPatch, parser: str, answer: str
) -> None:
    if parser == "pure_python":  # the one boundary patched: aiohttp's choice of parser
        monkeypatch.setattr(
            aiohttp.client_proto, "HttpResponseParser", aiohttp.http_parser.HttpResponseParserPy
        )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(AMBIGUOUS_GRANTS[answer])
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = raw.sockets[0].getsockname()[1]
        result = await ask(f"http://127.0.0.1:{port}/verify")
    finally:
        raw.close()
        await raw.wait_closed()
    assert (result.granted, result.reason, result.failure) == (False, "upstream_bad_answer", False)
