"""A MIFARE Plus card in Security Level 3, in memory: the card side of `gateway.hw.mifare_plus`.

For the simulated PC/SC backend: First Authenticate (70h, 72h) with the sector's AES key
and Read 31h / 33h of one block under the session, MACs checked and made; the errors are
one status byte as on a real card (06h: the key or access refused, 08h: a bad MAC, 0Bh: a
command out of turn). It reuses the reader side's cryptography; the virtual card of the
pcscd tests is written separately.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.hw.desfire import BLOCK, aes_cbc_decrypt, aes_cbc_encrypt, rotate_left
from gateway.hw.mifare_plus import (
    AUTHENTICATE_PART_2,
    FIRST_AUTHENTICATE,
    READ_ENCRYPTED_MACED,
    READ_PLAIN_MACED,
    STATUS_OK,
    PlusCard,
    PlusSession,
    key_number,
    session_keys,
)

STATUS_ACCESS = 0x06  # access conditions not fulfilled (a wrong key, no such key)
STATUS_MAC = 0x08  # invalid MAC
STATUS_STATE = 0x0B  # the command is not allowed now


@dataclass(frozen=True)
class PlusCardContent:
    """What an issuer wrote: AES keys by key number, 16-byte blocks by number."""

    keys: Mapping[int, bytes] = field(repr=False)
    blocks: Mapping[int, bytes] = field(repr=False)


class PlusCardSession:
    """One connection to the card: an authentication under way or done, its counters."""

    def __init__(
        self, content: PlusCardContent, random: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self._content = content
        self._random = random
        self._pending: tuple[bytes, bytes] | None = None  # (key, RndB) between 70h and 72h
        self._session: PlusSession | None = None

    def respond(self, command: bytes) -> tuple[bytes, int, int]:
        """The card's answer, split as PC/SC splits it: all but the last two bytes, and
        those two as a status word."""
        return _split(self._answer(command))

    def _answer(self, command: bytes) -> bytes:
        code = command[:1]
        if code == bytes([FIRST_AUTHENTICATE]) and len(command) == 4:
            return self._first(int.from_bytes(command[1:3], "little"))
        if code == bytes([AUTHENTICATE_PART_2]) and len(command) == 33:
            return self._second(command[1:])
        if code in (bytes([READ_ENCRYPTED_MACED]), bytes([READ_PLAIN_MACED])):
            return self._read(command)
        return bytes([STATUS_STATE])

    def _first(self, number: int) -> bytes:
        self._session, self._pending = None, None
        key = self._content.keys.get(number)
        if key is None:
            return bytes([STATUS_ACCESS])
        rnd_b = self._random(BLOCK)
        self._pending = (key, rnd_b)
        return bytes([STATUS_OK]) + aes_cbc_encrypt(key, bytes(BLOCK), rnd_b)

    def _second(self, proof: bytes) -> bytes:
        pending, self._pending = self._pending, None
        if pending is None:
            return bytes([STATUS_STATE])
        key, rnd_b = pending
        plain = aes_cbc_decrypt(key, bytes(BLOCK), proof)
        rnd_a = plain[:BLOCK]
        if plain[BLOCK:] != rotate_left(rnd_b):
            return bytes([STATUS_ACCESS])
        ti = self._random(4)
        enc_key, mac_key = session_keys(key, rnd_a, rnd_b)
        self._session = PlusSession(enc_key, mac_key, ti)
        reply = ti + rotate_left(rnd_a) + bytes(12)
        return bytes([STATUS_OK]) + aes_cbc_encrypt(key, bytes(BLOCK), reply)

    def _read(self, command: bytes) -> bytes:
        session = self._session
        if session is None or len(command) != 12:
            return bytes([STATUS_STATE])
        block, count = int.from_bytes(command[1:3], "little"), command[3]
        if command[4:] != session.command_mac(command[0], block, count):
            self._session = None
            return bytes([STATUS_MAC])
        if count != 1 or block not in self._content.blocks:
            return bytes([STATUS_ACCESS])
        data = self._content.blocks[block].ljust(BLOCK, b"\x00")
        if command[0] == READ_ENCRYPTED_MACED:
            data = aes_cbc_encrypt(session.enc_key, session.response_iv(), data)
        mac = session.response_mac(block, count, data)
        session.read_counter += 1
        return bytes([STATUS_OK]) + data + mac


def _split(reply: bytes) -> tuple[bytes, int, int]:
    if len(reply) < 2:
        return b"", 0x6F, 0x00  # what the PC/SC layer makes of a one-byte answer
    return reply[:-2], reply[-2], reply[-1]


def issued_card(card: PlusCard, number: bytes, key_choice: int = 0) -> PlusCardContent:
    """The card an issuer writes for the reader settings `card`: the block holding the
    card number `number` (big-endian bytes, as `mfp_value` says) and the sector key set
    to the reader's key choice `key_choice`: what the simulation API presents."""
    if card.value_format == "ascii":
        value = str(int.from_bytes(number, "big")).zfill(card.length).encode()
    else:
        value = number.rjust(card.length, b"\x00")
    if len(value) != card.length:
        raise ValueError(f"the card number does not fit in {card.length} bytes")
    block = (bytes(card.offset) + value).ljust(BLOCK, b"\x00")
    number_of_key = key_number(card.block, card.key_type)
    return PlusCardContent({number_of_key: card.keys[key_choice]}, {card.block: block})
