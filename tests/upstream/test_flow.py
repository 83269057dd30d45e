"""UpstreamFlow against a real server on loopback: what the server receives for every
variable and mode, two-factor in both orders, auth-mode rules, status."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import Instant
from gateway.settings import AccessSettings, UpstreamSettings
from gateway.upstream.flow import UpstreamFlow
from tests.fakes import ManualClock
from tests.upstream.verify_fakes import FakeUpstream, cred, door, reader

TZ = ZoneInfo("Europe/Berlin")
WALL = datetime(2027, 3, 4, 5, 6, 7, tzinfo=TZ).timestamp()
NOW = Instant.read(ManualClock(WALL))  # the moment a new ManualClock(WALL) shows
HOUR, DAY = 3600.0, 86400.0
EVERY_VARIABLE = (
    "/verify?qr={QRCode}&card={Card}&cc={CardCode}&pin={Pin}&pc={PINCode}&face={Face}"
    "&fd={FaceData}&dev={DeviceID}&token={Token}&type={Type}&time={Time}"
    "&session={Session}&step={Step}"
)
EMPTY = {
    "qr": "",
    "card": "",
    "cc": "",
    "pin": "",
    "pc": "",
    "face": "",
    "fd": "",
    "dev": "gw-1",
    "token": "",
    "type": "",
    "time": "2027-03-04T05:06:07+01:00",
    "session": "",
    "step": "",
}

FlowFactory = Callable[..., UpstreamFlow]


@pytest.fixture
async def server() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture
async def make_flow(server: FakeUpstream) -> AsyncIterator[FlowFactory]:
    """Builds flows on `server` (path + query template given); closes them afterwards."""
    flows: list[UpstreamFlow] = []

    def build(
        path: str = EVERY_VARIABLE, clock: ManualClock | None = None, **options: object
    ) -> UpstreamFlow:
        settings = UpstreamSettings(url=server.base + path, device_id="gw-1", timeout_s=0.5)
        settings = dataclasses.replace(settings, **options)  # type: ignore[arg-type]
        sessions = iter(f"session{n}" for n in range(1, 100))
        flow = UpstreamFlow(
            settings,
            AccessSettings(two_factor_timeout_s=15),
            TZ,
            clock or ManualClock(WALL),
            pin_hash=lambda pin: f"h({pin})",
            new_session=lambda: next(sessions),
        )
        flows.append(flow)
        return flow

    yield build
    for flow in flows:
        await flow.close()


# ----------------------------------------------------------------------------- wants


def test_wants_follows_url_methods_and_mode() -> None:
    clock = ManualClock(WALL)
    access = AccessSettings()

    def flow(**options: object) -> UpstreamFlow:
        settings = dataclasses.replace(UpstreamSettings(url="http://u/v"), **options)  # type: ignore[arg-type]
        return UpstreamFlow(settings, access, TZ, clock)

    customize = flow()
    assert [customize.wants(cred(k, "1")) for k in ("card", "pin", "qr", "plate")] == [
        True,
        True,
        True,
        False,
    ]
    assert not flow(url="").wants(cred("card", "01"))
    assert not flow(methods=("qr",)).wants(cred("card", "01"))
    general = flow(mode="general", methods=("qr", "card"))
    assert general.wants(cred("qr", "x")) and not general.wants(cred("card", "01"))


# ----------------------------------------------------------------------------- single factor


@pytest.mark.parametrize(
    ("kind", "value", "filled"),
    [
        ("card", "0C8707", {"card": "0C8707", "cc": "0C8707"}),
        ("pin", "4711", {"pin": "4711", "pc": "4711"}),
        ("qr", "VISITOR-1 & co", {"qr": "VISITOR-1 & co"}),
    ],
)
async def test_the_credential_fills_its_variables_and_the_rest_are_empty(
    server: FakeUpstream, make_flow: FlowFactory, kind: str, value: str, filled: dict[str, str]
) -> None:
    flow = make_flow()
    decision = await flow.decide_miss(cred(kind, value), door(), reader(), NOW)  # type: ignore[arg-type]
    assert (decision.granted, decision.reason, decision.source) == (True, "granted", "upstream")
    assert decision.user_id is None and decision.final
    assert server.seen[0].query == {**EMPTY, **filled}
    assert decision.trace == (
        f"upstream:GET 127.0.0.1:{server.port}/verify",
        "upstream:http_200,isvalid=true",
        "granted",
    )


async def test_general_mode_sends_qr_codes(server: FakeUpstream, make_flow: FlowFactory) -> None:
    path = "/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}"
    flow = make_flow(path, mode="general", methods=("qr",))
    decision = await flow.decide_miss(cred("qr", "ABC123"), door(), reader(), NOW)
    assert decision.granted
    assert server.seen[0].query == {"codeKey": "ABC123", "deviceId": "gw-1"}


async def test_time_uses_the_configured_format(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow("/v?t={Time}", time_format="%Y%m%d %H%M%S")
    await flow.decide_miss(cred("card", "0C8707"), door(), reader(), NOW)
    assert server.seen[0].query == {"t": "20270304 050607"}


@pytest.mark.parametrize(
    ("fmt", "card", "sent"),
    [("", "0C8707", "0C8707"), ("W26", "0C8707", "012-34567"), ("8HN", "04A1B2C3", "04A1B2C3")],
)
async def test_cards_use_the_readers_display_format(
    server: FakeUpstream, make_flow: FlowFactory, fmt: str, card: str, sent: str
) -> None:
    flow = make_flow("/v?c={Card}")
    await flow.decide_miss(cred("card", card), door(), reader(card_display_format=fmt), NOW)
    assert server.seen[0].query == {"c": sent}


async def test_a_card_the_format_cannot_show_is_denied_unasked(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow("/v?c={Card}")
    the_reader = reader(card_display_format="8HN")
    decision = await flow.decide_miss(cred("card", "0C8707"), door(), the_reader, NOW)
    assert (decision.granted, decision.reason, decision.source) == (
        False,
        "upstream_card_format",
        "policy",
    )
    assert server.seen == []


@pytest.mark.parametrize(("mode", "kind"), [("card", "pin"), ("pin", "card"), ("pin", "qr")])
async def test_a_kind_the_door_does_not_accept_is_not_asked_about(
    server: FakeUpstream, make_flow: FlowFactory, mode: str, kind: str
) -> None:
    decision = await make_flow().decide_miss(
        cred(kind, "1234"),  # type: ignore[arg-type]
        door(auth_mode=mode),
        reader(),
        NOW,
    )
    assert (decision.granted, decision.reason) == (False, "auth_mode")
    assert server.seen == []


async def test_a_denial_and_its_message(server: FakeUpstream, make_flow: FlowFactory) -> None:
    server.answer_json({"validation_result": "0", "message": "Pass expired"})
    decision = await make_flow().decide_miss(cred("qr", "Q1"), door(), reader(), NOW)
    assert (decision.granted, decision.reason, decision.source) == (
        False,
        "upstream_denied",
        "upstream",
    )
    assert decision.notes == ("upstream_message=Pass expired",)
    assert decision.trace[-1] == "upstream_denied"


async def test_a_server_error_denies_with_its_status(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    server.answer_status(500)
    decision = await make_flow().decide_miss(cred("card", "0C8707"), door(), reader(), NOW)
    assert (decision.granted, decision.reason) == (False, "upstream_http_500")


# ----------------------------------------------------------------------------- two factors


@pytest.mark.parametrize(
    ("mode", "first", "second", "type_"),
    [
        ("card+pin", ("card", "0C8707"), ("pin", "4711"), "1"),
        ("pin+card", ("pin", "4711"), ("card", "0C8707"), "2"),
    ],
)
async def test_two_factor_sends_both_steps_with_token_type_and_session(
    server: FakeUpstream,
    make_flow: FlowFactory,
    mode: str,
    first: tuple[str, str],
    second: tuple[str, str],
    type_: str,
) -> None:
    flow = make_flow("/v?token={Token}&type={Type}&session={Session}&step={Step}&c={Card}")
    the_door = door(auth_mode=mode)
    step1 = await flow.decide_miss(cred(*first), the_door, reader(), NOW)  # type: ignore[arg-type]
    assert (step1.granted, step1.final, step1.reason) == (False, False, "awaiting_second_factor")
    assert step1.source == "upstream"
    assert flow.expects_second_factor("front", NOW + 1)
    assert flow.status(NOW + 1)["awaiting_second_factor"] == {"front": 14.0}
    step2 = await flow.decide_miss(cred(*second), the_door, reader(), NOW + 5)  # type: ignore[arg-type]
    assert (step2.granted, step2.final, step2.reason) == (True, True, "granted")
    card = "0C8707"
    sent = [s.query for s in server.seen]
    assert sent == [
        {"token": first[1], "type": type_, "session": "session1", "step": "1",
         "c": card if first[0] == "card" else ""},
        {"token": second[1], "type": type_, "session": "session1", "step": "2",
         "c": card if second[0] == "card" else ""},
    ]  # fmt: skip
    assert f"upstream:two_factor,{mode}" in step2.trace
    assert not flow.expects_second_factor("front", NOW + 6)


async def test_two_factor_first_denial_ends_it(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="card+pin")
    server.answer_json({"isvalid": 0})
    first = await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW)
    assert (first.granted, first.final, first.reason) == (False, True, "upstream_denied")
    server.answer_json({"isvalid": 1})
    second = await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW + 1)
    assert (second.granted, second.reason) == (False, "auth_mode")
    assert len(server.seen) == 1  # the PIN was never sent


async def test_two_factor_second_denial_denies(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="card+pin")
    await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW)
    server.answer_json({"isvalid": False})
    second = await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW + 1)
    assert (second.granted, second.final, second.reason) == (False, True, "upstream_denied")


async def test_two_factor_second_factor_too_late(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="pin+card")
    await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW)
    late = await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW + 15.1)
    assert (late.granted, late.reason) == (False, "second_factor_timeout")
    assert len(server.seen) == 1


@pytest.mark.parametrize("step", [-HOUR, -DAY, HOUR, DAY])
async def test_the_upstream_second_factor_is_in_time_whatever_the_wall_clock_does(
    server: FakeUpstream, make_flow: FlowFactory, step: float
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="card+pin")
    await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW)
    in_time = dataclasses.replace(NOW + 5, wall=NOW.wall + step + 5)  # wall clock stepped
    assert flow.expects_second_factor("front", in_time)
    assert flow.status(in_time)["awaiting_second_factor"] == {"front": 10.0}
    second = await flow.decide_miss(cred("pin", "4711"), the_door, reader(), in_time)
    assert (second.granted, second.reason) == (True, "granted")


@pytest.mark.parametrize("step", [-HOUR, -DAY])
async def test_the_upstream_second_factor_is_late_after_a_step_back_too(
    server: FakeUpstream, make_flow: FlowFactory, step: float
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="pin+card")
    await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW)
    late = dataclasses.replace(NOW + 16, wall=NOW.wall + step + 16)
    assert not flow.expects_second_factor("front", late)
    decision = await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), late)
    assert (decision.granted, decision.reason) == (False, "second_factor_timeout")
    assert len(server.seen) == 1


async def test_a_new_first_factor_restarts_the_exchange(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow("/v?s={Session}&step={Step}")
    the_door = door(auth_mode="card+pin")
    await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW)
    await flow.decide_miss(cred("card", "0C8708"), the_door, reader(), NOW + 1)
    await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW + 2)
    assert [s.query for s in server.seen] == [
        {"s": "session1", "step": "1"},
        {"s": "session2", "step": "1"},
        {"s": "session2", "step": "2"},
    ]


async def test_cancel_pending_forgets_the_upstream_first_factor(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow()
    the_door = door(auth_mode="card+pin")
    await flow.decide_miss(cred("card", "0C8707"), the_door, reader(), NOW)
    flow.cancel_pending("front")
    assert not flow.expects_second_factor("front", NOW)
    decision = await flow.decide_miss(cred("pin", "4711"), the_door, reader(), NOW + 1)
    assert decision.reason == "auth_mode"


async def test_general_mode_cannot_open_a_two_factor_door(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow("/v?q={QRCode}", mode="general", methods=("qr",))
    decision = await flow.decide_miss(cred("qr", "Q"), door(auth_mode="card+pin"), reader(), NOW)
    assert (decision.granted, decision.reason) == (False, "auth_mode")
    assert server.seen == []


# ----------------------------------------------------------------------------- status


async def test_status_reports_breaker_cache_and_last_decision(
    server: FakeUpstream, make_flow: FlowFactory
) -> None:
    flow = make_flow(cache_grants_s=60)
    await flow.decide_miss(cred("card", "0C8707"), door(), reader(), NOW)
    status = flow.status(NOW)
    assert status["configured"] and status["mode"] == "customize"
    assert status["breaker"]["state"] == "closed"
    assert status["breaker"]["latency_ms"]["count"] == 1
    assert status["cache"]["entries"] == 1
    assert status["last_decision"] == {
        "door": "front",
        "reason": "granted",
        "source": "upstream",
        "time": NOW.wall,
    }
