"""The Wiegand reader end to end: edges on gpiozero mock pins -> credentials, key presses,
rejections and the reader's status(). Frames are played by the simulation's WiegandDriver,
which stamps every edge with the requested timing (nothing busy-waits)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic

import pytest

from gateway.access.collector import PinCollector
from gateway.clock import Instant, SystemClock
from gateway.config import load_settings
from gateway.hw.factory import SimulatedHardware
from gateway.hw.formats import FORMATS, encode, invert
from gateway.hw.readers import ReaderContext, build_reader
from gateway.hw.sim_drivers import WiegandDriver, key_bursts
from gateway.hw.wiegand import MAX_GAP_S, SWAPPED_WARNING, SWAPPED_WHILE_SET, WiegandReader
from gateway.model import Credential
from gateway.settings import ReaderSettings, WiegandFormatSettings

D0, D1 = 5, 6
ALL_FORMATS = tuple(FORMATS)


@dataclass
class RecordingSink:
    """A ReaderSink that keeps what it was given; keys go through a real PinCollector."""

    credentials: list[Credential] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    collector: PinCollector = field(default_factory=lambda: PinCollector("kp", 10.0))

    def credential(self, credential: Credential) -> None:
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        self.keys.append(key)
        # As the pipeline does: the reader's wall time, the monotonic clock on arrival.
        pin = self.collector.press(key, Instant(timestamp, monotonic()))
        if pin is not None:
            self.credentials.append(pin)


@dataclass
class Rig:
    """A reader on simulated pins, a driver for its lines and what it delivered."""

    reader: WiegandReader
    driver: WiegandDriver
    hardware: SimulatedHardware
    sink: RecordingSink

    async def send(
        self, bits: str, interval_us: float = 2000, pulse_us: float = 50, crossed: bool = False
    ) -> None:
        """Play one frame; `crossed` wires the reader's DATA0 to our D1 input and back."""
        d0, d1 = (D1, D0) if crossed else (D0, D1)
        await self.driver.send(d0, d1, bits, interval_us, pulse_us)

    @property
    def values(self) -> list[str]:
        return [credential.value for credential in self.sink.credentials]


def reader_settings(**changes: object) -> ReaderSettings:
    """A Wiegand card reader on D0/D1 = GPIO5/6, with `changes` applied."""
    base = ReaderSettings("r1", "wiegand", "front", d0_pin=D0, d1_pin=D1)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@asynccontextmanager
async def rig(
    settings: ReaderSettings, wiegand_formats: Sequence[WiegandFormatSettings] = ()
) -> AsyncIterator[Rig]:
    """A running reader built the way the daemon builds it (`build_reader`)."""
    hardware, sink = SimulatedHardware(), RecordingSink()
    context = ReaderContext(
        hardware, asyncio.get_running_loop(), sink, SystemClock(), wiegand_formats
    )
    reader = build_reader(settings, context)
    assert isinstance(reader, WiegandReader)
    try:
        yield Rig(reader, WiegandDriver(hardware), hardware, sink)
    finally:
        reader.close()
        hardware.close()


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("name", ALL_FORMATS)
@pytest.mark.parametrize(
    ("interval_us", "pulse_us"), [(200, 20), (2000, 50), (20000, 100)], ids=["fast", "mid", "slow"]
)
async def test_every_format_across_the_sia_timing_range(
    name: str, interval_us: float, pulse_us: float
) -> None:
    fmt = FORMATS[name]
    value = 0x0123456789ABCDEF % (1 << fmt.data.width)
    async with rig(reader_settings(formats=ALL_FORMATS)) as r:
        await r.send(fmt.encode_data(value), interval_us, pulse_us)
        assert r.values == [f"{value:0{fmt.data_bytes * 2}X}"]
        (record,) = r.reader.status()["recent"]
    assert record["result"] == "accepted" and record["bit_count"] == fmt.length
    assert record["duration_us"] == pytest.approx((fmt.length - 1) * interval_us)
    assert record["median_interval_us"] == pytest.approx(interval_us)
    assert record["min_interval_us"] == pytest.approx(interval_us)
    assert record["max_interval_us"] == pytest.approx(interval_us)


