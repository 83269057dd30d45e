"""A MIFARE DESFire card in memory, answering the wrapped native commands a reader sends.

The card side of `gateway.hw.desfire`, for the simulated PC/SC backend: SelectApplication,
AuthenticateEV2First or AuthenticateAES (EV1) with the application's AES key, ReadData in
the file's communication mode under the session that authentication opened, each answer
with the status a real card gives when something is wrong (no such application 91 A0, a
wrong key 91 AE, a bad MAC 91 1E, ...). It reuses the reader side's cryptography, which
the published worked examples pin down; the virtual card of the pcscd tests is written
separately.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.hw.desfire import (
    ADDITIONAL_FRAME,
    AUTHENTICATE_AES,
    AUTHENTICATE_EV2_FIRST,
    AUTHENTICATE_ISO,
    AUTHENTICATE_LEGACY,
    BLOCK,
    DES_BLOCK,
    MAC_T_BYTES,
    READ_DATA,
    SELECT_APPLICATION,
    STATUS_APPLICATION_NOT_FOUND,
    STATUS_AUTHENTICATION_ERROR,
    STATUS_MORE,
    STATUS_NO_SUCH_KEY,
    STATUS_OK,
    SW1_DESFIRE,
    WRAP_CLA,
    CommMode,
    Crypto,
    DesfireCard,
    Ev1Session,
    IsoSession,
    LegacySession,
    Session,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    cmac_chained,
    crc16_a,
    ev1_session_key,
    jamcrc,
    legacy_session_key,
    rotate_left,
    session_keys,
    tdes_cbc_decrypt,
    tdes_cbc_encrypt,
    tdes_cmac_chained,
)

STATUS_INTEGRITY_ERROR = 0x1E
STATUS_ILLEGAL_COMMAND = 0x1C
STATUS_LENGTH_ERROR = 0x7E
STATUS_BOUNDARY_ERROR = 0xBE
STATUS_FILE_NOT_FOUND = 0xF0


@dataclass(frozen=True)
class DesfireFile:
    """A standard data file and the communication mode it was created with."""

    data: bytes = field(repr=False)
    comm_mode: CommMode = "full"


@dataclass(frozen=True)
class DesfireApplication:
    """An application: its id, the one AES key that reads its files, and the files."""

    app_id: int
    key: bytes = field(repr=False)
    key_number: int = 0
    files: Mapping[int, DesfireFile] = field(default_factory=dict)
    crypto: Crypto = "aes"  # the key's cipher: a DES-family key answers 0A or 1A only


class DesfireCardSession:
    """One connection to the card: the selected application and the authentication."""

    def __init__(
        self,
        applications: Sequence[DesfireApplication],
        random: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._applications = {app.app_id: app for app in applications}
        self._random = random
        self._selected: DesfireApplication | None = None
        self._rnd_b: bytes | None = None  # between the two parts of the authentication
        self._challenge: bytes | None = None  # AuthenticateAES: E(K, RndB), the next IV
        self._session: Session | None = None
        self._ev1: Ev1Session | None = None
        self._des: LegacySession | IsoSession | None = None
        self._des_pending: tuple[bytes, bytes] | None = None  # (RndB, E(K, RndB)) of 0A/1A

    def respond(self, apdu: bytes) -> tuple[bytes, int, int]:
        """The answer to one wrapped command: (data, 0x91, status)."""
        if len(apdu) < 5 or apdu[0] != WRAP_CLA or apdu[2:4] != b"\x00\x00":
            return _status(STATUS_ILLEGAL_COMMAND)
        ins, data = apdu[1], apdu[5:-1] if len(apdu) > 5 else b""
        if len(apdu) > 5 and apdu[4] != len(data):
            return _status(STATUS_LENGTH_ERROR)
        if ins == SELECT_APPLICATION:
            return self._select(data)
        if ins in (AUTHENTICATE_LEGACY, AUTHENTICATE_ISO):
            return self._authenticate_des(data, iso=ins == AUTHENTICATE_ISO)
        if ins == ADDITIONAL_FRAME and self._des_pending is not None:
            return self._prove_des(data)
        if ins == READ_DATA and self._des is not None:
            return self._read_ev1(data, self._des)
        if ins in (AUTHENTICATE_EV2_FIRST, AUTHENTICATE_AES):
            return self._authenticate(data, ev1=ins == AUTHENTICATE_AES)
        if ins == ADDITIONAL_FRAME and self._rnd_b is not None:
            return self._prove(data) if self._challenge is None else self._prove_ev1(data)
        if ins == READ_DATA and self._ev1 is not None:
            return self._read_ev1(data, self._ev1)
        if ins == READ_DATA:
            return self._read(data)
        return _status(STATUS_ILLEGAL_COMMAND)

    def _forget_authentication(self) -> None:
        self._rnd_b, self._challenge, self._session, self._ev1 = None, None, None, None
        self._des, self._des_pending = None, None

    def _select(self, data: bytes) -> tuple[bytes, int, int]:
        self._selected = None
        self._forget_authentication()
        if len(data) != 3:
            return _status(STATUS_LENGTH_ERROR)
        self._selected = self._applications.get(int.from_bytes(data, "little"))
        return _status(STATUS_OK if self._selected else STATUS_APPLICATION_NOT_FOUND)

    def _authenticate(self, data: bytes, ev1: bool) -> tuple[bytes, int, int]:
        self._forget_authentication()
        app = self._selected
        if app is None or len(data) != (1 if ev1 else 2):
            return _status(STATUS_AUTHENTICATION_ERROR)
        if data[0] != app.key_number:
            return _status(STATUS_NO_SUCH_KEY)
        if app.crypto != "aes":
            return _status(STATUS_AUTHENTICATION_ERROR)  # an AES authentication of a DES key
        self._rnd_b = self._random(BLOCK)
        challenge = aes_cbc_encrypt(app.key, bytes(BLOCK), self._rnd_b)
        self._challenge = challenge if ev1 else None
        return challenge, SW1_DESFIRE, STATUS_MORE

    def _prove(self, data: bytes) -> tuple[bytes, int, int]:
        app, rnd_b, self._rnd_b = self._selected, self._rnd_b, None
        if app is None or rnd_b is None or len(data) != 2 * BLOCK:
            return _status(STATUS_AUTHENTICATION_ERROR)
        plain = aes_cbc_decrypt(app.key, bytes(BLOCK), data)
        rnd_a = plain[:BLOCK]
        if plain[BLOCK:] != rotate_left(rnd_b):
            return _status(STATUS_AUTHENTICATION_ERROR)  # the reader has another key
        ti = self._random(4)
        answer = ti + rotate_left(rnd_a) + bytes(12)  # PDcap2 and PCDcap2: none
        enc_key, mac_key = session_keys(app.key, rnd_a, rnd_b)
        self._session = Session(enc_key, mac_key, ti)
        return aes_cbc_encrypt(app.key, bytes(BLOCK), answer), SW1_DESFIRE, STATUS_OK

    def _prove_ev1(self, data: bytes) -> tuple[bytes, int, int]:
        app, rnd_b, challenge = self._selected, self._rnd_b, self._challenge
        self._forget_authentication()
        if app is None or rnd_b is None or challenge is None or len(data) != 2 * BLOCK:
            return _status(STATUS_AUTHENTICATION_ERROR)
        plain = aes_cbc_decrypt(app.key, challenge, data)
        rnd_a = plain[:BLOCK]
        if plain[BLOCK:] != rotate_left(rnd_b):
            return _status(STATUS_AUTHENTICATION_ERROR)
        self._ev1 = Ev1Session(ev1_session_key(rnd_a, rnd_b))
        answer = aes_cbc_encrypt(app.key, data[-BLOCK:], rotate_left(rnd_a))
        return answer, SW1_DESFIRE, STATUS_OK

    def _authenticate_des(self, data: bytes, iso: bool) -> tuple[bytes, int, int]:
        """Authenticate (0A, DES and 2K3DES) or AuthenticateISO (1A, 3K3DES): E(K, RndB)."""
        self._forget_authentication()
        app = self._selected
        if app is None or len(data) != 1 or app.crypto == "aes" or iso != (app.crypto == "3k3des"):
            return _status(STATUS_AUTHENTICATION_ERROR)
        if data[0] != app.key_number:
            return _status(STATUS_NO_SUCH_KEY)
        rnd_b = self._random(2 * DES_BLOCK if iso else DES_BLOCK)
        challenge = tdes_cbc_encrypt(app.key, bytes(DES_BLOCK), rnd_b)
        self._des_pending = (rnd_b, challenge)
        return challenge, SW1_DESFIRE, STATUS_MORE

    def _prove_des(self, data: bytes) -> tuple[bytes, int, int]:
        app, pending = self._selected, self._des_pending
        self._forget_authentication()
        if app is None or pending is None:
            return _status(STATUS_AUTHENTICATION_ERROR)
        (rnd_b, challenge), iso = pending, app.crypto == "3k3des"
        if len(data) != 2 * len(rnd_b):
            return _status(STATUS_LENGTH_ERROR)
        if iso:
            plain, answer_iv = tdes_cbc_decrypt(app.key, challenge[-DES_BLOCK:], data), data[-8:]
        else:  # the reader "deciphered to send": undo it by enciphering, block by block
            blocks = [data[i : i + DES_BLOCK] for i in range(0, len(data), DES_BLOCK)]
            previous = [bytes(DES_BLOCK), *blocks[:-1]]
            plain = b"".join(
                bytes(x ^ y for x, y in zip(tdes_cbc_encrypt(app.key, bytes(8), b), p, strict=True))
                for b, p in zip(blocks, previous, strict=True)
            )
            answer_iv = bytes(DES_BLOCK)
        rnd_a = plain[: len(rnd_b)]
        if plain[len(rnd_b) :] != rotate_left(rnd_b):
            return _status(STATUS_AUTHENTICATION_ERROR)
        key = legacy_session_key(rnd_a, rnd_b, app.crypto)
        self._des = IsoSession(key) if iso else LegacySession(key)
        answer = tdes_cbc_encrypt(app.key, answer_iv, rotate_left(rnd_a))
        return answer, SW1_DESFIRE, STATUS_OK

    def _read_ev1(
        self, data: bytes, session: Ev1Session | IsoSession | LegacySession
    ) -> tuple[bytes, int, int]:
        """ReadData in an EV1 session (AES, or 3K3DES by 1A): the command's CMAC moves the
        IV, the answer is sealed under it; or in a legacy (0A) session, without a chain."""
        app = self._selected
        file = app.files.get(data[0]) if app is not None and data else None
        if file is None:
            return _status(STATUS_FILE_NOT_FOUND)
        if len(data) != 7:
            return _status(STATUS_LENGTH_ERROR)
        if not isinstance(session, LegacySession):
            session.command_sent(bytes([READ_DATA]) + data)
        offset, length = int.from_bytes(data[1:4], "little"), int.from_bytes(data[4:7], "little")
        if length == 0 or offset + length > len(file.data):
            return _status(STATUS_BOUNDARY_ERROR)
        content = file.data[offset : offset + length]
        if not isinstance(session, Ev1Session):
            return _seal_des(session, content, file.comm_mode), SW1_DESFIRE, STATUS_OK
        if file.comm_mode == "mac":
            session.iv = cmac_chained(session.key, session.iv, content + bytes([STATUS_OK]))
            return content + session.iv[:MAC_T_BYTES], SW1_DESFIRE, STATUS_OK
        if file.comm_mode == "full":
            plain = content + jamcrc(content + bytes([STATUS_OK]))
            plain += bytes(-len(plain) % BLOCK)
            content = aes_cbc_encrypt(session.key, session.iv, plain)
            session.iv = content[-BLOCK:]
        return content, SW1_DESFIRE, STATUS_OK

    def _read(self, data: bytes) -> tuple[bytes, int, int]:
        app, session = self._selected, self._session
        if app is None or session is None:
            return _status(STATUS_AUTHENTICATION_ERROR)
        header = data[:7]
        file = app.files.get(header[0]) if header else None
        if file is None:
            return _status(STATUS_FILE_NOT_FOUND)
        macs = file.comm_mode != "plain"
        if len(data) != 7 + (MAC_T_BYTES if macs else 0):
            return _status(STATUS_LENGTH_ERROR)
        if macs and data[7:] != session.command_mac(READ_DATA, header):
            self._session = None  # a real card ends the authentication on a bad MAC
            return _status(STATUS_INTEGRITY_ERROR)
        offset, length = (
            int.from_bytes(header[1:4], "little"),
            int.from_bytes(header[4:7], "little"),
        )
        if length == 0 or offset + length > len(file.data):
            return _status(STATUS_BOUNDARY_ERROR)
        content = file.data[offset : offset + length]
        answer = self._seal(session, content, file.comm_mode)
        session.counter += 1
        return answer, SW1_DESFIRE, STATUS_OK

    def _seal(self, session: Session, content: bytes, mode: CommMode) -> bytes:
        """The answer's body in `mode`: plain, data + MAC, or enciphered data + MAC."""
        if mode == "plain":
            return content
        if mode == "full":
            padded = content + b"\x80" + bytes(-(len(content) + 1) % BLOCK)
            content = aes_cbc_encrypt(session.enc_key, session.response_iv(), padded)
        return content + session.response_mac(content)


