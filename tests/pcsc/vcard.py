"""A virtual MIFARE Classic card for vpcd, the virtual reader driver of pcscd.

vpcd listens on a TCP port per slot; a card "enters the field" by connecting to it and
"leaves" by closing the connection. Every message, both ways, is a 2-byte big-endian length
then the payload. A 1-byte payload from vpcd is a control code (0 power off, 1 power on,
2 reset, 4 get ATR: the only one answered, with the ATR); any longer payload is a command
APDU, answered with the response APDU (as vsmartcard's VirtualSmartcard.py does).

Debian's `vicc` emulates ISO 7816 file systems, not a contactless reader, so it does not
answer the PC/SC part 3 commands an ACR122U handles for the card: this one does, written
from the specification and independently of `gateway.hw.pcsc_sim`, so a mistake in one is
not mirrored in the other.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

# A MIFARE Classic 1K as PC/SC part 3 readers (ACR122U, Omnikey) describe it.
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
TRANSPORT_KEY = bytes.fromhex("FFFFFFFFFFFF")
CTRL_ATR = 4
SW_OK = b"\x90\x00"
SW_FAILED = b"\x63\x00"
SW_NOT_AUTHENTICATED = b"\x69\x82"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"


@dataclass
class VirtualCard:
    """A card with a UID, a key for every sector and some 16-byte blocks."""

    uid: bytes
    blocks: dict[int, bytes] = field(default_factory=dict)
    key: bytes = TRANSPORT_KEY
    atr: bytes = MIFARE_1K_ATR
    apdus: list[bytes] = field(default_factory=list)  # what the card received, in order

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loaded_key: bytes | None = None
        self._sector: int | None = None

    def insert(self, port: int) -> None:
        """Enter the field of the vpcd slot listening on `port`."""
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Leave the field: vpcd sees the connection close and reports the card removed."""
        if self._sock is not None:
            with contextlib.suppress(OSError):  # vpcd (or pcscd) already closed it
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _serve(self, sock: socket.socket) -> None:
        try:
            while (message := _receive(sock)) is not None:
                reply = self._answer(message)
                if reply is not None:
                    sock.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass  # removed, or pcscd went away: either way the card is out of the field

    def _answer(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            return self.atr if message[0] == CTRL_ATR else None
        self.apdus.append(message)
        return self.respond(message)

    def respond(self, apdu: bytes) -> bytes:
        """PC/SC part 3 storage card commands as an ACR122U implements them."""
        cla_ins = apdu[:2]
        if apdu == bytes.fromhex("FFCA000000"):
            return self.uid + SW_OK
        if cla_ins == b"\xff\x82" and apdu[2:5] == b"\x00\x00\x06" and len(apdu) == 11:
            self._loaded_key = apdu[5:]
            return SW_OK
        if cla_ins == b"\xff\x86" and apdu[2:7] == b"\x00\x00\x05\x01\x00" and len(apdu) == 10:
            block, key_type = apdu[7], apdu[8]
            good = key_type in (0x60, 0x61) and self._loaded_key == self.key
            self._sector = block // 4 if good else None
            return SW_OK if good else SW_FAILED
        if cla_ins == b"\xff\xb0" and apdu[2] == 0 and len(apdu) == 5:
            block = apdu[3]
            if self._sector != block // 4:
                return SW_NOT_AUTHENTICATED
            return self.blocks.get(block, bytes(16))[: apdu[4]] + SW_OK
        return SW_INS_NOT_SUPPORTED


def _receive(sock: socket.socket) -> bytes | None:
    """One length-prefixed message, or None when the other side closed."""
    header = _exactly(sock, 2)
    if header is None:
        return None
    return _exactly(sock, struct.unpack("!H", header)[0])


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
