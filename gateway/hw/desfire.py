"""MIFARE DESFire secure card data: the credential read from a file of an application.

A UID proves nothing: anyone can buy a card, or an emulator, that answers any UID. Here the
card must prove it knows an AES-128 key, and the credential comes from a file of the card's
application, read under a session key: MACed (the answer carries a MAC) or enciphered
(encrypted, with a MAC in EV2 or a CRC in EV1), so a card that merely repeats a recorded
answer, or someone altering it in the field, is refused. Two ways, as the reader is set:

- "ev2" (DESFire EV2, EV3): AuthenticateEV2First and EV2 secure messaging, as below;
- "ev1" (EV1 cards too): AuthenticateAES (0xAA) and the EV1 AES session: one session key,
  a CMAC chained over every command and answer as the IV, an enciphered answer holding
  the data and a CRC32 of it.

A DES-family key (the guides' "Crypto: DES", `DesfireCard.crypto`) authenticates the EV1
way instead: DES and 2K3DES by the legacy Authenticate (0x0A: the reader "deciphers to
send", the session checks answers with a 4-byte CBC-MAC or a CRC16 under the encryption),
3K3DES by AuthenticateISO (0x1A: the EV1 session above with a 3DES CMAC and 8-byte IV).

Native DESFire commands go through PC/SC wrapped in ISO 7816 APDUs (CLA 0x90, P1 P2 = 0,
Le = 0); the answer ends in SW1 0x91 and SW2 the DESFire status. The steps ("ev2"; "ev1"
differs in 2 and 3 as said above):

1. SelectApplication (0x5A) of the 3-byte application id (sent least significant first);
2. AuthenticateEV2First (0x71, then 0xAF) with the key number: the card sends
   E(K, RndB); we answer E(K, RndA || RndB rotated); the card proves the key with
   E(K, TI || RndA rotated || capabilities). Session keys: CMAC(K, SV1) for encryption and
   CMAC(K, SV2) for MACs, SV mixing RndA and RndB (NXP AN12196 section 4);
3. ReadData (0xBD) of `length` bytes from `offset` in the file, the command MACed (MAC and
   full modes) and the answer checked, with the command counter and the transaction id.

The cryptography is pure functions over bytes (tested against the worked examples of NXP
AN12196 for EV2, and against published EV1 traces); `cryptography` is imported only when
they run, or when a DESFire reader starts (`load_cryptography`): a daemon without one
never loads it (docs/performance.md). The key is a secret: kept out of repr, never
logged, never in a refusal's words.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher

CommMode = Literal["full", "mac", "plain"]
ValueFormat = Literal["binary", "ascii"]
AuthScheme = Literal["ev2", "ev1"]
Crypto = Literal["aes", "des", "2k3des", "3k3des"]
KEY_BYTES: dict[str, int] = {"aes": 16, "des": 8, "2k3des": 16, "3k3des": 24}

WRAP_CLA = 0x90
SW1_DESFIRE = 0x91
SELECT_APPLICATION = 0x5A
AUTHENTICATE_EV2_FIRST = 0x71
AUTHENTICATE_AES = 0xAA
AUTHENTICATE_LEGACY = 0x0A  # DES and 2K3DES keys, the DESFire (EV0) way EV1 cards keep
AUTHENTICATE_ISO = 0x1A  # 3K3DES (and 2K3DES) keys, EV1 secure messaging
ADDITIONAL_FRAME = 0xAF
READ_DATA = 0xBD

STATUS_OK = 0x00
STATUS_MORE = 0xAF
STATUS_NO_SUCH_KEY = 0x40
STATUS_PERMISSION_DENIED = 0x9D
STATUS_AUTHENTICATION_ERROR = 0xAE
STATUS_APPLICATION_NOT_FOUND = 0xA0

BLOCK = 16
DES_BLOCK = 8
LEGACY_MAC_BYTES = 4
MAC_T_BYTES = 8
ASCII_MIN_BYTES = 4  # a decimal number is read back as at least 4 bytes, as 10DN prints it

# Why a presentation gave no credential; the journal reason is "card_" + this.
NOT_DESFIRE = "not_desfire"
NO_APPLICATION = "no_application"
AUTH_FAILED = "auth_failed"
READ_FAILED = "read_failed"


class Transmit(Protocol):
    """One command APDU to the card and its answer: (data, sw1, sw2)."""

    def __call__(self, apdu: bytes) -> tuple[bytes, int, int]: ...


class DesfireRefused(Exception):
    """The card did not give the credential; `reason` is one of the constants above and
    the message says why in words that never contain the key or the card's data."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# -- the cryptography (pure) ---------------------------------------------------------------


