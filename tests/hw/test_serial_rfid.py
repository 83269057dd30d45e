"""The real SerialReader with real pyserial on a real pseudo-terminal pair, whose other
end (PtySerialDevice) plays an RDM6300 module or a QR scanner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import SystemClock
from gateway.hw.serial_rfid import SerialReader
from gateway.hw.serial_sim import PtySerialDevice, SimulatedDeviceError, rdm6300_frame
from gateway.model import Credential, qr_fingerprint
from gateway.settings import ReaderSettings

WAIT_S = 5.0
CARD = "0100BC614E"


class CollectingSink:
    """A ReaderSink that keeps what it is given, and checks it is called on the loop."""

    def __init__(self) -> None:
        self.credentials: list[Credential] = []
        self.keys: list[tuple[str, str, float]] = []
        self.threads: set[str] = set()

    def credential(self, credential: Credential) -> None:
        self.threads.add(threading.current_thread().name)
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        self.keys.append((reader, key, timestamp))

    @property
    def values(self) -> list[str]:
        return [c.value for c in self.credentials]


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll `predicate` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def settings(port: str, **overrides: Any) -> ReaderSettings:
    values: dict[str, Any] = {"name": "door-rfid", "kind": "serial", "door": "front"}
    return ReaderSettings(**(values | {"port": port} | overrides))


class Bench:
    """A pty device and the readers started on it in one test; all closed at the end."""

    def __init__(self, device: PtySerialDevice) -> None:
        self.device = device
        self.sink = CollectingSink()
        self.readers: list[SerialReader] = []

    async def reader(self, **overrides: Any) -> SerialReader:
        """A started reader on the device's port, once its port is open."""
        reader = SerialReader(
            settings(self.device.port_path, **overrides),
            asyncio.get_running_loop(),
            self.sink,
            SystemClock(),
        )
        self.readers.append(reader)
        reader.start()
        await until(lambda: reader.status()["online"], "the reader to open its port")
        return reader

    async def credentials(self, count: int) -> list[str]:
        await until(lambda: len(self.sink.credentials) >= count, f"{count} credential(s)")
        return self.sink.values


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    device = PtySerialDevice()
    bench = Bench(device)
    yield bench
    for reader in bench.readers:
        reader.close()
    device.close()


def serial_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("serial-reader-")]


# -- RDM6300 --------------------------------------------------------------------------


async def test_a_card_frame_gives_one_credential_on_the_loop(bench: Bench) -> None:
    reader = await bench.reader(protocol="rdm6300")
    bench.device.write_card(CARD)
    assert await bench.credentials(1) == [CARD]
    credential = bench.sink.credentials[0]
    assert (credential.kind, credential.reader) == ("card", "door-rfid")
    assert credential.raw == "\\x020100BC614E92\\x03"
    assert bench.sink.threads == {threading.main_thread().name}
    status = reader.status()
    assert status["frames_accepted"] == 1 and status["last_seen"] is not None
    assert status["recent"][-1]["parsed"] == CARD


async def test_card_bytes_make_a_4_byte_id_match_other_readers(bench: Bench) -> None:
    await bench.reader(protocol="rdm6300", card_bytes=4)
    bench.device.write_card("00BC614E")  # 4 bytes: sent with a 00 version byte
    assert await bench.credentials(1) == ["00BC614E"]


async def test_checksum_errors_and_noise_are_rejected(bench: Bench) -> None:
    reader = await bench.reader(protocol="rdm6300")
    bench.device.write_raw(b"\x020100BC614E93\x03")  # checksum off by one
    bench.device.write_raw(rdm6300_frame(b"\x00" * 5))
    bench.device.write_raw(rdm6300_frame(b"\xff" * 5))
    bench.device.write_card(CARD)  # the pty keeps order: once this is in, all is
    assert await bench.credentials(1) == [CARD]
    assert reader.status()["frames_rejected"] == {"checksum": 1, "noise": 2}


async def test_garbage_and_frames_in_pieces(bench: Bench) -> None:
    reader = await bench.reader(protocol="rdm6300")
    frame = rdm6300_frame(bytes.fromhex(CARD))
    bench.device.write_raw(b"\xff\x00junk")
    for piece in (frame[:3], frame[3:9], frame[9:]):  # as a slow UART delivers it
        bench.device.write_raw(piece)
        await asyncio.sleep(0.02)
    bench.device.write_raw(b"\r\n" + frame[:-1])  # garbage, then a frame without ETX
    bench.device.write_card("0A0B0C0D0E")
    assert await bench.credentials(2) == [CARD, "0A0B0C0D0E"]
    assert reader.status()["frames_rejected"] == {"garbage": 2, "length": 1}


async def test_a_held_card_is_reported_once_then_again_after_being_away(bench: Bench) -> None:
    reader = await bench.reader(protocol="rdm6300", debounce_s=0.3)
    for _ in range(10):  # an RDM6300 repeats the frame every ~100 ms while the card is on
        bench.device.write_card(CARD)
        await asyncio.sleep(0.1)
    await until(lambda: reader.status()["frames_debounced"] == 9, "9 repeats")
    assert bench.sink.values == [CARD]
    assert reader.status()["recent"][-1]["repeats"] == 9
    await asyncio.sleep(0.6)  # away longer than debounce_s
    bench.device.write_card(CARD)
    assert await bench.credentials(2) == [CARD, CARD]


# -- line scanners --------------------------------------------------------------------


