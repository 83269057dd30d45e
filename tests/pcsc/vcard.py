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

With a `DesfireApp` the card is a MIFARE DESFire EV2 card instead: it answers the wrapped
native commands (CLA 90) SelectApplication, AuthenticateEV2First or AuthenticateAES (the
EV1 way, which EV2 cards keep) and ReadData in the file's communication mode, written from
NXP's description of EV2 secure messaging and the EV1 session with `cryptography`
directly, not with `gateway.hw.desfire`.

With a `PlusApp` the card is a MIFARE Plus in Security Level 3: it answers the native
commands as they come (no CLA: the reader passes them through) First Authenticate (70h,
72h) with the AES key of the key number asked for, and the MACed reads 31h (enciphered)
and 33h (plain) of one block, written from NXP's MIFARE Plus description, not with
`gateway.hw.mifare_plus`. Its errors are one byte, as a real card's are.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import zlib
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

# A MIFARE Classic 1K as PC/SC part 3 readers (ACR122U, Omnikey) describe it.
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
DESFIRE_ATR = bytes.fromhex("3B8180018080")  # ISO 14443-4 type A, as an ACR122U shows it
TRANSPORT_KEY = bytes.fromhex("FFFFFFFFFFFF")
CTRL_ATR = 4
SW_OK = b"\x90\x00"
SW_FAILED = b"\x63\x00"
SW_NOT_AUTHENTICATED = b"\x69\x82"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"


@dataclass
class DesfireApp:
    """One application of a DESFire card: its AES key and one standard data file."""

    app_id: int
    key: bytes = field(repr=False)
    key_number: int
    file_number: int
    data: bytes
    comm_mode: str = "full"  # "full" (enciphered), "mac" or "plain"
    crypto: str = "aes"  # or "des", "2k3des" (Authenticate 0A), "3k3des" (AuthenticateISO 1A)


@dataclass
class PlusApp:
    """What a MIFARE Plus SL3 card holds: AES keys by key number, 16-byte blocks."""

    keys: dict[int, bytes] = field(repr=False)
    blocks: dict[int, bytes]


@dataclass
class VirtualCard:
    """A card with a UID, a key for every sector and some 16-byte blocks; or, with
    `desfire`, a DESFire EV2 card with that application."""

    uid: bytes
    blocks: dict[int, bytes] = field(default_factory=dict)
    key: bytes = TRANSPORT_KEY
    atr: bytes = MIFARE_1K_ATR
    apdus: list[bytes] = field(default_factory=list)  # what the card received, in order
    desfire: DesfireApp | None = None
    plus: PlusApp | None = None

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loaded_key: bytes | None = None
        self._sector: int | None = None
        self._ev2 = _Ev2Card(self.desfire) if self.desfire is not None else None
        self._plus = _PlusCard(self.plus) if self.plus is not None else None
        if self.desfire is not None or self.plus is not None:
            self.atr = DESFIRE_ATR

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
        if apdu[0] == 0x90 and self._ev2 is not None:
            return self._ev2.respond(apdu)
        if apdu[0] != 0xFF and self._plus is not None:
            return self._plus.respond(apdu)
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