def load_cryptography() -> None:
    """Import the AES and CMAC code now (a DESFire reader's start), not at the first card."""
    from cryptography.hazmat.primitives import cmac as _cmac  # noqa: F401
    from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher  # noqa: F401


def _aes(key: bytes, iv: bytes | None) -> Cipher[Any]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    mode: modes.Mode = modes.ECB() if iv is None else modes.CBC(iv)
    return Cipher(algorithms.AES(key), mode)


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CBC without padding (`data` is whole blocks)."""
    encryptor = _aes(key, iv).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CBC without padding (`data` is whole blocks)."""
    decryptor = _aes(key, iv).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def aes_ecb_encrypt(key: bytes, block: bytes) -> bytes:
    """One AES block, encrypted on its own (the IVs of secure messaging)."""
    encryptor = _aes(key, None).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (RFC 4493), all 16 bytes."""
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.cmac import CMAC

    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def cmac_chained(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-CMAC whose CBC chain starts at `iv` instead of zeros (the EV1 session's MACs,
    which chain the session's IV through every command and answer); `iv` = zeros is the
    RFC 4493 CMAC."""
    subkey_1 = _double(aes_ecb_encrypt(key, bytes(BLOCK)))
    subkey_2 = _double(subkey_1)
    blocks = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)] or [b""]
    last = blocks.pop()
    if len(last) == BLOCK:
        last = _xor(last, subkey_1)
    else:
        last = _xor(last + b"\x80" + bytes(BLOCK - 1 - len(last)), subkey_2)
    chain = iv
    for block in blocks:
        chain = aes_ecb_encrypt(key, _xor(chain, block))
    return aes_ecb_encrypt(key, _xor(chain, last))


