"""Two OSDP readers on one RS-485 bus: one control panel for the port, each PD at its own
address with its own key, each card delivered as its own reader's credential.

The bus is a pseudo-terminal whose far end a small pump shares between two of libosdp's
PDs, as the wire does: every PD hears what the panel sends, the panel hears every reply."""

from __future__ import annotations

import asyncio
import os
import threading
import tty
from collections.abc import Iterator

import osdp
import pytest

from gateway.clock import SystemClock
from gateway.hw.formats import FormatRegistry, encode_h10301
from gateway.hw.osdp_bus import OsdpBus
from gateway.hw.osdp_reader import OsdpReader, pack_bits
from tests.osdp.harness import Recorder, osdp_settings, wait_for

KEYS = {1: bytes.fromhex("11" * 16), 2: bytes.fromhex("22" * 16)}


class WireChannel(osdp.Channel):  # type: ignore[misc]
    """One PD's tap on the shared wire."""

    def __init__(self, wire: Wire) -> None:
        super().__init__()
        self._wire = wire
        self.inbox = bytearray()

    def read(self, max_bytes: int) -> bytes:
        with self._wire.lock:
            data = bytes(self.inbox[:max_bytes])
            del self.inbox[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        return self._wire.reply(bytes(buf))

    def flush(self) -> None:
        with self._wire.lock:
            self.inbox.clear()


class Wire:
    """The far end of the panel's pty, shared by the PDs."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.lock = threading.Lock()
        self.taps: list[WireChannel] = []
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._run, daemon=True)

    def tap(self) -> WireChannel:
        channel = WireChannel(self)
        self.taps.append(channel)
        return channel

    def reply(self, data: bytes) -> int:
        return os.write(self.master, data)

    def start(self) -> None:
        os.set_blocking(self.master, False)
        self._pump.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            with self.lock:
                for tap in self.taps:
                    tap.inbox += data

    def close(self) -> None:
        self._stop.set()
        self._pump.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def wire() -> Iterator[Wire]:
    wire = Wire()
    yield wire
    wire.close()


async def test_two_readers_share_one_port_each_with_its_own_key(wire: Wire) -> None:
    pds = {
        address: osdp.PeripheralDevice(
            osdp.PDInfo(address, wire.tap(), scbk=key, flags=[osdp.LibFlag.EnforceSecure]),
            osdp.PDCapabilities([]),
            log_level=osdp.LogLevel.Error,
        )
        for address, key in KEYS.items()
    }
    bus = OsdpBus(wire.path, 115200)  # one panel: what PiHardware gives readers of one port
    loop = asyncio.get_running_loop()
    recorders = {address: Recorder() for address in KEYS}
    readers = {
        address: OsdpReader(
            osdp_settings(name=f"reader-{address}", osdp_address=address, port=wire.path),
            loop,
            recorders[address],
            SystemClock(),
            bus,
            recorders[address].emit,
            KEYS[address],
            FormatRegistry(),
        )
        for address in KEYS
    }
    wire.start()
    for pd in pds.values():
        pd.start()
    try:
        for reader in readers.values():
            reader.start()
        for reader in readers.values():
            await wait_for(lambda r=reader: r.status()["secure_channel"], 10, "Secure Channel")
        for address, pd in pds.items():
            bits = encode_h10301(address, 1000 + address)
            pd.submit_event(
                {
                    "event": osdp.Event.CardRead,
                    "reader_no": 0,
                    "direction": 0,
                    "format": osdp.CardFormat.Wiegand,
                    "length": len(bits),
                    "data": pack_bits(bits),
                }
            )
        for address, recorder in recorders.items():
            await wait_for(lambda r=recorder: bool(r.credentials), 5, f"reader {address}'s card")
        assert [c.reader for c in recorders[1].credentials] == ["reader-1"]
        assert [c.reader for c in recorders[2].credentials] == ["reader-2"]
        assert recorders[1].credentials[0].value != recorders[2].credentials[0].value
    finally:
        for reader in readers.values():
            reader.close()
        bus.close()
        for pd in pds.values():
            pd.teardown()