async def test_back_to_back_frames_are_two_credentials() -> None:
    async with rig(reader_settings()) as r:
        await r.send(encode("H10301", 1, 2), 200, 20)
        await r.send(encode("H10301", 3, 4), 200, 20)
        assert r.values == ["010002", "030004"]
        assert r.reader.status()["frames_accepted"] == 2


async def test_a_frame_cut_short_is_rejected_as_length() -> None:
    async with rig(reader_settings()) as r:
        await r.send(encode("H10301", 12, 34567)[:20])
        status = r.reader.status()
    assert r.values == []
    assert status["frames_rejected"]["length"] == 1
    assert status["recent"][0]["result"] == "length"


async def test_a_flipped_bit_is_rejected_as_parity() -> None:
    bits = encode("H10301", 12, 34567)
    async with rig(reader_settings()) as r:
        await r.send(bits[:5] + ("1" if bits[5] == "0" else "0") + bits[6:])
        assert r.values == []
        assert r.reader.status()["frames_rejected"]["parity"] == 1


async def test_noise_is_rejected_with_its_reason() -> None:
    async with rig(reader_settings()) as r:
        await r.send("1" * 200, 200, 20)
        start = monotonic() + 1
        r.hardware.drive_at(D0, False, start)
        r.hardware.drive_at(D1, False, start + 30e-6)
        r.hardware.drive_at(D0, True, start + 60e-6)
        r.hardware.drive_at(D1, True, start + 90e-6)
        await asyncio.sleep(MAX_GAP_S + 0.02)
        status = r.reader.status()
    assert r.values == []
    assert status["frames_rejected"]["noise"] == 2
    assert [rec["detail"] for rec in status["recent"]] == [
        "more than 128 bits",
        "both lines low at once",
    ]


# ----------------------------------------------------------------------------- crossed lines


async def test_crossed_lines_are_detected_and_named_in_the_status() -> None:
    async with rig(reader_settings()) as r:
        await r.send(encode("H10301", 12, 34567), crossed=True)
        status = r.reader.status()
        assert r.values == []
        assert status["frames_rejected"]["swapped_lines"] == 1
        assert status["warning"] == SWAPPED_WARNING
        await r.send(encode("H10301", 12, 34567))  # rewired: the warning goes
        assert r.reader.status()["warning"] is None


async def test_swap_d0_d1_reads_crossed_lines() -> None:
    async with rig(reader_settings(swap_d0_d1=True)) as r:
        await r.send(encode("H10301", 12, 34567), crossed=True)
        assert r.values == ["0C8707"]
        assert r.reader.status()["warning"] is None
        await r.send(encode("H10301", 12, 34567))  # swapped although the wiring is right
        assert r.reader.status()["warning"] == SWAPPED_WHILE_SET


# ----------------------------------------------------------------------------- custom formats

CUSTOM_CONFIG = """
[device]
id = "gw"
[hardware]
backend = "simulated"
[[doors]]
name = "front"
[[readers]]
name = "r1"
kind = "wiegand"
door = "front"
d0_pin = 5
d1_pin = 6
formats = ["H10301", "ATS30"]

[[wiegand_formats]]
name = "ATS30"
length = 30
data_bits = [1, 28]
facility_bits = [1, 12]
card_bits = [13, 28]
[[wiegand_formats.parity_rules]]
bit = 0
mask = "0_111111111111_0000000000000000_0"
parity = "even"
[[wiegand_formats.parity_rules]]
bit = 29
mask = "0_000000000000_1111111111111111_0"
parity = "odd"
"""


async def test_a_custom_format_from_the_config_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CUSTOM_CONFIG)
    settings = load_settings(path)
    frame = "0" + f"{1234:012b}" + f"{56789:016b}"
    frame += str(frame[13:29].count("1") % 2 ^ 1)  # odd parity over the card bits
    frame = str(frame[1:13].count("1") % 2) + frame[1:]  # even parity over the facility
    async with rig(settings.readers[0], settings.wiegand_formats) as r:
        await r.send(frame)
        await r.send(invert(frame))
        assert r.values == [f"{(1234 << 16) | 56789:08X}"]
        status = r.reader.status()
    accepted, crossed = status["recent"]
    assert (accepted["format"], accepted["facility"], accepted["card_number"]) == (
        "ATS30", 1234, 56789
    )  # fmt: skip
    assert crossed["result"] == "swapped_lines"