async def test_qr_scanner_lines(bench: Bench) -> None:
    reader = await bench.reader(protocol="line", credential_kind="qr")
    bench.device.write_line("https://example.com/pass/42")
    bench.device.write_raw(b"plain\rtab\there\nGr\xc3\xbc\xc3\x9fe\r\n")
    await bench.credentials(3)
    assert bench.sink.values == ["https://example.com/pass/42", "plain", "Grüße"]
    assert {c.kind for c in bench.sink.credentials} == {"qr"}
    assert reader.status()["frames_rejected"] == {"unprintable": 1}


class RefusingSink(CollectingSink):
    """A sink that fails on one value (a bug downstream) and keeps the rest."""

    def credential(self, credential: Credential) -> None:
        if credential.value == "breaks":
            raise RuntimeError("a bug downstream")
        super().credential(credential)


async def test_lines_read_together_each_reach_the_sink_in_order_whatever_one_does(
    bench: Bench,
) -> None:
    bench.sink = RefusingSink()
    await bench.reader(protocol="line", credential_kind="qr")
    bench.device.write_raw(b"first\r\nbreaks\r\nthird\r\nfourth\r\n")  # one read
    assert await bench.credentials(3) == ["first", "third", "fourth"]
    assert bench.sink.threads == {threading.main_thread().name}


async def test_line_pattern_selects_the_value(bench: Bench) -> None:
    reader = await bench.reader(
        protocol="line", credential_kind="qr", line_pattern=r"GATE:([A-Z0-9]{6})"
    )
    for line in ("GATE:AB12CD", "other:AB12CD", "GATE:ab12cd", "GATE:XY34ZW"):
        bench.device.write_line(line)
    assert await bench.credentials(2) == ["AB12CD", "XY34ZW"]
    assert reader.status()["frames_rejected"] == {"pattern": 2}


async def test_line_card_reader_prints_decimal_or_hex(bench: Bench) -> None:
    await bench.reader(protocol="line", credential_kind="card")
    bench.device.write_line("0012345678")  # the number printed on a 125 kHz card
    bench.device.write_line("04a1b2c3d4e5f6")  # a 7-byte NFC UID in hex
    assert await bench.credentials(2) == ["00BC614E", "04A1B2C3D4E5F6"]


async def test_an_overlong_line_is_dropped_and_counted(bench: Bench) -> None:
    reader = await bench.reader(protocol="line", credential_kind="qr")
    bench.device.write_raw(b"A" * 1500)  # a scanner spewing without line ends
    bench.device.write_line("rest of that line")
    bench.device.write_line("next")
    assert await bench.credentials(1) == ["next"]
    assert reader.status()["frames_rejected"] == {"overlong": 1}


async def test_recent_frames_are_capped_in_number_and_size(bench: Bench) -> None:
    reader = await bench.reader(protocol="line", credential_kind="qr")
    for n in range(25):
        bench.device.write_line(f"{n:02d}" + "s" * 200)  # long codes may hold secrets
    await bench.credentials(25)
    recent = reader.status()["recent"]
    # A QR code shows as its fingerprint (docs/security.md): the latest is code 24's.
    assert len(recent) == 20 and recent[-1]["parsed"] == qr_fingerprint("24" + "s" * 200)
    assert all(len(r["raw"]) <= 64 and len(r["parsed"]) <= 64 for r in recent)
    assert len(bench.sink.credentials[-1].value) == 202  # the credential itself is whole


# -- unplug, missing port, close ------------------------------------------------------


async def test_unplug_and_replug_without_disturbing_the_loop(bench: Bench) -> None:
    reader = await bench.reader(protocol="rdm6300")
    gaps: list[float] = []

    async def ticker() -> None:  # the daemon's loop keeps its pace throughout
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    bench.device.unplug()
    await until(lambda: not reader.status()["online"], "the reader to go offline")
    assert "read failed" in reader.status()["offline_reason"]
    with pytest.raises(SimulatedDeviceError):
        bench.device.write_card(CARD)
    await until(lambda: reader.status()["reopen_attempts"] >= 1, "a reopen attempt")
    assert "not found" in reader.status()["offline_reason"]
    bench.device.replug()
    await until(lambda: reader.status()["online"], "the reader to reopen the port")
    assert reader.status()["offline_reason"] is None
    bench.device.write_card(CARD)
    assert await bench.credentials(1) == [CARD]
    ticking.cancel()
    assert max(gaps) < 0.5


async def test_a_missing_port_at_start_shows_offline_then_comes_up(bench: Bench) -> None:
    bench.device.unplug()
    reader = SerialReader(
        settings(bench.device.port_path, protocol="line", credential_kind="qr"),
        asyncio.get_running_loop(),
        bench.sink,
        SystemClock(),
    )
    bench.readers.append(reader)
    reader.start()  # must not raise
    status = reader.status()
    assert status["online"] is False and status["offline_reason"]
    await until(lambda: reader.status()["reopen_attempts"] >= 1, "a reopen attempt")
    assert "not found" in reader.status()["offline_reason"]
    bench.device.replug()
    await until(lambda: reader.status()["online"], "the port to come up")
    bench.device.write_line("hello")
    assert await bench.credentials(1) == ["hello"]


async def test_a_port_that_cannot_be_opened_shows_why(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "ttyUSB0"
    not_a_tty.write_text("")
    loop = asyncio.get_running_loop()
    reader = SerialReader(settings(str(not_a_tty)), loop, CollectingSink(), SystemClock())
    reader.start()
    try:
        await until(lambda: "cannot open" in str(reader.status()["offline_reason"]), "error")
    finally:
        reader.close()


async def test_close_stops_the_thread_at_once_though_a_read_waits_a_second(
    bench: Bench,
) -> None:
    reader = await bench.reader(protocol="rdm6300")
    await asyncio.sleep(0.1)  # the thread is in its read now
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 0.3  # the read is cancelled, not waited out
    assert serial_threads() == []
    assert reader.status()["online"] is False
