"""NfcReader against SimulatedNfcFrontend: presentations, debounce, recovery, status."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.clock import SystemClock
from gateway.hw.nfc import NfcFrontend, NfcReader, NfcTarget, PresenceTracker, TargetKind
from gateway.hw.nfc_sim import SimulatedNfcFrontend, SimulatedNfcReader
from tests.fakes import ManualClock
from tests.nfc.conftest import SETTINGS, ReaderMaker, RecordingSink, eventually

FAST = {"poll_s": 0.05, "hang_after_s": 0.2, "backoff_s": (0.05, 0.2)}
UID7 = bytes.fromhex("04A1B2C3D4E5F6")


async def settle(sim: SimulatedNfcFrontend, polls: int = 3) -> None:
    """Let the reader answer `polls` more polls, off the loop thread."""
    target = sim.polls + polls
    assert await asyncio.to_thread(sim.wait_for_polls, target, 5.0)


@pytest.mark.parametrize(
    ("uid", "options", "canonical"),
    [
        ("04A1B2C3D4E5F6", {}, "04A1B2C3D4E5F6"),
        ("DEADBEEF", {}, "DEADBEEF"),
        ("04A1B2C3D4E5F6", {"card_bytes": 3}, "D4E5F6"),
        ("04A1B2C3D4E5F6", {"card_byte_order": "reversed"}, "F6E5D4C3B2A104"),
        ("DEADBEEF", {"card_byte_order": "reversed", "card_bytes": 3}, "BEADDE"),
    ],
)
async def test_a_presented_card_gives_one_canonical_credential(
    make_reader: ReaderMaker,
    sink: RecordingSink,
    uid: str,
    options: dict[str, object],
    canonical: str,
) -> None:
    sim = SimulatedNfcFrontend()
    make_reader(lambda: sim, **FAST, **options)
    sim.present(bytes.fromhex(uid))
    await eventually(lambda: len(sink.credentials) == 1)
    (credential,) = sink.credentials
    assert (credential.kind, credential.value, credential.raw) == ("card", canonical, uid)
    assert credential.reader == "nfc-front"
    assert sim.path == "sim"


@pytest.mark.parametrize(("kind", "uid"), [("106B", "11223344"), ("212F", "0102030405060708")])
async def test_type_b_and_felica_identifiers(
    make_reader: ReaderMaker, sink: RecordingSink, kind: TargetKind, uid: str
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    sim.present(bytes.fromhex(uid), kind)
    await eventually(lambda: sink.values == [uid])
    assert reader.status()["recent"][0]["target"] == kind


async def test_a_held_card_counts_once(
    make_reader: ReaderMaker, sink: RecordingSink, clock: ManualClock
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 1)
    await settle(sim)
    clock.advance(3600)  # held for an hour
    await settle(sim)
    assert len(sink.credentials) == 1
    status = reader.status()
    assert status["present"] == ["04A1B2C3D4E5F6"]
    assert status["frames_accepted"] == 1 and len(status["recent"]) == 1
    assert status["frames_debounced"] == 0


async def test_removed_card_counts_again_only_after_debounce(
    make_reader: ReaderMaker, sink: RecordingSink, clock: ManualClock
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, debounce_s=2.0, **FAST)
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 1)

    sim.remove()
    await settle(sim)  # the reader has seen the field empty
    clock.advance(1.5)
    sim.present(UID7)
    await settle(sim)
    assert len(sink.credentials) == 1, "back within debounce_s: the same presentation"
    status = reader.status()
    assert status["frames_debounced"] == 1
    assert [r["result"] for r in status["recent"]] == ["accepted", "debounced"]

    sim.remove()
    await settle(sim)
    clock.advance(2.0)
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 2)
    assert reader.status()["frames_accepted"] == 2


async def test_another_card_is_not_held_back_by_the_first(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    make_reader(lambda: sim, **FAST)
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 1)
    sim.present(bytes.fromhex("DEADBEEF"))
    await eventually(lambda: sink.values == ["04A1B2C3D4E5F6", "DEADBEEF"])


async def test_random_uid_is_rejected_with_its_reason(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    sim.present(bytes.fromhex("08123456"))  # ISO 14443-3 random NFCID1
    await eventually(lambda: reader.status()["frames_rejected"] == {"random_uid": 1})
    await settle(sim)
    assert sink.credentials == []
    assert reader.status()["recent"][0]["result"] == "random_uid"


async def test_a_hung_frontend_is_reopened_and_the_reader_comes_back(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    await eventually(lambda: reader.status()["online"])

    sim.stop_answering()
    await eventually(lambda: reader.status()["reopens"] == 1)
    status = reader.status()
    assert status["online"] is False
    assert "stopped answering" in status["offline_reason"]
    await eventually(lambda: reader.status()["open_failures"] >= 1)  # still hung: cannot open
    assert "cannot open" in reader.status()["offline_reason"]

    sim.resume()
    await eventually(lambda: reader.status()["online"])
    assert reader.status()["offline_reason"] is None
    sim.present(UID7)
    await eventually(lambda: sink.values == ["04A1B2C3D4E5F6"])
    assert reader.status()["reopens"] == 1


async def test_repeated_poll_errors_reopen_the_frontend(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    await eventually(lambda: reader.status()["online"])
    sim.fail_polls(2)  # fewer than MAX_POLL_ERRORS: ridden out
    await eventually(lambda: reader.status()["poll_errors"] == 2)
    await settle(sim)
    assert reader.status()["reopens"] == 0
    opens = sim.opens

    sim.fail_polls(3)
    await eventually(lambda: reader.status()["reopens"] == 1)
    await eventually(lambda: reader.status()["online"])
    assert sim.opens == opens + 1
    assert reader.status()["poll_errors"] == 5


async def test_a_card_held_through_a_reopen_is_not_counted_twice(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 1)
    sim.fail_polls(3)
    await eventually(lambda: reader.status()["reopens"] == 1)
    await eventually(lambda: reader.status()["online"])
    await settle(sim)
    assert len(sink.credentials) == 1


async def test_the_polling_thread_survives_a_failing_factory(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    calls = {"n": 0}

    def factory() -> NfcFrontend:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("driver exploded")
        return sim

    reader = make_reader(factory, **FAST)
    await eventually(lambda: calls["n"] >= 2)
    await eventually(lambda: reader.status()["online"])
    sim.present(UID7)
    await eventually(lambda: len(sink.credentials) == 1)


async def test_status_while_the_device_cannot_be_opened(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    sim = SimulatedNfcFrontend()
    sim.stop_answering()
    reader = make_reader(lambda: sim, **FAST)
    await eventually(lambda: reader.status()["open_failures"] >= 2)
    status = reader.status()
    assert status["online"] is False
    assert status["offline_reason"].startswith("cannot open 'sim'")
    assert (status["kind"], status["door"], status["direction"], status["device"]) == (
        "nfc",
        "front",
        "in",
        "sim",
    )
    assert status["reopens"] == 0
    sim.resume()
    await eventually(lambda: reader.status()["online"])


async def test_close_returns_promptly_even_when_the_frontend_hangs(
    sink: RecordingSink, clock: ManualClock
) -> None:
    sim = SimulatedNfcFrontend()
    loop = asyncio.get_running_loop()
    reader = NfcReader(SETTINGS, loop, sink, lambda: sim, clock, poll_s=0.05)
    reader.start()
    await eventually(lambda: reader.status()["online"])
    sim.stop_answering()
    await asyncio.sleep(0.1)  # a poll is now blocked inside the frontend
    started = time.monotonic()
    await asyncio.to_thread(reader.close)
    assert time.monotonic() - started < 2.0
    assert reader.status()["online"] is False
    assert reader.status()["offline_reason"] == "closed"
    sim.present(UID7)
    sim.resume()  # the abandoned poll returns and the frontend is released
    await asyncio.sleep(0.1)
    assert sink.credentials == []
    assert await asyncio.to_thread(lambda: _wait_closed(sim))


def _wait_closed(sim: SimulatedNfcFrontend) -> bool:
    deadline = time.monotonic() + 2.0
    while sim.is_open and time.monotonic() < deadline:
        time.sleep(0.01)
    return not sim.is_open


async def test_close_releases_a_healthy_frontend(make_reader: ReaderMaker) -> None:
    sim = SimulatedNfcFrontend()
    reader = make_reader(lambda: sim, **FAST)
    await eventually(lambda: reader.status()["online"])
    await asyncio.to_thread(reader.close)
    assert not sim.is_open


async def test_simulated_reader_taps_cards_given_as_hex(sink: RecordingSink) -> None:
    loop = asyncio.get_running_loop()
    reader = SimulatedNfcReader(SETTINGS, loop, sink, SystemClock(), poll_s=0.05)
    reader.start()
    try:
        reader.present_card("04:a1:b2:c3")
        await eventually(lambda: sink.values == ["04A1B2C3"])
        await eventually(lambda: reader.status()["present"] == [])  # a tap leaves at once
        with pytest.raises(ValueError, match="1 to 10 bytes of hex"):
            reader.present_card("xyz")
        assert reader.status()["backend"] == "simulated"
    finally:
        reader.close()


def test_simulated_frontend_checks_identifier_lengths() -> None:
    sim = SimulatedNfcFrontend()
    with pytest.raises(ValueError, match="212F"):
        sim.present(b"\x01\x02\x03\x04", "212F")
    with pytest.raises(ValueError, match="106B"):
        sim.present(b"\x01\x02", "106B")
    with pytest.raises(ValueError, match="kind"):
        sim.present(b"\x01\x02", "424F")  # type: ignore[arg-type]


def test_presence_tracker_measures_absence_from_answered_polls() -> None:
    card, other = NfcTarget("106A", b"\x01\x02\x03\x04"), NfcTarget("212F", bytes(8))
    presence = PresenceTracker(debounce_s=1.0)
    assert presence.observe(card, 0.0) == "new"
    assert presence.observe(card, 500.0) == "held"  # a slow poll cycle is not an absence
    assert presence.observe(None, 501.0) == "held"  # nothing in the field: card away from 501
    assert presence.observe(card, 501.5) == "debounced"
    assert presence.observe(other, 502.0) == "new"  # card away again from 502
    assert presence.present() == [other]
    assert presence.observe(card, 503.0) == "new"