class _Ev2Card:
    """The DESFire side of one card: selection, AuthenticateEV2First or AuthenticateAES,
    ReadData."""

    def __init__(self, app: DesfireApp) -> None:
        self.app = app
        self.selected = False
        self.rnd_b: bytes | None = None
        self.keys: tuple[bytes, bytes] | None = None  # (encryption, MAC) session keys
        self.ti = b""
        self.counter = 0
        self.ev1_challenge: bytes | None = None  # AuthenticateAES under way: E(K, RndB)
        self.ev1_key: bytes | None = None  # the EV1 session key
        self.ev1_iv = bytes(16)
        self.des_pending: bytes | None = None  # RndB of 0A / 1A, then E(K, RndB) kept below
        self.des_challenge = b""
        self.des_key: bytes | None = None  # the session key of a DES-family authentication
        self.des_iv = bytes(8)

    def respond(self, apdu: bytes) -> bytes:
        ins, data = apdu[1], apdu[5:-1]
        if self.app.crypto != "aes" and ins in (0x0A, 0x1A, 0xAF, 0xBD) and self.selected:
            return self._des(ins, data)
        if ins == 0x5A:
            self.selected = int.from_bytes(data, "little") == self.app.app_id
            self.rnd_b, self.keys, self.ev1_challenge, self.ev1_key = None, None, None, None
            self.des_pending, self.des_key = None, None
            return b"\x91\x00" if self.selected else b"\x91\xa0"
        if not self.selected:
            return b"\x91\xae"
        if ins in (0x71, 0xAA):
            if self.app.crypto != "aes":
                return b"\x91\xae"
            if data[0] != self.app.key_number:
                return b"\x91\x40"
            self.rnd_b, self.keys, self.ev1_key = os.urandom(16), None, None
            challenge = _cbc(self.app.key, bytes(16), self.rnd_b, encrypt=True)
            self.ev1_challenge = challenge if ins == 0xAA else None
            return challenge + b"\x91\xaf"
        if ins == 0xAF and self.rnd_b is not None and self.ev1_challenge is not None:
            return self._second_part_ev1(data)
        if ins == 0xAF and self.rnd_b is not None:
            return self._second_part(data)
        if ins == 0xBD and self.ev1_key is not None:
            return self._read_ev1(data)
        if ins == 0xBD and self.keys is not None:
            return self._read(data)
        return b"\x91\x1c"

    def _des(self, ins: int, data: bytes) -> bytes:
        """0A (DES, 2K3DES: the old "decipher to send" chaining), 1A (3K3DES: plain CBC
        chained on the last block), and ReadData in the session either opened."""
        key, iso = self.app.key, self.app.crypto == "3k3des"
        if ins in (0x0A, 0x1A):
            self.des_key = None
            if ins != (0x1A if iso else 0x0A):
                return b"\x91\xae"
            if data[:1] != bytes([self.app.key_number]):
                return b"\x91\x40"
            self.des_pending = os.urandom(16 if iso else 8)
            self.des_challenge = _des_cbc(key, bytes(8), self.des_pending, encrypt=True)
            return self.des_challenge + b"\x91\xaf"
        if ins == 0xAF and self.des_pending is not None:
            rnd_b, self.des_pending = self.des_pending, None
            if iso:
                plain = _des_cbc(key, self.des_challenge[-8:], data, encrypt=False)
            else:  # each block was deciphered after xoring the previous result: undo it
                plain, previous = b"", bytes(8)
                for i in range(0, len(data), 8):
                    block = _des_cbc(key, bytes(8), data[i : i + 8], encrypt=True)
                    plain += bytes(x ^ y for x, y in zip(block, previous, strict=True))
                    previous = data[i : i + 8]
            n = len(rnd_b)
            rnd_a = plain[:n]
            if plain[n:] != rnd_b[1:] + rnd_b[:1]:
                return b"\x91\xae"
            if self.app.crypto == "des":
                self.des_key = rnd_a[:4] + rnd_b[:4]
            elif self.app.crypto == "2k3des":
                self.des_key = rnd_a[:4] + rnd_b[:4] + rnd_a[4:8] + rnd_b[4:8]
            else:
                self.des_key = (
                    rnd_a[:4] + rnd_b[:4] + rnd_a[6:10] + rnd_b[6:10] + rnd_a[12:] + rnd_b[12:]
                )
            self.des_iv = bytes(8)
            iv = data[-8:] if iso else bytes(8)
            return _des_cbc(key, iv, rnd_a[1:] + rnd_a[:1], encrypt=True) + b"\x91\x00"
        if ins == 0xBD and self.des_key is not None:
            return self._read_des(data, self.des_key, iso)
        return b"\x91\x1c"

    def _read_des(self, data: bytes, key: bytes, iso: bool) -> bytes:
        if iso:
            self.des_iv = _des_cmac(key, self.des_iv, b"\xbd" + data)
        if data[0] != self.app.file_number:
            return b"\x91\xf0"
        offset = int.from_bytes(data[1:4], "little")
        content = self.app.data[offset : offset + int.from_bytes(data[4:7], "little")]
        mode = self.app.comm_mode
        if mode == "plain":
            return content + b"\x91\x00"
        if not iso:  # legacy: a 4-byte CBC MAC, or a CRC16 (type A) under the encryption
            padded = content + bytes(-len(content) % 8)
            if mode == "mac":
                mac = _des_cbc(key, bytes(8), padded, encrypt=True)[-8:-4]
                return content + mac + b"\x91\x00"
            crc = 0x6363
            for byte in content:
                byte ^= crc & 0xFF
                byte = (byte ^ (byte << 4)) & 0xFF
                crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
            plain = content + struct.pack("<H", crc)
            plain += bytes(-len(plain) % 8)
            return _des_cbc(key, bytes(8), plain, encrypt=True) + b"\x91\x00"
        if mode == "mac":
            self.des_iv = _des_cmac(key, self.des_iv, content + b"\x00")
            return content + self.des_iv + b"\x91\x00"
        plain = content + (zlib.crc32(content + b"\x00") ^ 0xFFFFFFFF).to_bytes(4, "little")
        plain += bytes(-len(plain) % 8)
        sealed = _des_cbc(key, self.des_iv, plain, encrypt=True)
        self.des_iv = sealed[-8:]
        return sealed + b"\x91\x00"

    def _second_part_ev1(self, data: bytes) -> bytes:
        rnd_b, challenge = self.rnd_b, self.ev1_challenge
        self.rnd_b, self.ev1_challenge = None, None
        assert rnd_b is not None and challenge is not None
        # EV1: every CBC step chains on the last ciphertext block sent or received.
        plain = _cbc(self.app.key, challenge, data, encrypt=False)
        rnd_a = plain[:16]
        if plain[16:] != rnd_b[1:] + rnd_b[:1]:
            return b"\x91\xae"
        self.ev1_key = rnd_a[:4] + rnd_b[:4] + rnd_a[12:] + rnd_b[12:]
        self.ev1_iv = bytes(16)
        return _cbc(self.app.key, data[-16:], rnd_a[1:] + rnd_a[:1], encrypt=True) + b"\x91\x00"

    def _read_ev1(self, data: bytes) -> bytes:
        key = self.ev1_key
        assert key is not None
        # The command travels in the clear; its CMAC, chained from the IV, is the next IV.
        self.ev1_iv = _cmac_from(key, self.ev1_iv, b"\xbd" + data)
        if data[0] != self.app.file_number:
            return b"\x91\xf0"
        offset = int.from_bytes(data[1:4], "little")
        length = int.from_bytes(data[4:7], "little")
        content = self.app.data[offset : offset + length]
        if self.app.comm_mode == "mac":
            self.ev1_iv = _cmac_from(key, self.ev1_iv, content + b"\x00")
            return content + self.ev1_iv[:8] + b"\x91\x00"
        if self.app.comm_mode == "full":
            crc = (zlib.crc32(content + b"\x00") ^ 0xFFFFFFFF).to_bytes(4, "little")
            plain = content + crc
            plain += bytes((16 - len(plain) % 16) % 16)
            content = _cbc(key, self.ev1_iv, plain, encrypt=True)
            self.ev1_iv = content[-16:]
        return content + b"\x91\x00"

    def _second_part(self, data: bytes) -> bytes:
        rnd_b, self.rnd_b = self.rnd_b, None
        assert rnd_b is not None
        plain = _cbc(self.app.key, bytes(16), data, encrypt=False)
        rnd_a = plain[:16]
        if plain[16:] != rnd_b[1:] + rnd_b[:1]:
            return b"\x91\xae"
        self.ti, self.counter = os.urandom(4), 0
        # SV: label, 00 01 00 80, RndA[15..14], RndA[13..8] ^ RndB[15..10], RndB[9..0], RndA[7..0]
        xored = bytes(x ^ y for x, y in zip(rnd_a[2:8], rnd_b[:6], strict=True))
        tail = b"\x00\x01\x00\x80" + rnd_a[:2] + xored + rnd_b[6:] + rnd_a[8:]
        self.keys = (
            _cmac(self.app.key, b"\xa5\x5a" + tail),
            _cmac(self.app.key, b"\x5a\xa5" + tail),
        )
        proof = self.ti + rnd_a[1:] + rnd_a[:1] + bytes(12)
        return _cbc(self.app.key, bytes(16), proof, encrypt=True) + b"\x91\x00"

    def _read(self, data: bytes) -> bytes:
        assert self.keys is not None
        enc_key, mac_key = self.keys
        header, mac = data[:7], data[7:]
        counter = self.counter.to_bytes(2, "little")
        if header[0] != self.app.file_number:
            return b"\x91\xf0"
        if self.app.comm_mode != "plain":
            expected = _cmac(mac_key, b"\xbd" + counter + self.ti + header)[1::2]
            if mac != expected:
                self.keys = None
                return b"\x91\x1e"
        offset = int.from_bytes(header[1:4], "little")
        length = int.from_bytes(header[4:7], "little")
        if offset + length > len(self.app.data):
            return b"\x91\xbe"
        content = self.app.data[offset : offset + length]
        self.counter += 1
        after = self.counter.to_bytes(2, "little")
        if self.app.comm_mode == "plain":
            return content + b"\x91\x00"
        if self.app.comm_mode == "full":
            iv_block = b"\x5a\xa5" + self.ti + after + bytes(8)
            iv = _cbc(enc_key, bytes(16), iv_block, encrypt=True)
            padded = content + b"\x80" + bytes(15 - len(content) % 16)
            content = _cbc(enc_key, iv, padded, encrypt=True)
        mac = _cmac(mac_key, b"\x00" + after + self.ti + content)[1::2]
        return content + mac + b"\x91\x00"


