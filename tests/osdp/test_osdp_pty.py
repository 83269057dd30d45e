"""The real control panel (libosdp through gateway.hw.osdp_bus) against libosdp's PD side
on a pseudo-terminal pair: Secure Channel, reads, commands and supervision as on a bus.

libosdp keeps its own time, so these tests wait in real time, each for a bounded while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import osdp
import pytest

from gateway.clock import SystemClock
from gateway.hw.formats import FormatRegistry, decode_card_frame, encode_h10301
from gateway.hw.osdp_bus import POLL_EVERY_S, OsdpBus
from gateway.hw.osdp_reader import OsdpReader
from gateway.hw.osdp_sim import SimulatedOsdpBus, SimulatedPd
from tests.osdp.harness import Recorder, osdp_settings, wait_for

ADDRESS = 3
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")
SECURE_WITHIN_S = 5.0  # from the port opening to Secure Channel with the reader's key


@dataclass
class Rig:
    pd: SimulatedPd
    bus: OsdpBus
    reader: OsdpReader
    recorder: Recorder


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(pd_key: bytes | None = KEY, *, install: bool = False, pd_install: bool = False) -> Rig:
        pd = SimulatedPd(ADDRESS, pd_key, install=pd_install)
        bus = OsdpBus(pd.port_path, 115200)
        recorder = Recorder()
        settings = osdp_settings(osdp_address=ADDRESS, install=install, offline_after_s=3.0)
        loop = asyncio.get_running_loop()
        reader = OsdpReader(
            settings, loop, recorder, SystemClock(), bus, recorder.emit, KEY, FormatRegistry()
        )
        pd.start()
        reader.start()
        rig = Rig(pd, bus, reader, recorder)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.reader.close()
        rig.bus.close()
        rig.pd.close()


def secure(rig: Rig) -> bool:
    status = rig.reader.status()
    return bool(status["online"] and status["secure_channel"])


async def test_online_with_secure_channel_in_bounded_time(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    took = await wait_for(lambda: secure(rig), SECURE_WITHIN_S, "Secure Channel")
    assert took < SECURE_WITHIN_S
    assert rig.pd.secure
    status = rig.reader.status()
    assert status["key"] == "own" and status["offline_reason"] is None
    assert status["warning"] is None
    assert rig.recorder.events == []


async def test_card_read_and_keypad_pin_become_credentials(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await wait_for(lambda: secure(rig), SECURE_WITHIN_S, "Secure Channel")
    bits = encode_h10301(12, 3456)
    rig.pd.present_wiegand(bits)
    await wait_for(lambda: bool(rig.recorder.credentials), 3, "the card")
    wiegand_number = decode_card_frame(bits, ["H10301"]).card
    assert [c.value for c in rig.recorder.credentials] == [wiegand_number]
    rig.pd.press_keys("4711#")
    await wait_for(lambda: len(rig.recorder.keys) == 5, 3, "the keys")
    assert "".join(rig.recorder.keys) == "4711#"


async def test_feedback_reaches_the_pd_as_led_and_buzzer_commands(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    await wait_for(lambda: secure(rig), SECURE_WITHIN_S, "Secure Channel")
    rig.reader.show_feedback("green", True, "granted")
    await wait_for(lambda: bool(rig.pd.commands(osdp.Command.LED)), 3, "an LED command")
    await wait_for(lambda: bool(rig.pd.commands(osdp.Command.Buzzer)), 3, "a buzzer command")
    led = rig.pd.commands(osdp.Command.LED)[0]
    assert led["on_color"] == osdp.CommandLEDColor.Green
    await wait_for(lambda: bool(rig.pd.commands(osdp.Command.Text)), 3, "the verdict text")
    assert rig.pd.commands(osdp.Command.Text)[0]["data"] == "ACCESS GRANTED"


async def test_a_pd_going_silent_is_an_event_and_an_alarm_and_back_online_soon(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    await wait_for(lambda: secure(rig), SECURE_WITHIN_S, "Secure Channel")
    rig.pd.stop()  # power cut, or a cut RS-485 pair
    # no reply for 2 s counts as offline, then offline_after_s = 3 s
    await wait_for(lambda: "osdp_offline" in rig.recorder.reasons("alarm"), 9, "the alarm")
    assert rig.recorder.reasons("reader") == ["osdp_offline"]
    assert rig.reader.status()["online"] is False
    rig.pd.start()  # power back: the panel tries it again within seconds, not minutes
    await wait_for(lambda: "osdp_online" in rig.recorder.reasons("reader"), 15, "back online")
    assert secure(rig)


async def test_a_pd_with_another_key_is_refused_and_alarmed(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(pd_key=OTHER_KEY)
    await wait_for(
        lambda: "osdp_secure_channel_refused" in rig.recorder.reasons("alarm"), 8, "the alarm"
    )
    rig.pd.present_wiegand(encode_h10301(12, 3456))
    await asyncio.sleep(0.5)
    assert rig.recorder.credentials == []
    status = rig.reader.status()
    assert status["online"] is False and "Secure Channel failed" in status["offline_reason"]


async def test_install_mode_keys_a_factory_new_pd_and_warns(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(pd_key=None, install=True, pd_install=True)
    assert "install mode is on" in rig.reader.status()["warning"]
    await wait_for(lambda: secure(rig), 8, "Secure Channel with the new key")
    assert rig.reader.status()["key"] == "own"
    assert rig.pd.commands(osdp.Command.Keyset)[0]["data"] == KEY  # the key sent, once
    assert "set install = false" in rig.reader.status()["warning"]


async def test_without_install_mode_the_default_key_is_never_used(
    make_rig: Callable[..., Rig],
) -> None:
    # A factory-new (or reset, or swapped) PD offers SCBK-D: refused unless install = true.
    # (A PD with no Secure Channel at all cannot be played with libosdp, whose PD always
    # does SC: the fake-bus tests cover plaintext reads.)
    rig = make_rig(pd_key=None, install=False, pd_install=True)
    await wait_for(
        lambda: "osdp_secure_channel_refused" in rig.recorder.reasons("alarm"), 8, "the alarm"
    )
    rig.pd.present_wiegand(encode_h10301(12, 3456))
    await asyncio.sleep(0.5)
    assert rig.recorder.credentials == []
    assert rig.pd.commands(osdp.Command.Keyset) == []  # the key never went over SCBK-D
    assert rig.reader.status()["secure_channel"] is False


async def test_tamper_report_from_the_pd_is_an_alarm(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    await wait_for(lambda: secure(rig), SECURE_WITHIN_S, "Secure Channel")
    rig.pd.report_local(tamper=True)
    await wait_for(lambda: "osdp_tamper" in rig.recorder.reasons("alarm"), 3, "the alarm")
    assert rig.reader.status()["tamper"] is True


async def test_the_simulated_bus_answers_on_the_panels_thread() -> None:
    # The daemon's simulated reader: the PD is stepped by the panel's own thread (one
    # wake-up per poll), still over the pty, Secure Channel and the real panel.
    settings = osdp_settings(osdp_address=ADDRESS, offline_after_s=3.0)
    bus, recorder = SimulatedOsdpBus(settings), Recorder()
    loop = asyncio.get_running_loop()
    reader = OsdpReader(
        settings, loop, recorder, SystemClock(), bus, recorder.emit, KEY, FormatRegistry()
    )
    reader.start()
    try:
        await wait_for(lambda: bool(reader.status()["secure_channel"]), SECURE_WITHIN_S, "SC")
        assert bus.pd is not None and bus.pd.secure
        bus.pd.present_wiegand(encode_h10301(12, 3456))
        took = await wait_for(lambda: bool(recorder.credentials), 3, "the card")
        assert took < POLL_EVERY_S + 1.0  # reported in reply to the next poll
        reader.show_feedback("green", True, "granted")
        await wait_for(lambda: bool(bus.pd.commands(osdp.Command.LED)), 3, "an LED command")
        bus.pd.stop()
        await wait_for(lambda: "osdp_offline" in recorder.reasons("reader"), 9, "offline")
    finally:
        reader.close()
        bus.close()
