"""Wiegand: formats and the receiver driven through gpiozero's mock pins."""

from __future__ import annotations

import asyncio
from time import monotonic

import pytest

from gateway.hw.factory import SimulatedHardware
from gateway.hw.formats import decode_card_frame, decode_key_burst, encode_h10301
from gateway.hw.sim_drivers import WiegandDriver, key_bursts
from gateway.hw.wiegand import MAX_GAP_S, MIN_GAP_S, RawFrame, WiegandReceiver


def test_h10301_facility_and_card_give_the_canonical_hex() -> None:
    result = decode_card_frame(encode_h10301(12, 34567), ("H10301",))
    assert (result.format, result.card, result.reason) == ("H10301", "0C8707", "accepted")


@pytest.mark.parametrize("flip", [0, 5, 25])
def test_a_flipped_bit_fails_parity(flip: int) -> None:
    bits = list(encode_h10301(12, 34567))
    bits[flip] = "1" if bits[flip] == "0" else "0"
    result = decode_card_frame("".join(bits), ("H10301",))
    assert result.card is None and result.reason == "parity"


def test_unknown_length_is_rejected() -> None:
    assert decode_card_frame("1" * 30, ("H10301",)).reason == "length"


@pytest.mark.parametrize("key", list("0123456789*#"))
def test_keypad_bursts_round_trip(key: str) -> None:
    for width in (4, 8):
        (burst,) = key_bursts(key, width)
        assert decode_key_burst(burst) == key


def test_8bit_burst_with_wrong_complement_is_rejected() -> None:
    assert decode_key_burst("00000001") is None


async def _receive(bits: str, interval_us: float, pulse_us: float) -> list[RawFrame]:
    backend = SimulatedHardware()
    frames: list[RawFrame] = []
    receiver = WiegandReceiver(
        asyncio.get_running_loop(), backend.input(5), backend.input(6), frames.append
    )
    await WiegandDriver(backend).send(5, 6, bits, interval_us, pulse_us)
    receiver.close()
    backend.close()
    return frames


@pytest.mark.parametrize(("interval_us", "pulse_us"), [(200, 20), (2000, 50), (20000, 100)])
async def test_receiver_takes_the_whole_sia_timing_range(
    interval_us: float, pulse_us: float
) -> None:
    bits = encode_h10301(12, 34567)
    (frame,) = await _receive(bits, interval_us, pulse_us)
    assert (frame.bits, frame.noise) == (bits, "")
    # The timing is the pin factory's edge stamps, not when the loop ran the callbacks.
    assert frame.duration_us == pytest.approx(25 * interval_us)
    assert frame.median_interval_us == pytest.approx(interval_us)


async def test_both_lines_low_at_once_is_noise() -> None:
    backend = SimulatedHardware()
    frames: list[RawFrame] = []
    receiver = WiegandReceiver(
        asyncio.get_running_loop(), backend.input(5), backend.input(6), frames.append
    )
    start = monotonic()
    backend.drive_at(5, False, start)
    backend.drive_at(6, False, start + 20e-6)  # D1 falls while D0 is still low
    backend.drive_at(5, True, start + 50e-6)
    backend.drive_at(6, True, start + 70e-6)
    for index, bit in enumerate(encode_h10301(1, 2)[1:]):
        pin, at = (5 if bit == "0" else 6), start + (index + 1) * 0.002
        backend.drive_at(pin, False, at)
        backend.drive_at(pin, True, at + 50e-6)
    await asyncio.sleep(MAX_GAP_S + 0.02)
    receiver.close()
    (frame,) = frames
    assert frame.noise == "both lines low at once"
    assert len(frame.bits) == 27


async def test_a_frame_over_the_maximum_length_is_noise() -> None:
    (frame,) = await _receive("10" * 70, 500, 50)
    assert frame.noise == "more than 128 bits"
    assert len(frame.bits) == 128  # what was kept, for diagnostics


async def test_back_to_back_frames_stay_apart() -> None:
    backend = SimulatedHardware()
    frames: list[RawFrame] = []
    receiver = WiegandReceiver(
        asyncio.get_running_loop(), backend.input(5), backend.input(6), frames.append
    )
    driver = WiegandDriver(backend)
    first, second = encode_h10301(1, 2), encode_h10301(3, 4)
    await driver.send(5, 6, first, 1000, 50)
    await driver.send(5, 6, second, 1000, 50)
    receiver.close()
    assert [frame.bits for frame in frames] == [first, second]


def test_quiet_gap_adapts_to_the_bit_interval() -> None:
    loop = asyncio.new_event_loop()
    backend = SimulatedHardware()
    receiver = WiegandReceiver(loop, backend.input(5), backend.input(6), lambda *_: None)
    receiver._times = [monotonic() + i * 0.0005 for i in range(10)]
    assert receiver.quiet_gap() == pytest.approx(max(MIN_GAP_S, 0.0015))
    receiver._times = [i * 0.02 for i in range(10)]
    assert receiver.quiet_gap() == MAX_GAP_S
    loop.close()


def test_a_frame_reports_its_shortest_and_longest_bit_interval() -> None:
    # A reader that stalls between two bits (a slow microcontroller, a flaky cable) shows it:
    # the median hides one long gap, the maximum does not.
    frame = RawFrame("0110", (0.0, 0.002, 0.0041, 0.0101))
    assert frame.min_interval_us == pytest.approx(2000)
    assert frame.max_interval_us == pytest.approx(6000)
    assert RawFrame("1", (0.5,)).min_interval_us is None
    assert RawFrame("1", (0.5,)).max_interval_us is None