class _PlusCard:
    """The MIFARE Plus SL3 side of one card: First Authenticate, then MACed reads."""

    def __init__(self, app: PlusApp) -> None:
        self.app = app
        self.pending: tuple[bytes, bytes] | None = None  # (key, RndB) between 70h and 72h
        self.kenc = self.kmac = self.ti = b""
        self.r_ctr = self.w_ctr = 0

    def respond(self, command: bytes) -> bytes:
        if command[0] == 0x70 and len(command) == 4:
            self.kmac, self.pending = b"", None
            key = self.app.keys.get(command[1] | command[2] << 8)
            if key is None:
                return b"\x06"
            rnd_b = os.urandom(16)
            self.pending = (key, rnd_b)
            return b"\x90" + _cbc(key, bytes(16), rnd_b, encrypt=True)
        if command[0] == 0x72 and len(command) == 33 and self.pending is not None:
            (key, rnd_b), self.pending = self.pending, None
            plain = _cbc(key, bytes(16), command[1:], encrypt=False)
            a, b = plain[:16], rnd_b
            if plain[16:] != b[1:] + b[:1]:
                return b"\x06"
            self.ti, self.r_ctr, self.w_ctr = os.urandom(4), 0, 0
            ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
            enc_in = a[11:16] + b[11:16] + bytes(a[4 + i] ^ b[4 + i] for i in range(5)) + b"\x11"
            mac_in = a[7:12] + b[7:12] + bytes(a[i] ^ b[i] for i in range(5)) + b"\x22"
            self.kenc, self.kmac = ecb.update(enc_in), ecb.update(mac_in)
            reply = self.ti + a[1:] + a[:1] + b"PICCAPPCDCAP"
            return b"\x90" + _cbc(key, bytes(16), reply, encrypt=True)
        if command[0] in (0x31, 0x33) and len(command) == 12 and self.kmac:
            return self._read(command)
        return b"\x0b"

    def _read(self, command: bytes) -> bytes:
        ctr = struct.pack("<H", self.r_ctr)
        if command[4:] != _cmac(self.kmac, command[:1] + ctr + self.ti + command[1:4])[1::2]:
            self.kmac = b""
            return b"\x08"
        block = command[1] | command[2] << 8
        if command[3] != 1 or block not in self.app.blocks:
            return b"\x06"
        self.r_ctr += 1
        data = self.app.blocks[block]
        if command[0] == 0x31:
            iv = struct.pack("<HH", self.r_ctr, self.w_ctr) * 3 + self.ti
            data = _cbc(self.kenc, iv, data, encrypt=True)
        counters = struct.pack("<H", self.r_ctr) + self.ti
        mac = _cmac(self.kmac, b"\x90" + counters + command[1:4] + data)[1::2]
        return b"\x90" + data + mac


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    operation = cipher.encryptor() if encrypt else cipher.decryptor()
    return operation.update(data) + operation.finalize()


