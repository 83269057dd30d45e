"""The OSDP reader's rules on a fake bus and a manual clock: what counts as a credential
(only over Secure Channel with the reader's own key), what is journaled and when."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from gateway.hw.formats import FormatRegistry, decode_card_frame, encode_h10301
from gateway.hw.osdp_reader import (
    SC_REFUSED_AFTER_S,
    Buzzer,
    CardRead,
    KeyPress,
    Led,
    LocalStatus,
    OsdpReader,
    PdState,
    PdSupervisor,
    Text,
    pack_bits,
)
from gateway.web.page.reasons import REASONS
from tests.fakes import ManualClock
from tests.osdp.harness import SILENT, TRUSTED, FakeBus, Recorder, osdp_settings

KEY = bytes(range(16))


def make_reader(**overrides: object) -> tuple[OsdpReader, FakeBus, Recorder, ManualClock]:
    loop = asyncio.get_event_loop()
    bus, recorder, clock = FakeBus(), Recorder(), ManualClock()
    reader = OsdpReader(
        osdp_settings(**overrides),
        loop,
        recorder,
        clock,
        bus,
        recorder.emit,
        KEY,
        FormatRegistry(),
    )
    return reader, bus, recorder, clock


def wiegand_read(bits: str) -> CardRead:
    return CardRead("wiegand", len(bits), pack_bits(bits))


async def test_a_card_over_secure_channel_is_the_same_card_number_as_on_wiegand() -> None:
    reader, _, recorder, _ = make_reader()
    reader.on_state(TRUSTED)
    bits = encode_h10301(123, 45678)
    reader.on_event(wiegand_read(bits))
    assert [c.value for c in recorder.credentials] == [decode_card_frame(bits, ["H10301"]).card]
    assert recorder.credentials[0].kind == "card"
    assert reader.status()["frames_accepted"] == 1


async def test_keypad_keys_go_to_the_key_collector_and_are_never_shown() -> None:
    reader, _, recorder, _ = make_reader()
    reader.on_state(TRUSTED)
    reader.on_event(KeyPress(b"1234\x0d"))  # OSDP: 0x0D is `#`
    reader.on_event(KeyPress(b"\x7f"))  # 0x7F is `*`
    assert recorder.keys == ["1", "2", "3", "4", "#", "*"]
    assert "1234" not in str(reader.status())


@pytest.mark.parametrize(
    "state",
    [
        PdState(online=True, secure=False, answering=True),  # plaintext (a downgrade)
        PdState(online=True, secure=True, default_key=True, answering=True),  # SCBK-D
        SILENT,
    ],
    ids=["plaintext", "default-key", "offline"],
)
async def test_a_read_without_secure_channel_and_own_key_is_refused_and_alarmed(
    state: PdState,
) -> None:
    reader, _, recorder, _ = make_reader()
    reader.on_state(state)
    reader.on_event(wiegand_read(encode_h10301(1, 2)))
    reader.on_event(KeyPress(b"1234"))
    assert recorder.credentials == [] and recorder.keys == []
    assert recorder.reasons("alarm").count("osdp_insecure_read") == 2
    assert reader.status()["frames_rejected"] == {"insecure": 2}


async def test_a_frame_no_format_takes_is_rejected_not_delivered() -> None:
    reader, _, recorder, _ = make_reader()
    reader.on_state(TRUSTED)
    reader.on_event(wiegand_read("1" * 26))  # parity fails
    reader.on_event(wiegand_read("0" * 30))  # no 30-bit format configured
    assert recorder.credentials == []
    assert reader.status()["frames_rejected"] == {"parity": 1, "length": 1}


async def test_offline_longer_than_configured_is_a_reader_event_and_an_alarm_once() -> None:
    supervisor = PdSupervisor(offline_after_s=10, now=0.0)
    assert supervisor.update(TRUSTED, 0.0) == []
    assert supervisor.update(SILENT, 1.0) == []
    assert supervisor.tick(10.9) == []
    findings = supervisor.tick(11.0)
    assert [(f.type, f.reason) for f in findings] == [
        ("reader", "osdp_offline"),
        ("alarm", "osdp_offline"),
    ]
    assert supervisor.tick(60.0) == []  # once per episode
    back = supervisor.update(TRUSTED, 61.0)
    assert [(f.type, f.reason) for f in back] == [("reader", "osdp_online")]


async def test_the_timeouts_are_looked_at_only_while_one_may_fire() -> None:
    # A reader trusted and answering needs no timer on the loop: at rest, nothing ticks.
    supervisor = PdSupervisor(offline_after_s=10, now=0.0)
    assert supervisor.pending  # not up yet: the offline timeout runs
    supervisor.update(TRUSTED, 0.5)
    assert not supervisor.pending
    supervisor.update(SILENT, 1.0)
    assert supervisor.pending
    supervisor.tick(11.0)  # reported: nothing more to wait for in this episode
    assert not supervisor.pending
    supervisor.update(TRUSTED, 12.0)
    assert not supervisor.pending
    # A PD that answers but never comes up secure: the refusal, then the offline report.
    refusing = PdSupervisor(offline_after_s=10, now=0.0)
    refusing.update(PdState(online=False, answering=True), 0.5)
    assert [f.reason for f in refusing.tick(SC_REFUSED_AFTER_S)] == ["osdp_secure_channel_refused"]
    assert refusing.pending
    assert refusing.tick(10.0)
    assert not refusing.pending


async def test_a_short_drop_is_not_reported() -> None:
    supervisor = PdSupervisor(offline_after_s=10, now=0.0)
    supervisor.update(TRUSTED, 0.0)
    supervisor.update(SILENT, 1.0)
    assert supervisor.update(TRUSTED, 5.0) == []
    assert supervisor.tick(30.0) == []


async def test_secure_channel_lost_while_the_pd_answers_is_an_alarm() -> None:
    supervisor = PdSupervisor(offline_after_s=10, now=0.0)
    supervisor.update(TRUSTED, 0.0)
    findings = supervisor.update(PdState(online=False, answering=True), 1.0)
    assert [(f.type, f.reason) for f in findings] == [("alarm", "osdp_secure_channel_lost")]


async def test_a_pd_that_answers_but_never_comes_up_secure_is_alarmed() -> None:
    supervisor = PdSupervisor(offline_after_s=60, now=0.0)
    assert supervisor.update(PdState(online=False, answering=True), 0.5) == []
    assert supervisor.tick(SC_REFUSED_AFTER_S - 0.1) == []
    findings = supervisor.tick(SC_REFUSED_AFTER_S)
    assert [(f.type, f.reason) for f in findings] == [("alarm", "osdp_secure_channel_refused")]
    assert supervisor.tick(SC_REFUSED_AFTER_S + 10) == []


async def test_tamper_and_power_reports_are_journaled_on_change() -> None:
    reader, _, recorder, _ = make_reader()
    reader.on_state(TRUSTED)
    reader.on_event(LocalStatus(tamper=True, power_failure=False))
    reader.on_event(LocalStatus(tamper=True, power_failure=False))  # no change
    reader.on_event(LocalStatus(tamper=False, power_failure=True))
    assert [(e.type, e.reason) for e in recorder.events] == [
        ("alarm", "osdp_tamper"),
        ("reader", "osdp_tamper_cleared"),
        ("reader", "osdp_power_failure"),
    ]
    assert all(e.reader == "gate-osdp" and e.door == "front" for e in recorder.events)
    assert reader.status()["power_failure"] is True


async def test_feedback_becomes_led_buzzer_and_text_commands() -> None:
    reader, bus, _, _ = make_reader()
    reader.on_state(replace(TRUSTED, has_text=True))
    reader.show_feedback("green", True, "granted")
    reader.show_feedback("green", False, "granted")
    reader.show_feedback("off", False, "idle")
    assert bus.commands == [
        Led("green"),
        Buzzer(True),
        Text("ACCESS GRANTED"),
        Buzzer(False),
        Led("off"),
    ]


async def test_status_shows_secure_channel_and_the_install_warning_never_the_key() -> None:
    reader, bus, _, _ = make_reader(install=True)
    reader.start()
    assert bus.setups[0].install and bus.setups[0].scbk == KEY
    status = reader.status()
    assert status["online"] is False and status["secure_channel"] is False
    assert "install mode" in status["warning"]
    reader.on_state(TRUSTED)
    status = reader.status()
    assert status["online"] is True and status["secure_channel"] is True
    assert status["key"] == "own" and "set install = false" in status["warning"]
    assert KEY.hex() not in str(status).lower() and "scbk" not in str(bus.setups[0]).lower()
    reader.close()


async def test_without_install_mode_there_is_no_warning() -> None:
    reader, _, _, _ = make_reader()
    assert reader.status()["warning"] is None


def test_every_osdp_reason_has_words_for_the_status_page() -> None:
    reasons = {
        "osdp_offline",
        "osdp_online",
        "osdp_secure_channel_lost",
        "osdp_secure_channel_refused",
        "osdp_insecure_read",
        "osdp_tamper",
        "osdp_tamper_cleared",
        "osdp_power_failure",
        "osdp_power_restored",
    }
    assert reasons <= REASONS.keys(), reasons - REASONS.keys()


class MirrorRecorder:
    def __init__(self) -> None:
        self.shown: list[tuple[str, bool, str]] = []

    def show_feedback(self, led: str, beeper: bool, pattern: str) -> None:
        self.shown.append((led, beeper, pattern))


def test_reader_feedback_is_mirrored_to_a_reader_that_shows_it_itself() -> None:
    from gateway.feedback import ReaderFeedback
    from tests.fakes import ManualTimers

    clock = ManualClock()
    timers = ManualTimers(clock)
    feedback = ReaderFeedback(timers)  # no lines wired: an OSDP reader has none
    mirror = MirrorRecorder()
    feedback.add_mirror(mirror)
    feedback.show(False, hold_s=2.0)
    assert mirror.shown[0] == ("off", False, "idle")
    assert ("red", True, "denied") in mirror.shown  # red, the long beep
    timers.advance(2.0)
    assert mirror.shown[-1] == ("off", False, "idle")


async def test_a_pd_back_online_is_given_the_led_it_should_show() -> None:
    reader, bus, _, _ = make_reader()
    reader.show_feedback("red", False, "denied")  # while the PD is away
    bus.commands.clear()  # the bus drops commands for a PD that is not online
    reader.on_state(TRUSTED)
    assert bus.commands == [Led("red")]