def _seal_des(session: IsoSession | LegacySession, content: bytes, mode: CommMode) -> bytes:
    """A ReadData answer's body in a DES-family session."""
    if mode == "plain":
        return content
    if isinstance(session, LegacySession):
        if mode == "mac":
            padded = content + bytes(-len(content) % DES_BLOCK)
            return content + tdes_cbc_encrypt(session.key, bytes(8), padded)[-DES_BLOCK:][:4]
        plain = content + crc16_a(content)
        return tdes_cbc_encrypt(session.key, bytes(8), plain + bytes(-len(plain) % DES_BLOCK))
    if mode == "mac":
        session.iv = tdes_cmac_chained(session.key, session.iv, content + bytes([STATUS_OK]))
        return content + session.iv
    plain = content + jamcrc(content + bytes([STATUS_OK]))
    sealed = tdes_cbc_encrypt(session.key, session.iv, plain + bytes(-len(plain) % DES_BLOCK))
    session.iv = sealed[-DES_BLOCK:]
    return sealed


def _status(status: int) -> tuple[bytes, int, int]:
    return b"", SW1_DESFIRE, status


def issued_application(card: DesfireCard, number: bytes) -> DesfireApplication:
    """The application an issuer writes for the reader settings `card`, holding the card
    number `number` (big-endian bytes) as `desfire_value` says: what the simulation API
    presents when told a "card" at a DESFire reader."""
    if card.value_format == "ascii":
        value = str(int.from_bytes(number, "big")).zfill(card.length).encode()
    else:
        value = number.rjust(card.length, b"\x00")
    if len(value) != card.length:
        raise ValueError(f"the card number does not fit in {card.length} bytes")
    data = bytes(card.offset) + value
    return DesfireApplication(
        card.app_id,
        card.key,
        card.key_number,
        {card.file_number: DesfireFile(data, card.comm_mode)},
        card.crypto,
    )