def _des_cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    """3DES-CBC; DESFire's DES key is K1 = K2 = K3, its 2K3DES key K1 K2 K1."""
    full = {8: key * 3, 16: key + key[:8]}.get(len(key), key)
    cipher = Cipher(TripleDES(full), modes.CBC(iv))
    operation = cipher.encryptor() if encrypt else cipher.decryptor()
    return operation.update(data) + operation.finalize()


def _des_cmac(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CMAC with 3DES (8-byte blocks, Rb = 1Bh), its chaining value starting at `iv`."""
    value = int.from_bytes(_des_cbc(key, bytes(8), bytes(8), encrypt=True), "big")
    subkeys = []
    for _ in range(2):
        value = ((value << 1) ^ (0x1B if value >> 63 else 0)) & (2**64 - 1)
        subkeys.append(value)
    if data and len(data) % 8 == 0:
        head, last, subkey = data[:-8], data[-8:], subkeys[0]
    else:
        cut = len(data) - len(data) % 8
        head, last, subkey = data[:cut], (data[cut:] + b"\x80").ljust(8, b"\x00"), subkeys[1]
    chained = _des_cbc(key, iv, head, encrypt=True)[-8:] if head else iv
    final = int.from_bytes(chained, "big") ^ int.from_bytes(last, "big") ^ subkey
    return _des_cbc(key, bytes(8), final.to_bytes(8, "big"), encrypt=True)


def _cmac_from(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CMAC (RFC 4493) whose chaining value starts at `iv`, as the EV1 session keeps it."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    subkeys = []
    value = int.from_bytes(ecb.update(bytes(16)), "big")
    for _ in range(2):
        value = ((value << 1) ^ (0x87 if value >> 127 else 0)) & (2**128 - 1)
        subkeys.append(value)
    if data and len(data) % 16 == 0:
        head, last, subkey = data[:-16], data[-16:], subkeys[0]
    else:
        cut = len(data) - len(data) % 16
        head, last, subkey = data[:cut], data[cut:] + b"\x80", subkeys[1]
        last = last.ljust(16, b"\x00")
    chained = _cbc(key, iv, head, encrypt=True)[-16:] if head else iv
    final = int.from_bytes(chained, "big") ^ int.from_bytes(last, "big") ^ subkey
    return ecb.update(final.to_bytes(16, "big"))


def _cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


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
