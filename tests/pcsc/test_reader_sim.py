"""PcscReader against the in-memory PC/SC backend: fast, no daemon, time moved by hand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from gateway.clock import SystemClock
from gateway.hw.desfire_sim import DesfireApplication, issued_application
from gateway.hw.pcsc import (
    GET_UID,
    BlockMode,
    PcscReader,
    ReadOutcome,
    authenticate_apdu,
    desfire_card,
    load_key_apdu,
    match_reader,
    read_binary_apdu,
    read_block,
)
from gateway.hw.pcsc_sim import SimulatedPcscBackend
from gateway.settings import ReaderSettings
from tests.fakes import ManualClock
from tests.pcsc.sink import ConnectCounter, Sink

UID = bytes.fromhex("04A1B2C3D4E5F6")
OTHER_UID = bytes.fromhex("0A0B0C0D")
KEY = bytes.fromhex("A0A1A2A3A4A5")
BLOCK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
SETTINGS = ReaderSettings(name="desk", kind="pcsc", door="front", debounce_s=1.0)
BLOCK_SETTINGS = replace(SETTINGS, mifare_sector=1, mifare_block=2, mifare_key=KEY.hex())


class Rig:
    """A reader on the simulated backend, polled by hand."""

    def __init__(self, settings: ReaderSettings = SETTINGS) -> None:
        self.clock = ManualClock()
        self.sink = Sink()
        self.backend = SimulatedPcscBackend()
        self.reader = PcscReader(
            settings,
            asyncio.get_running_loop(),
            self.sink,
            self.backend,
            self.clock,
        )

    async def poll(self, times: int = 1) -> None:
        for _ in range(times):
            self.reader.poll_once()
        await asyncio.sleep(0)  # let call_soon_threadsafe deliveries run

    def status(self) -> dict[str, Any]:
        return self.reader.status()


async def test_a_card_gives_its_uid_as_the_canonical_number() -> None:
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    (credential,) = rig.sink.credentials
    assert (credential.kind, credential.value, credential.reader) == (
        "card",
        UID.hex().upper(),
        "desk",
    )
    assert credential.raw == UID.hex().upper()
    assert credential.timestamp == rig.clock.time()
    status = rig.status()
    assert status["online"] and status["reader_name"] == rig.backend.reader_name
    assert status["frames_accepted"] == 1 and status["last_seen"] == rig.clock.time()
    assert status["recent"] == [
        {"time": rig.clock.time(), "uid": UID.hex().upper(), "result": "accepted"}
    ]


@pytest.mark.parametrize(
    ("order", "card_bytes", "expected"),
    [
        ("normal", 0, "04A1B2C3D4E5F6"),
        ("reversed", 0, "F6E5D4C3B2A104"),
        ("reversed", 3, "B2A104"),
    ],
)
async def test_byte_order_and_card_bytes_shape_the_uid(
    order: Any, card_bytes: int, expected: str
) -> None:
    rig = Rig(replace(SETTINGS, card_byte_order=order, card_bytes=card_bytes))
    rig.backend.present(UID)
    await rig.poll()
    assert rig.sink.values == [expected]


async def test_a_card_held_on_the_reader_counts_once_and_is_not_talked_to_again() -> None:
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    sent = len(rig.backend.apdus)
    rig.clock.advance(30)
    await rig.poll(20)
    assert rig.sink.values == [UID.hex().upper()]
    assert len(rig.backend.apdus) == sent == 1
    assert rig.status()["card_present"]


async def test_the_same_card_counts_again_only_debounce_s_after_it_left() -> None:
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    rig.backend.remove()
    await rig.poll()
    assert not rig.status()["card_present"]
    rig.clock.advance(0.5)
    rig.backend.present(UID)  # back within debounce_s: a wobble at the edge of the field
    await rig.poll()
    assert len(rig.sink.credentials) == 1
    assert (
        rig.status()["frames_debounced"] == 1
        and rig.status()["recent"][-1]["result"] == "debounced"
    )
    rig.backend.remove()
    await rig.poll()
    rig.clock.advance(1.0)
    rig.backend.present(UID)
    await rig.poll()
    assert len(rig.sink.credentials) == 2
    assert rig.status()["frames_rejected"] == {}


async def presented_again(step: float, after_s: float) -> Rig:
    """A card shown, taken away, the wall clock stepped by `step`, and the same card shown
    again `after_s` later (debounce_s is 1 s)."""
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    rig.backend.remove()
    await rig.poll()
    rig.clock.step_wall(step)
    rig.clock.advance(after_s)
    rig.backend.present(UID)
    await rig.poll()
    return rig


@pytest.mark.parametrize("step", [-3600.0, 3600.0])
async def test_a_wobble_is_debounced_whatever_the_wall_clock_does(step: float) -> None:
    rig = await presented_again(step, 0.5)
    assert len(rig.sink.credentials) == 1


@pytest.mark.parametrize("step", [-3600.0, 3600.0])
async def test_a_new_presentation_counts_whatever_the_wall_clock_does(step: float) -> None:
    rig = await presented_again(step, 2.0)
    assert len(rig.sink.credentials) == 2
    assert rig.sink.credentials[-1].timestamp == rig.clock.time()  # stamped with wall time


async def test_another_card_counts_at_once() -> None:
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    rig.backend.remove()
    await rig.poll()
    rig.backend.present(OTHER_UID)
    await rig.poll()
    assert rig.sink.values == [UID.hex().upper(), OTHER_UID.hex().upper()]


async def test_a_tapped_card_counts_once_and_leaves() -> None:
    rig = Rig()
    rig.backend.tap(UID)
    await rig.poll(3)
    assert rig.sink.values == [UID.hex().upper()]
    assert not rig.backend.card_present and not rig.status()["card_present"]


async def test_block_mode_delivers_the_block_not_the_uid() -> None:
    rig = Rig(BLOCK_SETTINGS)
    rig.backend.present(UID, {6: BLOCK}, key=KEY)  # sector 1, block 2 = block 6
    await rig.poll()
    (credential,) = rig.sink.credentials
    assert credential.value == BLOCK.hex().upper() and credential.raw == ""
    assert rig.backend.apdus == [
        GET_UID,
        load_key_apdu(KEY),
        authenticate_apdu(6, "A"),
        read_binary_apdu(6),
    ]
    status = rig.status()
    assert status["mode"] == "mifare_block"
    assert status["recent"][-1] == {
        "time": rig.clock.time(),
        "uid": UID.hex().upper(),
        "block_length": 16,
        "result": "accepted",
    }
    shown = repr(status) + repr(rig.reader._block_mode)
    assert BLOCK.hex().upper() not in shown and KEY.hex() not in shown.lower()


async def test_key_b_is_sent_as_key_b() -> None:
    rig = Rig(replace(BLOCK_SETTINGS, mifare_key_type="B"))
    rig.backend.present(UID, {6: BLOCK}, key=KEY)
    await rig.poll()
    assert authenticate_apdu(6, "B") in rig.backend.apdus
    assert authenticate_apdu(6, "B")[8] == 0x61


async def test_a_wrong_key_is_one_auth_failed_refusal_and_no_credential() -> None:
    rig = Rig(BLOCK_SETTINGS)
    rig.backend.present(UID, {6: BLOCK}, key=bytes.fromhex("FFFFFFFFFFFF"))
    await rig.poll(5)
    (refused,) = rig.sink.credentials  # to be journaled as denied, with no value to match
    assert (refused.value, refused.refusal, refused.raw) == (
        "",
        "card_auth_failed",
        UID.hex().upper(),
    )
    status = rig.status()
    assert status["frames_rejected"] == {"auth_failed": 1} and status["frames_accepted"] == 0
    assert status["recent"][-1]["result"] == "auth_failed"
    assert status["recent"][-1]["block_length"] is None


async def test_a_card_without_a_uid_is_one_no_uid_rejection() -> None:
    rig = Rig()
    rig.backend.present(b"")
    await rig.poll(3)
    assert rig.sink.credentials == []
    assert rig.status()["frames_rejected"] == {"no_uid": 1}
    assert rig.status()["recent"][-1]["uid"] is None


class ScriptedConnection:
    """Answers each APDU with the next scripted response."""

    def __init__(self, *responses: tuple[bytes, int, int]) -> None:
        self.responses = list(responses)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        return self.responses.pop(0)

    def disconnect(self) -> None:
        return None


@pytest.mark.parametrize(
    ("responses", "expected"),
    [
        ([(b"", 0x6A, 0x81)], ReadOutcome(None, "load_key_failed")),
        ([(b"", 0x90, 0), (b"", 0x63, 0)], ReadOutcome(None, "auth_failed")),
        ([(b"", 0x90, 0), (b"", 0x90, 0), (b"", 0x69, 0x82)], ReadOutcome(None, "read_failed", 0)),
        (
            [(b"", 0x90, 0), (b"", 0x90, 0), (b"\x01" * 4, 0x90, 0)],
            ReadOutcome(None, "read_failed", 4),
        ),
    ],
)
def test_block_read_failures_have_reasons(
    responses: list[tuple[bytes, int, int]], expected: ReadOutcome
) -> None:
    assert read_block(ScriptedConnection(*responses), BlockMode(6, KEY)) == expected


def test_the_apdus_are_those_of_pc_sc_part_3() -> None:
    assert load_key_apdu(KEY) == bytes.fromhex("FF82000006A0A1A2A3A4A5")
    assert authenticate_apdu(6, "A") == bytes.fromhex("FF860000050100066000")
    assert authenticate_apdu(63, "B") == bytes.fromhex("FF8600000501003F6100")
    assert read_binary_apdu(6) == bytes.fromhex("FFB0000610")
    assert bytes.fromhex("FFCA000000") == GET_UID


def test_a_bad_key_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="12 hex digits") as raised:
        BlockMode.from_settings(replace(BLOCK_SETTINGS, mifare_key="A0A1A2A3A4ZZ"))
    assert "A0A1" not in str(raised.value)
    assert KEY.hex() not in repr(BlockMode.from_settings(BLOCK_SETTINGS))


def test_reader_names_match_by_case_insensitive_substring() -> None:
    names = ["ACS ACR122U PICC Interface 00 00", "HID Global OMNIKEY 5022 Smart Card Reader 00 00"]
    assert match_reader(names, "") == names[0]
    assert match_reader(names, "omnikey") == names[1]
    assert match_reader(names, "scm") is None
    assert match_reader([], "") is None


async def test_an_unplugged_reader_goes_offline_and_comes_back_counted() -> None:
    rig = Rig()
    await rig.poll()
    assert rig.status()["online"]
    rig.backend.unplug_reader()
    await rig.poll()
    status = rig.status()
    assert not status["online"] and status["offline_reason"] == "no PC/SC reader"
    assert status["disconnects"] == 1
    rig.backend.plug_reader()
    rig.backend.present(UID)
    await rig.poll()
    status = rig.status()
    assert status["online"] and status["offline_reason"] is None and status["reconnects"] == 1
    assert rig.sink.values == [UID.hex().upper()]


async def test_a_reader_not_matching_device_is_not_used() -> None:
    rig = Rig(replace(SETTINGS, device="omnikey"))
    rig.backend.present(UID)
    await rig.poll()
    assert rig.status()["offline_reason"] == "no PC/SC reader matching 'omnikey'"
    assert rig.sink.credentials == [] and rig.backend.connects == 0


async def test_pcscd_stopping_shows_why() -> None:
    rig = Rig()
    await rig.poll()
    rig.backend.stop_service()
    await rig.poll()
    status = rig.status()
    assert not status["online"] and status["offline_reason"].startswith("pcscd not reachable")
    rig.backend.start_service()
    await rig.poll()
    assert rig.status()["online"] and rig.status()["reconnects"] == 1


async def test_a_card_left_on_a_reader_that_flapped_does_not_count_again() -> None:
    rig = Rig()
    rig.backend.present(UID)
    await rig.poll()
    rig.backend.stop_service()
    await rig.poll()
    rig.backend.start_service()
    rig.clock.advance(60)
    await rig.poll()
    assert len(rig.sink.credentials) == 1


async def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_poll_thread_survives_errors_and_stops_promptly() -> None:
    backend = SimulatedPcscBackend()
    sink = Sink()
    loop = asyncio.get_running_loop()
    reader = PcscReader(SETTINGS, loop, sink, backend, SystemClock(), poll_interval_s=0.01)
    assert reader.status()["offline_reason"] == "not started"
    reader.start()
    try:
        await _until(lambda: reader.status()["online"])
        backend.inject_error(RuntimeError("pcsc library surprise"))
        await _until(lambda: reader.status()["errors"] == 1)
        assert reader.status()["last_error"] == "RuntimeError: pcsc library surprise"
        backend.present(UID)
        await _until(lambda: len(sink.credentials) == 1)
        assert sink.values == [UID.hex().upper()]
    finally:
        started = time.monotonic()
        reader.close()
        assert time.monotonic() - started < 1.0
    assert reader._thread is not None and not reader._thread.is_alive()


async def test_a_reader_at_rest_waits_for_a_card_instead_of_polling() -> None:
    backend = SimulatedPcscBackend()
    looks, sink = ConnectCounter(backend), Sink()
    loop = asyncio.get_running_loop()
    # A poll interval of 10 ms: polling would try to connect about 50 times in 0.5 s.
    reader = PcscReader(SETTINGS, loop, sink, backend, SystemClock(), poll_interval_s=0.01)
    reader.start()
    try:
        await _until(lambda: reader.status()["online"])
        before = looks.count
        await asyncio.sleep(0.5)
        assert looks.count - before <= 1  # the once-a-second look, at most
        presented = time.monotonic()
        backend.present(UID)
        await _until(lambda: len(sink.credentials) == 1)
        assert time.monotonic() - presented < 0.2  # the wait ends when the card comes
        held = looks.count
        await asyncio.sleep(0.5)
        assert looks.count - held <= 1  # a held card is not asked about again
        backend.remove()
        await asyncio.sleep(0.05)
        backend.present(OTHER_UID)  # the removal and the next card each end a wait
        await _until(lambda: len(sink.credentials) == 2, timeout=0.5)
        assert sink.values == [UID.hex().upper(), OTHER_UID.hex().upper()]
    finally:
        started = time.monotonic()
        reader.close()
        assert time.monotonic() - started < 0.5  # the wait is cancelled, not waited out
    assert reader._thread is not None and not reader._thread.is_alive()


# -- DESFire EV2 ------------------------------------------------------------------------

DESFIRE_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
DESFIRE_NUMBER = bytes.fromhex("0000000000C0FFEE")
DESFIRE_SETTINGS = replace(
    SETTINGS,
    desfire_app_id="F51230",
    desfire_key=DESFIRE_KEY.hex(),
    desfire_key_number=1,
    desfire_file_number=2,
)


def issued(key: bytes = DESFIRE_KEY, app_id: int = 0xF51230) -> list[DesfireApplication]:
    """The application the site issues, holding DESFIRE_NUMBER (with `key`, at `app_id`)."""
    card = desfire_card(DESFIRE_SETTINGS)
    assert card is not None
    application = issued_application(card, DESFIRE_NUMBER)
    return [replace(application, key=key, app_id=app_id)]


async def test_desfire_mode_delivers_the_files_number_not_the_uid() -> None:
    rig = Rig(DESFIRE_SETTINGS)
    rig.backend.present(UID, desfire=issued())
    await rig.poll()
    (credential,) = rig.sink.credentials
    assert (credential.value, credential.raw, credential.refusal) == ("0000000000C0FFEE", "", "")
    assert [apdu[:2].hex().upper() for apdu in rig.backend.apdus] == [
        "FFCA",  # the UID: the presentation's identity
        "905A",  # select the application
        "9071",  # AuthenticateEV2First
        "90AF",  # its second part
        "90BD",  # ReadData, enciphered
    ]
    status = rig.status()
    assert status["mode"] == "desfire" and status["frames_accepted"] == 1
    assert status["recent"][-1]["result"] == "accepted"
    shown = repr(status) + repr(rig.reader._desfire)
    assert DESFIRE_KEY.hex() not in shown.lower()


@pytest.mark.parametrize(
    ("desfire", "refusal"),
    [
        ((), "card_not_desfire"),  # a card (or emulator) that copies the UID only
        (issued(key=bytes(16)), "card_auth_failed"),  # a DESFire card without the key
        (issued(app_id=0x000001), "card_no_application"),  # a DESFire card of another use
    ],
    ids=["clone", "wrong key", "no application"],
)
async def test_desfire_refusals_are_delivered_with_their_reason(
    desfire: list[DesfireApplication], refusal: str
) -> None:
    rig = Rig(DESFIRE_SETTINGS)
    rig.backend.present(UID, desfire=desfire)
    await rig.poll(3)  # held: refused once
    (refused,) = rig.sink.credentials
    assert (refused.value, refused.refusal, refused.raw) == ("", refusal, UID.hex().upper())
    status = rig.status()
    assert status["frames_rejected"] == {refusal.removeprefix("card_"): 1}
    assert status["recent"][-1]["detail"]  # in words, for the installer
    assert DESFIRE_KEY.hex() not in repr(status).lower()


async def test_desfire_card_pulled_away_mid_read_is_read_failed() -> None:
    rig = Rig(DESFIRE_SETTINGS)
    rig.backend.present(UID, desfire=issued())
    original = rig.backend._transmit

    def leaves_at_read(session: Any, apdu: bytes) -> tuple[bytes, int, int]:
        if apdu[:2] == b"\x90\xbd":
            rig.backend.remove()
        return original(session, apdu)

    rig.backend._transmit = leaves_at_read  # type: ignore[method-assign]
    await rig.poll()
    (refused,) = rig.sink.credentials
    assert refused.refusal == "card_read_failed"


def test_a_desfire_key_of_the_wrong_size_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError) as error:
        desfire_card(replace(DESFIRE_SETTINGS, desfire_key="0011"))
    assert "0011" not in str(error.value)
    with pytest.raises(ValueError, match="exclude"):
        desfire_card(replace(DESFIRE_SETTINGS, mifare_sector=1, mifare_key=KEY.hex()))


class FailingConnection:
    """A card connection whose answers are scripted, then the reader times out."""

    def __init__(self, *answers: tuple[bytes, int, int]) -> None:
        self.answers = list(answers)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        if not self.answers:
            raise TimeoutError("the reader gave no answer")
        return self.answers.pop(0)

    def disconnect(self) -> None:
        return None


@pytest.mark.parametrize(
    ("answers", "result"),
    [
        ([(b"", 0x91, 0x00)], "read_failed"),  # selected, then silence
        ([(b"", 0x91, 0x00), (b"\x01\x02", 0x91, 0xAF)], "auth_failed"),  # garbled challenge
        ([(b"\x13\x37", 0x90, 0x00)], "not_desfire"),  # an ISO answer, not a DESFire one
    ],
    ids=["timeout", "garbled", "not desfire"],
)
async def test_a_desfire_timeout_or_garbage_is_a_refusal_never_a_credential(
    answers: list[tuple[bytes, int, int]], result: str
) -> None:
    rig = Rig(DESFIRE_SETTINGS)
    card = rig.reader._desfire
    assert card is not None
    outcome = rig.reader._read_desfire(FailingConnection(*answers), card)
    assert (outcome.value, outcome.result) == (None, result)