async def test_a_reader_naming_an_unknown_format_does_not_start() -> None:
    hardware = SimulatedHardware()
    loop = asyncio.get_running_loop()
    with pytest.raises(ValueError, match="unknown Wiegand formats ATS30"):
        WiegandReader(
            reader_settings(formats=("ATS30",)), hardware, loop, RecordingSink(), SystemClock()
        )
    hardware.close()


# ----------------------------------------------------------------------------- keypads


def keypad_settings(**changes: object) -> ReaderSettings:
    return reader_settings(kind="wiegand_keypad", **changes)


async def test_key_bursts_become_keys_and_are_masked() -> None:
    async with rig(keypad_settings()) as r:
        for burst in [*key_bursts("12#", 8), "00000001"]:
            await r.send(burst)
        status = r.reader.status()
    assert r.sink.keys == ["1", "2", "#"]
    assert status["frames_rejected"]["keypad_burst"] == 1
    assert {rec["bits"] for rec in status["recent"]} == {"********"}


async def test_a_pin_frame_is_a_whole_pin() -> None:
    async with rig(keypad_settings(pin_frame_format="H10301")) as r:
        await r.send(key_bursts("9", 4)[0])  # a stray digit typed before the PIN frame
        await r.send(encode("H10301", 0, 4711))
        status = r.reader.status()
    assert r.sink.keys == ["9", "*", "4", "7", "1", "1", "#"]
    (pin,) = r.sink.credentials
    assert (pin.kind, pin.value, pin.reader) == ("pin", "4711", "kp")
    record = status["recent"][-1]
    assert (record["kind"], record["format"], record["result"]) == ("pin", "H10301", "accepted")
    assert record["bits"] == "*" * 26 and "card_number" not in record
    assert status["pin_frame_format"] == "H10301"


async def test_a_damaged_pin_frame_is_rejected_and_stays_masked() -> None:
    bits = encode("H10301", 0, 4711)
    async with rig(keypad_settings(pin_frame_format="H10301")) as r:
        await r.send(bits[:-1] + ("0" if bits[-1] == "1" else "1"))
        await r.send(bits[:25])  # cut short: it may still hold most of the PIN
        status = r.reader.status()
    assert r.sink.keys == [] and r.sink.credentials == []
    assert [rec["result"] for rec in status["recent"]] == ["parity", "length"]
    assert all(set(rec["bits"]) == {"*"} for rec in status["recent"])


async def test_a_keypad_with_a_card_format_still_reads_cards() -> None:
    async with rig(keypad_settings(formats=("H10306",), pin_frame_format="H10301")) as r:
        await r.send(encode("H10306", 1, 2))
        await r.send(encode("H10301", 0, 1234))
        status = r.reader.status()
    assert [c.kind for c in r.sink.credentials] == ["card", "pin"]
    card_record = status["recent"][0]
    assert card_record["bits"] == encode("H10306", 1, 2)  # a card frame is shown


# ----------------------------------------------------------------------------- status


async def test_status_lists_every_reason_and_keeps_the_last_20_frames() -> None:
    async with rig(reader_settings()) as r:
        status = r.reader.status()
        assert status["frames_rejected"] == {
            "parity": 0, "length": 0, "noise": 0, "swapped_lines": 0, "keypad_burst": 0
        }  # fmt: skip
        assert status["online"] is True and status["last_seen"] is None
        for card in range(22):
            await r.send(encode("H10301", 1, card), 200, 20)
        status = r.reader.status()
    assert status["frames_accepted"] == 22
    assert len(status["recent"]) == 20
    assert status["recent"][-1]["card_number"] == 21
    # Each frame has a number of its own, so a technician can point at one ("enroll frame
    # 22") while newer frames push older ones out of the list.
    assert [rec["id"] for rec in status["recent"]] == list(range(3, 23))
    assert status["last_seen"] is not None
    assert set(status["recent"][0]) >= {
        "time", "bits", "bit_count", "duration_us", "median_interval_us", "format", "result"
    }  # fmt: skip
