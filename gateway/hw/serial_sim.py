"""The simulated backend for serial readers: a device on a pseudo-terminal pair.

`PtySerialDevice` plays the device: it writes on the pty master what an RDM6300 module
or a line scanner would send, while the REAL `SerialReader` opens the slave with real
pyserial (`SimulatedHardware.serial_port` gives the reader the device's path). Only the
device is fake; the port, the thread, the decoding and the reopening after an unplug are
the production code (DESIGN.md, habit 1).

The reader opens a stable symlink in a private temp dir, `port_path`, that points to the
current slave. `unplug()` closes the pair and removes the link, as a USB unplug removes
/dev/ttyUSB0; `replug()` makes a new pair and points the link at it, so the reader's
ordinary reopen finds the device again without being told anything.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import tty
from functools import reduce
from operator import xor

from gateway.hw.serial_rfid import ETX, STX

EM4100_BYTES = 5


BUFFER_FULL = "the simulated serial device's buffer is full: is the reader reading?"


class SimulatedDeviceError(ValueError):
    """The simulated device cannot send now (unplugged, or the reader is not reading).

    A ValueError, so the simulation API answers 400 with the message."""


def parse_uid(uid_hex: str) -> bytes:
    """A UID typed by a person ("04:A1 b2c3") as bytes; ValueError if it is not hex."""
    digits = uid_hex.strip().replace(":", "").replace(" ", "")
    try:
        uid = bytes.fromhex(digits)
    except ValueError:
        raise ValueError(f"uid {uid_hex!r}: expected hex bytes") from None
    if not uid:
        raise ValueError("uid: expected hex bytes, found nothing")
    return uid


def rdm6300_frame(card: bytes) -> bytes:
    """The frame an RDM6300 sends for a 5-byte EM4100 id: STX, 10 hex digits, the XOR of
    the 5 bytes as 2 hex digits, ETX (digits upper case, as the module sends them)."""
    if len(card) != EM4100_BYTES:
        raise ValueError(f"an RDM6300 frame carries {EM4100_BYTES} bytes, not {len(card)}")
    digits = f"{card.hex().upper()}{reduce(xor, card):02X}"
    return bytes([STX]) + digits.encode("ascii") + bytes([ETX])


def card_frame(uid_hex: str) -> bytes:
    """An RDM6300 frame for a 5-byte EM4100 id, or for a 4-byte id, which is sent with a
    00 version byte in front (the printed card number is the last 4 bytes)."""
    uid = parse_uid(uid_hex)
    if len(uid) == EM4100_BYTES - 1:
        uid = b"\x00" + uid
    return rdm6300_frame(uid)


def scanned_line(text: str) -> bytes:
    """What a scanner sends for a scanned line: the text and CR LF, in UTF-8."""
    if "\r" in text or "\n" in text:
        raise ValueError("a scanned line cannot contain CR or LF")
    return text.encode("utf-8") + b"\r\n"


class PtySerialDevice:
    """A serial device at `port_path` (a symlink to the current pty slave)."""

    def __init__(self, name: str = "ttySIM0") -> None:
        self._dir = tempfile.mkdtemp(prefix="door-gateway-serial-")
        self.port_path = os.path.join(self._dir, name)
        self._master: int | None = None
        self._slave: int | None = None
        self.replug()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def replug(self) -> None:
        """Plug the device in: a new pty pair, and `port_path` pointing at its slave."""
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation, 0x03 is not ^C
        # The loop thread writes here: a reader that stopped reading must not block it.
        os.set_blocking(master, False)
        link = self.port_path + ".new"
        os.symlink(os.ttyname(slave), link)
        os.replace(link, self.port_path)  # atomic: the reader never sees a half-made link
        # The device keeps its own slave fd so the pty stays up between reader reopens.
        self._master, self._slave = master, slave

    def unplug(self) -> None:
        """Pull the plug: the path vanishes and the reader's next read fails."""
        if os.path.lexists(self.port_path):
            os.unlink(self.port_path)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def write_raw(self, data: bytes) -> None:
        """Send bytes exactly as given."""
        if self.write_some(data) < len(data):
            raise SimulatedDeviceError(BUFFER_FULL)

    def write_some(self, data: bytes) -> int:
        """Send as many of `data` as the pty takes now; how many that was."""
        if self._master is None:
            raise SimulatedDeviceError("the simulated serial device is unplugged")
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += os.write(self._master, view[sent:])
            except BlockingIOError:
                break
        return sent

    def write_card(self, uid_hex: str) -> None:
        """Send `card_frame(uid_hex)`."""
        self.write_raw(card_frame(uid_hex))

    def write_line(self, text: str) -> None:
        """Send `scanned_line(text)`."""
        self.write_raw(scanned_line(text))

    def close(self) -> None:
        """Unplug and remove the temp dir."""
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)


class BatchedWrites:
    """Sends to a `PtySerialDevice` from the event loop: what is sent within one pass of
    the loop (the simulation API's concurrent requests) goes to the pty in one write, so
    the reader's thread wakes once for all of it instead of once per request.

    `send` returns once its bytes are in the pty, as a write of its own would, or raises
    `SimulatedDeviceError` if they did not all fit (or the device is unplugged)."""

    def __init__(self, device: PtySerialDevice) -> None:
        self._device = device
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        sent = loop.create_future()
        self._pending.append((data, sent))
        await sent

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            written = self._device.write_some(b"".join(data for data, _ in pending))
            error = SimulatedDeviceError(BUFFER_FULL)
        except SimulatedDeviceError as exc:
            written, error = 0, exc
        for data, sent in pending:  # in order: the first ones are those that fitted
            if not sent.done():  # its request may have been cancelled meanwhile
                if written >= len(data):
                    sent.set_result(None)
                else:
                    sent.set_exception(error)
            written -= len(data)