def _double(block: bytes) -> bytes:
    """Multiplication by x in GF(2^128), as CMAC derives its subkeys."""
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value = (value & ((1 << 128) - 1)) ^ 0x87
    return value.to_bytes(BLOCK, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _tdes(key: bytes, iv: bytes | None) -> Cipher[Any]:
    """Triple DES; a DES key (8 bytes) is K1 = K2 = K3 and a 2K3DES key K1 K2 K1, which is
    what DESFire means by them (written out: the library no longer takes short keys)."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    full = key * 3 if len(key) == DES_BLOCK else key + key[:8] if len(key) == 16 else key
    mode: modes.Mode = modes.ECB() if iv is None else modes.CBC(iv)
    return Cipher(TripleDES(full), mode)


def tdes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """(3)DES-CBC without padding (`data` is whole 8-byte blocks)."""
    encryptor = _tdes(key, iv).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def tdes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """(3)DES-CBC decryption without padding."""
    decryptor = _tdes(key, iv).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def tdes_cmac_chained(key: bytes, iv: bytes, data: bytes) -> bytes:
    """CMAC (NIST SP 800-38B) with 3DES, 8-byte blocks, its chain starting at `iv`: the
    MACs of an EV1 session opened by AuthenticateISO."""

    def encrypt(block: bytes) -> bytes:
        return tdes_cbc_encrypt(key, bytes(DES_BLOCK), block)

    def double(block: bytes) -> bytes:
        value = int.from_bytes(block, "big") << 1
        if value >> 64:
            value = (value & ((1 << 64) - 1)) ^ 0x1B
        return value.to_bytes(DES_BLOCK, "big")

    subkey_1 = double(encrypt(bytes(DES_BLOCK)))
    subkey_2 = double(subkey_1)
    blocks = [data[i : i + DES_BLOCK] for i in range(0, len(data), DES_BLOCK)] or [b""]
    last = blocks.pop()
    if len(last) == DES_BLOCK:
        last = _xor(last, subkey_1)
    else:
        last = _xor(last + b"\x80" + bytes(DES_BLOCK - 1 - len(last)), subkey_2)
    chain = iv
    for block in blocks:
        chain = encrypt(_xor(chain, block))
    return encrypt(_xor(chain, last))


def crc16_a(data: bytes) -> bytes:
    """The ISO 14443-3 type A CRC (legacy DESFire enciphered data), least significant first."""
    crc = 0x6363
    for byte in data:
        byte ^= crc & 0xFF
        byte = (byte ^ (byte << 4)) & 0xFF
        crc = (crc >> 8) ^ (byte << 8) ^ (byte << 3) ^ (byte >> 4)
    return crc.to_bytes(2, "little")


def legacy_session_key(rnd_a: bytes, rnd_b: bytes, crypto: Crypto) -> bytes:
    """The session key of Authenticate (0A) or AuthenticateISO (1A), by the key's cipher."""
    if crypto == "des":
        return rnd_a[0:4] + rnd_b[0:4]
    if crypto == "2k3des":
        return rnd_a[0:4] + rnd_b[0:4] + rnd_a[4:8] + rnd_b[4:8]
    return rnd_a[0:4] + rnd_b[0:4] + rnd_a[6:10] + rnd_b[6:10] + rnd_a[12:16] + rnd_b[12:16]


def jamcrc(data: bytes) -> bytes:
    """DESFire's CRC32 (IEEE 802.3 without the final inversion), least significant first."""
    return (zlib.crc32(data) ^ 0xFFFFFFFF).to_bytes(4, "little")


def mac_t(key: bytes, data: bytes) -> bytes:
    """The truncated MAC of EV2 secure messaging: the odd-numbered bytes of the CMAC."""
    return cmac(key, data)[1::2]


def rotate_left(data: bytes) -> bytes:
    """The bytes rotated left by one (RndB' from RndB, RndA' from RndA)."""
    return data[1:] + data[:1]


def session_vector(label: bytes, rnd_a: bytes, rnd_b: bytes) -> bytes:
    """SV1 (label A5 5A) or SV2 (5A A5): label || 00 01 00 80 || RndA[15..14] ||
    (RndA[13..8] xor RndB[15..10]) || RndB[9..0] || RndA[7..0], byte 15 being the first."""
    mixed = bytes(a ^ b for a, b in zip(rnd_a[2:8], rnd_b[0:6], strict=True))
    return label + b"\x00\x01\x00\x80" + rnd_a[0:2] + mixed + rnd_b[6:16] + rnd_a[8:16]


def session_keys(key: bytes, rnd_a: bytes, rnd_b: bytes) -> tuple[bytes, bytes]:
    """(SesAuthENCKey, SesAuthMACKey) of an AuthenticateEV2First with `key`."""
    enc = cmac(key, session_vector(b"\xa5\x5a", rnd_a, rnd_b))
    mac = cmac(key, session_vector(b"\x5a\xa5", rnd_a, rnd_b))
    return enc, mac


def ev1_session_key(rnd_a: bytes, rnd_b: bytes) -> bytes:
    """The AES session key of AuthenticateAES: RndA[0..3] RndB[0..3] RndA[12..15] RndB[12..15]."""
    return rnd_a[0:4] + rnd_b[0:4] + rnd_a[12:16] + rnd_b[12:16]


def unpad(data: bytes) -> bytes:
    """Remove ISO/IEC 9797-1 padding method 2 (0x80 then zeros); ValueError if absent."""
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80") or len(data) - len(stripped) >= BLOCK:
        raise ValueError("bad padding")
    return stripped[:-1]


@dataclass
class Session:
    """An EV2 secure messaging session: keys, transaction id and command counter."""

    enc_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    ti: bytes
    counter: int = 0

    def _counter_bytes(self, counter: int) -> bytes:
        return counter.to_bytes(2, "little")

    def command_mac(self, ins: int, header: bytes) -> bytes:
        """MACt of a command: Cmd || CmdCtr || TI || header (|| data)."""
        message = bytes([ins]) + self._counter_bytes(self.counter) + self.ti + header
        return mac_t(self.mac_key, message)

    def response_mac(self, data: bytes, status: int = STATUS_OK) -> bytes:
        """MACt of an answer: RC || CmdCtr + 1 || TI || data (the counter after the command)."""
        message = bytes([status]) + self._counter_bytes(self.counter + 1) + self.ti + data
        return mac_t(self.mac_key, message)

    def response_iv(self) -> bytes:
        """The IV that enciphers an answer: E(K_enc, 5A A5 || TI || CmdCtr + 1 || zeros)."""
        block = b"\x5a\xa5" + self.ti + self._counter_bytes(self.counter + 1) + bytes(8)
        return aes_ecb_encrypt(self.enc_key, block)

    def open_response(self, answer: bytes, mode: CommMode) -> bytes:
        """The data of a ReadData answer in `mode`, checked (ValueError if it fails)."""
        if mode == "plain":
            return answer
        if len(answer) < MAC_T_BYTES:
            raise ValueError("answer shorter than its MAC")
        body, mac = answer[:-MAC_T_BYTES], answer[-MAC_T_BYTES:]
        if not secrets.compare_digest(mac, self.response_mac(body)):
            raise ValueError("the answer's MAC does not match")
        if mode == "mac":
            return body
        if not body or len(body) % BLOCK:
            raise ValueError("enciphered data is not whole blocks")
        return unpad(aes_cbc_decrypt(self.enc_key, self.response_iv(), body))


@dataclass
class Ev1Session:
    """An EV1 AES session: the session key and the IV every command and answer moves on."""

    key: bytes = field(repr=False)
    iv: bytes = bytes(BLOCK)

    def command_sent(self, command: bytes) -> None:
        """A command went out in the clear (INS and its parameters): its CMAC is the IV."""
        self.iv = cmac_chained(self.key, self.iv, command)

    def open_response(self, answer: bytes, mode: CommMode, length: int) -> bytes:
        """The data of a ReadData answer of `length` bytes in `mode`, checked (ValueError)."""
        if mode == "plain":
            return answer
        if mode == "mac":
            if len(answer) < MAC_T_BYTES:
                raise ValueError("answer shorter than its MAC")
            body, mac = answer[:-MAC_T_BYTES], answer[-MAC_T_BYTES:]
            full = cmac_chained(self.key, self.iv, body + bytes([STATUS_OK]))
            if not secrets.compare_digest(mac, full[:MAC_T_BYTES]):
                raise ValueError("the answer's MAC does not match")
            self.iv = full
            return body
        if not answer or len(answer) % BLOCK or len(answer) < length + 4:
            raise ValueError("enciphered data is not the blocks expected")
        plain = aes_cbc_decrypt(self.key, self.iv, answer)
        self.iv = answer[-BLOCK:]
        data, crc, padding = plain[:length], plain[length : length + 4], plain[length + 4 :]
        expected = jamcrc(data + bytes([STATUS_OK]))
        if not secrets.compare_digest(crc, expected) or any(padding):
            raise ValueError("the answer's CRC does not match")
        return data


@dataclass
class LegacySession:
    """A session of the legacy Authenticate (0A), DES or 2K3DES: MACs are the first 4 bytes
    of the last block of a DES-CBC over the data padded with zeros, and enciphered data
    carries a CRC16 (type A) of the data; every operation starts at a zero IV."""

    key: bytes = field(repr=False)

    def open_response(self, answer: bytes, mode: CommMode, length: int) -> bytes:
        """The data of a ReadData answer of `length` bytes in `mode`, checked (ValueError)."""
        if mode == "plain":
            return answer
        if mode == "mac":
            body, mac = answer[:-LEGACY_MAC_BYTES], answer[-LEGACY_MAC_BYTES:]
            padded = body + bytes(-len(body) % DES_BLOCK)
            expected = tdes_cbc_encrypt(self.key, bytes(DES_BLOCK), padded)[-DES_BLOCK:]
            if len(answer) < LEGACY_MAC_BYTES or not secrets.compare_digest(mac, expected[:4]):
                raise ValueError("the answer's MAC does not match")
            return body
        if not answer or len(answer) % DES_BLOCK or len(answer) < length + 2:
            raise ValueError("enciphered data is not the blocks expected")
        plain = tdes_cbc_decrypt(self.key, bytes(DES_BLOCK), answer)
        data, crc, padding = plain[:length], plain[length : length + 2], plain[length + 2 :]
        if not secrets.compare_digest(crc, crc16_a(data)) or any(padding):
            raise ValueError("the answer's CRC does not match")
        return data


@dataclass
class IsoSession:
    """An EV1 session opened by AuthenticateISO (3K3DES): as the EV1 AES session, with a
    3DES CMAC over 8-byte blocks and an 8-byte IV chained through commands and answers."""

    key: bytes = field(repr=False)
    iv: bytes = bytes(DES_BLOCK)

    def command_sent(self, command: bytes) -> None:
        """A command went out in the clear: its CMAC is the next IV."""
        self.iv = tdes_cmac_chained(self.key, self.iv, command)

    def open_response(self, answer: bytes, mode: CommMode, length: int) -> bytes:
        """The data of a ReadData answer of `length` bytes in `mode`, checked (ValueError)."""
        if mode == "plain":
            return answer
        if mode == "mac":
            body, mac = answer[:-MAC_T_BYTES], answer[-MAC_T_BYTES:]
            full = tdes_cmac_chained(self.key, self.iv, body + bytes([STATUS_OK]))
            if len(answer) < MAC_T_BYTES or not secrets.compare_digest(mac, full):
                raise ValueError("the answer's MAC does not match")
            self.iv = full
            return body
        if not answer or len(answer) % DES_BLOCK or len(answer) < length + 4:
            raise ValueError("enciphered data is not the blocks expected")
        plain = tdes_cbc_decrypt(self.key, self.iv, answer)
        self.iv = answer[-DES_BLOCK:]
        data, crc, padding = plain[:length], plain[length : length + 4], plain[length + 4 :]
        expected = jamcrc(data + bytes([STATUS_OK]))
        if not secrets.compare_digest(crc, expected) or any(padding):
            raise ValueError("the answer's CRC does not match")
        return data


# -- the protocol ------------------------------------------------------------------------


def wrap(ins: int, data: bytes = b"") -> bytes:
    """A native command in an ISO 7816 APDU: 90 INS 00 00 [Lc data] 00."""
    body = bytes([len(data)]) + data if data else b""
    return bytes([WRAP_CLA, ins, 0x00, 0x00]) + body + b"\x00"


def exchange(transmit: Transmit, ins: int, data: bytes = b"") -> tuple[bytes, int]:
    """Send a wrapped command; (answer data, DESFire status). A card that does not answer
    as a DESFire card (no 91 xx status word) is refused as not DESFire."""
    answer, sw1, sw2 = transmit(wrap(ins, data))
    if sw1 != SW1_DESFIRE:
        raise DesfireRefused(NOT_DESFIRE, f"not a DESFire answer: {sw1:02X}{sw2:02X}")
    return answer, sw2


def select_application(transmit: Transmit, app_id: int) -> None:
    """Select the application `app_id` (24 bits)."""
    _, status = exchange(transmit, SELECT_APPLICATION, app_id.to_bytes(3, "little"))
    if status == STATUS_APPLICATION_NOT_FOUND:
        raise DesfireRefused(NO_APPLICATION, f"no application {app_id:06X} on the card")
    if status != STATUS_OK:
        raise DesfireRefused(READ_FAILED, f"select application: status {status:02X}")


def authenticate_ev2_first(
    transmit: Transmit, key_number: int, key: bytes, rnd_a: bytes
) -> Session:
    """AuthenticateEV2First with `key`; the session, or DesfireRefused(AUTH_FAILED) when
    the card refuses the key or does not prove that it knows it."""
    answer, status = exchange(transmit, AUTHENTICATE_EV2_FIRST, bytes([key_number, 0x00]))
    _auth_status(status, STATUS_MORE, answer, BLOCK)
    rnd_b = aes_cbc_decrypt(key, bytes(BLOCK), answer)
    proof = aes_cbc_encrypt(key, bytes(BLOCK), rnd_a + rotate_left(rnd_b))
    answer, status = exchange(transmit, ADDITIONAL_FRAME, proof)
    _auth_status(status, STATUS_OK, answer, 2 * BLOCK)
    plain = aes_cbc_decrypt(key, bytes(BLOCK), answer)
    ti, rnd_a_rotated = plain[0:4], plain[4:20]
    if not secrets.compare_digest(rnd_a_rotated, rotate_left(rnd_a)):
        raise DesfireRefused(AUTH_FAILED, "the card did not prove the key")
    enc_key, mac_key = session_keys(key, rnd_a, rnd_b)
    return Session(enc_key, mac_key, ti)


def _auth_status(status: int, expected: int, answer: bytes, length: int) -> None:
    if status in (STATUS_AUTHENTICATION_ERROR, STATUS_NO_SUCH_KEY, STATUS_PERMISSION_DENIED):
        raise DesfireRefused(AUTH_FAILED, f"authentication refused: status {status:02X}")
    if status != expected or len(answer) != length:
        raise DesfireRefused(AUTH_FAILED, f"authentication: status {status:02X}")


def authenticate_aes(transmit: Transmit, key_number: int, key: bytes, rnd_a: bytes) -> Ev1Session:
    """AuthenticateAES (EV1) with `key`: the session, or DesfireRefused(AUTH_FAILED). Every
    step is CBC whose IV is the last block sent or received, from zeros at the start."""
    challenge, status = exchange(transmit, AUTHENTICATE_AES, bytes([key_number]))
    _auth_status(status, STATUS_MORE, challenge, BLOCK)
    rnd_b = aes_cbc_decrypt(key, bytes(BLOCK), challenge)
    proof = aes_cbc_encrypt(key, challenge[-BLOCK:], rnd_a + rotate_left(rnd_b))
    answer, status = exchange(transmit, ADDITIONAL_FRAME, proof)
    _auth_status(status, STATUS_OK, answer, BLOCK)
    rnd_a_rotated = aes_cbc_decrypt(key, proof[-BLOCK:], answer)
    if not secrets.compare_digest(rnd_a_rotated, rotate_left(rnd_a)):
        raise DesfireRefused(AUTH_FAILED, "the card did not prove the key")
    return Ev1Session(ev1_session_key(rnd_a, rnd_b))


def authenticate_des(
    transmit: Transmit,
    key_number: int,
    key: bytes,
    crypto: Crypto,
    rnd_a: bytes,
    iso: bool | None = None,
) -> LegacySession | IsoSession:
    """Authenticate with a DES-family key: the legacy Authenticate (0A) for "des" and
    "2k3des", AuthenticateISO (1A) for "3k3des" (or when `iso`); the session, or
    DesfireRefused(AUTH_FAILED). RndA and RndB are 16 bytes for 3K3DES, 8 otherwise.

    0A sends in the old "decipher to send" way: the reader's token is deciphered, block by
    block, each block xored with the previous result first, from a zero IV every time.
    1A is plain CBC whose IV is the last block sent or received, as AuthenticateAES."""
    legacy = crypto != "3k3des" if iso is None else not iso
    size = len(rnd_a)
    command = AUTHENTICATE_LEGACY if legacy else AUTHENTICATE_ISO
    challenge, status = exchange(transmit, command, bytes([key_number]))
    _auth_status(status, STATUS_MORE, challenge, size)
    rnd_b = tdes_cbc_decrypt(key, bytes(DES_BLOCK), challenge)
    token = rnd_a + rotate_left(rnd_b)
    if legacy:
        proof, chain = b"", bytes(DES_BLOCK)
        for i in range(0, len(token), DES_BLOCK):
            chain = _tdes(key, None).decryptor().update(_xor(token[i : i + DES_BLOCK], chain))
            proof += chain
        iv = bytes(DES_BLOCK)
    else:
        proof = tdes_cbc_encrypt(key, challenge[-DES_BLOCK:], token)
        iv = proof[-DES_BLOCK:]
    answer, status = exchange(transmit, ADDITIONAL_FRAME, proof)
    _auth_status(status, STATUS_OK, answer, size)
    if not secrets.compare_digest(tdes_cbc_decrypt(key, iv, answer), rotate_left(rnd_a)):
        raise DesfireRefused(AUTH_FAILED, "the card did not prove the key")
    session_key = legacy_session_key(rnd_a, rnd_b, crypto)
    return LegacySession(session_key) if legacy else IsoSession(session_key)


def read_data_header(file_number: int, offset: int, length: int) -> bytes:
    """ReadData's header: FileNo || Offset (3 bytes) || Length (3 bytes), least first."""
    return bytes([file_number]) + offset.to_bytes(3, "little") + length.to_bytes(3, "little")


def read_data(
    transmit: Transmit,
    session: Session,
    file_number: int,
    offset: int,
    length: int,
    mode: CommMode,
) -> bytes:
    """`length` bytes from `offset` of the file, in the file's communication mode."""
    header = read_data_header(file_number, offset, length)
    command = header if mode == "plain" else header + session.command_mac(READ_DATA, header)
    answer, status = exchange(transmit, READ_DATA, command)
    if status != STATUS_OK:
        raise DesfireRefused(READ_FAILED, f"read data: status {status:02X}")
    try:
        data = session.open_response(answer, mode)
    except ValueError as exc:
        raise DesfireRefused(READ_FAILED, f"read data: {exc}") from exc
    finally:
        session.counter += 1
    if len(data) != length:
        raise DesfireRefused(READ_FAILED, f"read data: {len(data)} bytes, not {length}")
    return data


def read_data_ev1(
    transmit: Transmit,
    session: Ev1Session | IsoSession | LegacySession,
    file_number: int,
    offset: int,
    length: int,
    mode: CommMode,
) -> bytes:
    """`length` bytes from `offset` of the file in an EV1 AES session, in the file's mode."""
    header = read_data_header(file_number, offset, length)
    if not isinstance(session, LegacySession):  # the legacy session chains nothing
        session.command_sent(bytes([READ_DATA]) + header)
    answer, status = exchange(transmit, READ_DATA, header)
    if status != STATUS_OK:
        raise DesfireRefused(READ_FAILED, f"read data: status {status:02X}")
    try:
        data = session.open_response(answer, mode, length)
    except ValueError as exc:
        raise DesfireRefused(READ_FAILED, f"read data: {exc}") from exc
    if len(data) != length:
        raise DesfireRefused(READ_FAILED, f"read data: {len(data)} bytes, not {length}")
    return data


# -- what to read, and the card number it gives ---------------------------------------------


@dataclass(frozen=True)
class DesfireCard:
    """Where the credential lives on the card and how to open it (a reader's settings)."""

    app_id: int
    key_number: int
    key: bytes = field(repr=False)  # a secret: kept out of repr, logs and status
    file_number: int = 1
    offset: int = 0
    length: int = 8
    comm_mode: CommMode = "full"
    value_format: ValueFormat = "binary"
    auth: AuthScheme = "ev2"
    crypto: Crypto = "aes"


def card_number(data: bytes, value_format: ValueFormat) -> str:
    """The canonical card number (uppercase hex) for the bytes read.

    binary: the bytes are the number, big-endian: their hex, as a MIFARE block is.
    ascii: the bytes are its decimal digits (NUL or space padding after them allowed): the
    number in hex, at least 4 bytes, as the number printed on the card (10DN) enrols it.
    """
    if value_format == "binary":
        return data.hex().upper()
    text = data.rstrip(b"\x00 ")
    if not text or not text.isdigit():
        raise DesfireRefused(READ_FAILED, "the file does not hold decimal digits")
    number = int(text)
    size = max(ASCII_MIN_BYTES, (number.bit_length() + 7) // 8)
    return number.to_bytes(size, "big").hex().upper()


def read_card_number(
    transmit: Transmit,
    card: DesfireCard,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """Select, authenticate, read and convert: the card number, or DesfireRefused."""
    select_application(transmit, card.app_id)
    where = (card.file_number, card.offset, card.length, card.comm_mode)
    if card.crypto != "aes":
        size = 2 * DES_BLOCK if card.crypto == "3k3des" else DES_BLOCK
        session = authenticate_des(transmit, card.key_number, card.key, card.crypto, random(size))
        data = read_data_ev1(transmit, session, *where)
    elif card.auth == "ev1":
        ev1 = authenticate_aes(transmit, card.key_number, card.key, random(BLOCK))
        data = read_data_ev1(transmit, ev1, *where)
    else:
        ev2 = authenticate_ev2_first(transmit, card.key_number, card.key, random(BLOCK))
        data = read_data(transmit, ev2, *where)
    return card_number(data, card.value_format)
