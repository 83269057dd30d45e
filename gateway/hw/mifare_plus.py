"""MIFARE Plus in Security Level 3: the credential read from a block after AES authentication.

A MIFARE Plus card in SL3 speaks ISO 14443-4 and keeps an AES key per sector (key A and
key B, at key numbers 4000h + 2 x sector, + 1 for B). The card must prove that it holds
the key, and the block is read with MACs under session keys, so a UID clone, a MIFARE
Classic copy or a replayed or altered answer is refused. The Akuvox guides' "Mifare card
encryption", Plus part: a block, and up to three SL3 keys tried in order ("as long as one
of the choices matches its SL key, the card code in the block you specified will be
output").

Native commands go through PC/SC as they are (the reader wraps them in ISO 14443-4
blocks); the card's answer starts with its status byte (90h: success) and has no ISO 7816
status word, so the last two bytes pyscard splits off are joined back (`answer`). Steps:

1. First Authenticate (70h, the key number least significant first, LenCap 00): the card
   answers 90h || E(K, RndB);
2. part 2 (72h, E(K, RndA || RndB rotated left), CBC from zeros): the card answers
   90h || E(K, TI || RndA rotated left || PICcap2 || PCDcap2); the session keys are
   Kenc = E(K, RndA[11..15] || RndB[11..15] || (RndA[4..8] xor RndB[4..8]) || 11h) and
   Kmac = E(K, RndA[7..11] || RndB[7..11] || (RndA[0..4] xor RndB[0..4]) || 22h), the
   read and write counters start at 0;
3. Read (31h "encrypted, MAC on command and response", or 33h "plain, MAC on command and
   response") of one block: the command carries MAC(Kmac, cmd || R_Ctr || TI || BNr ||
   Ext); the answer 90h || data || MAC, MAC(Kmac, 90h || R_Ctr + 1 || TI || BNr || Ext ||
   data) over the data as sent (enciphered, for 31h); enciphered data is AES-CBC under
   Kenc with IV (R_Ctr + 1 || W_Ctr) x 3 || TI. A MAC is the odd-numbered bytes of the
   AES-CMAC, as in DESFire EV2. Counters are 2 bytes, least significant first.

Pure functions over bytes, like `gateway.hw.desfire`, whose AES and CMAC they share; the
keys are secrets: kept out of repr, never logged, never in a refusal's words.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.hw.desfire import (
    AUTH_FAILED,
    BLOCK,
    MAC_T_BYTES,
    READ_FAILED,
    DesfireRefused,
    Transmit,
    ValueFormat,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_ecb_encrypt,
    card_number,
    mac_t,
    rotate_left,
)

ReadMode = Literal["encrypted", "plain"]
KeyType = Literal["A", "B"]

FIRST_AUTHENTICATE = 0x70
AUTHENTICATE_PART_2 = 0x72
READ_ENCRYPTED_MACED = 0x31  # encrypted data, MAC on command, MAC on response
READ_PLAIN_MACED = 0x33  # plain data, MAC on command, MAC on response
STATUS_OK = 0x90
SECTOR_KEY_BASE = 0x4000  # AES key A of sector 0; key B is the next number
MAX_KEY_CHOICES = 3


@dataclass(frozen=True)
class PlusCard:
    """Where the credential lives on a MIFARE Plus SL3 card and the keys to try (a reader's
    settings)."""

    block: int
    keys: tuple[bytes, ...] = field(repr=False)  # secrets: tried in order, 1 to 3 of them
    key_type: KeyType = "A"
    read_mode: ReadMode = "encrypted"
    offset: int = 0
    length: int = BLOCK
    value_format: ValueFormat = "binary"


def sector_of(block: int) -> int:
    """The sector of a block: 4 blocks a sector up to block 127, then 16 (a 4K card)."""
    return block // 4 if block < 128 else 32 + (block - 128) // 16


def key_number(block: int, key_type: KeyType) -> int:
    """The AES key number that guards `block`: 4000h + 2 x sector (+ 1 for key B)."""
    return SECTOR_KEY_BASE + 2 * sector_of(block) + (1 if key_type == "B" else 0)


def session_keys(key: bytes, rnd_a: bytes, rnd_b: bytes) -> tuple[bytes, bytes]:
    """(Kenc, Kmac) of an SL3 First Authenticate with `key`."""
    enc_mix = bytes(a ^ b for a, b in zip(rnd_a[4:9], rnd_b[4:9], strict=True))
    mac_mix = bytes(a ^ b for a, b in zip(rnd_a[0:5], rnd_b[0:5], strict=True))
    enc = aes_ecb_encrypt(key, rnd_a[11:16] + rnd_b[11:16] + enc_mix + b"\x11")
    mac = aes_ecb_encrypt(key, rnd_a[7:12] + rnd_b[7:12] + mac_mix + b"\x22")
    return enc, mac


@dataclass
class PlusSession:
    """An SL3 session: keys, transaction identifier, read and write counters."""

    enc_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    ti: bytes
    read_counter: int = 0
    write_counter: int = 0

    def _counter(self, value: int) -> bytes:
        return value.to_bytes(2, "little")

    def command_mac(self, command: int, block: int, count: int) -> bytes:
        """The MAC of a read command: cmd || R_Ctr || TI || BNr || Ext."""
        message = bytes([command]) + self._counter(self.read_counter) + self.ti
        return mac_t(self.mac_key, message + _block_address(block, count))

    def response_mac(self, block: int, count: int, data: bytes) -> bytes:
        """The MAC of a read answer: 90h || R_Ctr + 1 || TI || BNr || Ext || data."""
        message = bytes([STATUS_OK]) + self._counter(self.read_counter + 1) + self.ti
        return mac_t(self.mac_key, message + _block_address(block, count) + data)

    def response_iv(self) -> bytes:
        """The IV of enciphered read data: (R_Ctr + 1 || W_Ctr) three times, then TI."""
        counters = self._counter(self.read_counter + 1) + self._counter(self.write_counter)
        return counters * 3 + self.ti


def _block_address(block: int, count: int) -> bytes:
    return block.to_bytes(2, "little") + bytes([count])


def answer(transmit: Transmit, command: bytes) -> bytes:
    """Send a native command; the card's whole answer, status byte first. PC/SC hands the
    last two bytes apart as a status word: they are the answer's end, joined back."""
    data, sw1, sw2 = transmit(command)
    return data + bytes([sw1, sw2])


