"""The simulation API's writes to a simulated serial device: what concurrent requests send
within one pass of the loop reaches the pty in one write, and each request learns whether
its own bytes got there."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from gateway.hw.serial_sim import BatchedWrites, PtySerialDevice, SimulatedDeviceError


class PtyWithRoom(PtySerialDevice):
    """A simulated device whose pty takes at most `room` more bytes, and that counts its
    writes."""

    def __init__(self, room: int = 1 << 20) -> None:
        super().__init__()
        self.room = room
        self.writes: list[bytes] = []

    def write_some(self, data: bytes) -> int:
        taken = data[: self.room]
        self.room -= len(taken)
        self.writes.append(taken)
        return super().write_some(taken)

    def read_all(self) -> bytes:
        """What a reader on the slave side would read now."""
        assert self._slave is not None
        os.set_blocking(self._slave, False)
        try:
            return os.read(self._slave, 1 << 16)
        except BlockingIOError:
            return b""


@pytest.fixture
def device() -> Iterator[PtyWithRoom]:
    device = PtyWithRoom()
    yield device
    device.close()


async def test_concurrent_sends_go_in_one_write_in_order(device: PtyWithRoom) -> None:
    writes = BatchedWrites(device)
    await asyncio.gather(*(writes.send(f"code-{n}\r\n".encode()) for n in range(16)))
    assert len(device.writes) == 1
    assert device.read_all() == b"".join(f"code-{n}\r\n".encode() for n in range(16))


async def test_a_send_returns_only_once_its_bytes_are_in_the_pty(device: PtyWithRoom) -> None:
    writes = BatchedWrites(device)
    await writes.send(b"first\r\n")
    assert device.read_all() == b"first\r\n"


async def test_sends_that_do_not_fit_fail_and_those_before_them_succeed(
    device: PtyWithRoom,
) -> None:
    device.room = 10
    writes = BatchedWrites(device)
    results = await asyncio.gather(
        writes.send(b"12345\r\n"),  # 7 bytes: fits
        writes.send(b"67890\r\n"),  # only 3 of its bytes fit
        writes.send(b"abc\r\n"),
        return_exceptions=True,
    )
    assert results[0] is None
    assert all(isinstance(r, SimulatedDeviceError) and "full" in str(r) for r in results[1:])


async def test_a_send_to_an_unplugged_device_fails(device: PtyWithRoom) -> None:
    device.unplug()
    with pytest.raises(SimulatedDeviceError, match="unplugged"):
        await BatchedWrites(device).send(b"code\r\n")