def _expect(reply: bytes, length: int, reason: str, what: str) -> bytes:
    """The answer's data after a success status, `length` bytes; a reader that appends
    its own 90 00 after the card's answer is allowed for."""
    if len(reply) == 1 + length + 2 and reply.endswith(b"\x90\x00"):
        reply = reply[:-2]
    if not reply or reply[0] != STATUS_OK:
        status = f"{reply[0]:02X}" if reply else "none"
        raise DesfireRefused(reason, f"{what}: status {status}")
    if len(reply) != 1 + length:
        raise DesfireRefused(reason, f"{what}: {len(reply) - 1} bytes, not {length}")
    return reply[1:]


def first_authenticate(transmit: Transmit, number: int, key: bytes, rnd_a: bytes) -> PlusSession:
    """First Authenticate with `key` at key number `number`: the session, or
    DesfireRefused(AUTH_FAILED) when the card refuses the key or cannot prove it."""
    command = bytes([FIRST_AUTHENTICATE]) + number.to_bytes(2, "little") + b"\x00"
    challenge = _expect(answer(transmit, command), BLOCK, AUTH_FAILED, "first authenticate")
    rnd_b = aes_cbc_decrypt(key, bytes(BLOCK), challenge)
    proof = aes_cbc_encrypt(key, bytes(BLOCK), rnd_a + rotate_left(rnd_b))
    reply = answer(transmit, bytes([AUTHENTICATE_PART_2]) + proof)
    plain = aes_cbc_decrypt(key, bytes(BLOCK), _expect(reply, 2 * BLOCK, AUTH_FAILED, "part 2"))
    if not secrets.compare_digest(plain[4:20], rotate_left(rnd_a)):
        raise DesfireRefused(AUTH_FAILED, "the card did not prove the key")
    enc_key, mac_key = session_keys(key, rnd_a, rnd_b)
    return PlusSession(enc_key, mac_key, plain[0:4])


def read_block(transmit: Transmit, session: PlusSession, block: int, mode: ReadMode) -> bytes:
    """The 16 bytes of `block`, MAC on command and answer, enciphered in "encrypted" mode."""
    command = READ_ENCRYPTED_MACED if mode == "encrypted" else READ_PLAIN_MACED
    head = bytes([command]) + _block_address(block, 1)
    reply = answer(transmit, head + session.command_mac(command, block, 1))
    body = _expect(reply, BLOCK + MAC_T_BYTES, READ_FAILED, "read")
    data, mac = body[:BLOCK], body[BLOCK:]
    try:
        if not secrets.compare_digest(mac, session.response_mac(block, 1, data)):
            raise DesfireRefused(READ_FAILED, "read: the answer's MAC does not match")
        if mode == "encrypted":
            data = aes_cbc_decrypt(session.enc_key, session.response_iv(), data)
    finally:
        session.read_counter += 1
    return data


def authenticate_any(
    transmit: Transmit, number: int, keys: Sequence[bytes], random: Callable[[int], bytes]
) -> PlusSession:
    """The session of the first key the card accepts, tried in order; AUTH_FAILED if none."""
    refusals: list[str] = []
    for choice, key in enumerate(keys, start=1):
        try:
            return first_authenticate(transmit, number, key, random(BLOCK))
        except DesfireRefused as refused:
            refusals.append(f"key {choice}: {refused}")
    raise DesfireRefused(AUTH_FAILED, "; ".join(refusals) or "no key configured")


def read_card_number(
    transmit: Transmit,
    card: PlusCard,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> str:
    """Authenticate (each key in turn), read the block and convert: the card number."""
    session = authenticate_any(transmit, key_number(card.block, card.key_type), card.keys, random)
    data = read_block(transmit, session, card.block, card.read_mode)
    return card_number(data[card.offset : card.offset + card.length], card.value_format)
