"""MIFARE Plus SL3: the wire format and the session cryptography, then the whole read against
the simulated card and through a PcscReader: what opens, what is refused and why.

No worked example of MIFARE Plus SL3 is published the way AN12196 gives one for DESFire
EV2, so the expected bytes here are computed inside the test, step by step, with
`cryptography` directly, from the data sheet's formulas (as Proxmark3's `hf mfp` implements
them); the virtual card of the pcscd tests is a third, separate implementation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from gateway.hw.desfire import AUTH_FAILED, READ_FAILED, DesfireRefused
from gateway.hw.mifare_plus import (
    PlusCard,
    PlusSession,
    first_authenticate,
    key_number,
    read_block,
    read_card_number,
    session_keys,
)
from gateway.hw.mifare_plus_sim import PlusCardContent, PlusCardSession, issued_card
from gateway.hw.pcsc import plus_card
from tests.pcsc.test_reader_sim import SETTINGS, UID, Rig

h = bytes.fromhex
KEY = h("00112233445566778899AABBCCDDEEFF")
OTHER_KEY = h("FFEEDDCCBBAA99887766554433221100")
THIRD_KEY = h("0F0E0D0C0B0A09080706050403020100")
RND_A = h("13C5DB8A5930439FC3DEF9A4C675360F")
RND_B = h("B9E2FC789B64BF237CCCAA20EC7E6E48")
TI = h("9D00C4DF")
NUMBER = h("000000001234ABCD")
CARD = PlusCard(block=9, keys=(KEY,), length=8, offset=8)
PLUS_SETTINGS = replace(SETTINGS, mfp_block=9, mfp_keys=(KEY.hex(),), mfp_length=8, mfp_offset=8)


def _ecb(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool = True) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    operation = cipher.encryptor() if encrypt else cipher.decryptor()
    return operation.update(data) + operation.finalize()


def _mac8(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()[1::2]


class ScriptedCard:
    """A card that expects exactly these commands, in order; answers split as PC/SC does."""

    def __init__(self, *steps: tuple[bytes, bytes]) -> None:
        self.steps = list(steps)

    def __call__(self, command: bytes) -> tuple[bytes, int, int]:
        expected, reply = self.steps.pop(0)
        assert command.hex().upper() == expected.hex().upper()
        return reply[:-2], reply[-2], reply[-1]


def test_the_key_number_is_the_blocks_sector_key() -> None:
    assert key_number(9, "A") == 0x4004  # block 9: sector 2, key A
    assert key_number(9, "B") == 0x4005
    assert key_number(128, "A") == 0x4040  # a 4K card: sector 32 starts at block 128
    assert key_number(255, "B") == 0x404F  # sector 39


def test_the_session_keys_mix_rnd_a_and_rnd_b_as_the_data_sheet_says() -> None:
    enc_mix = bytes(a ^ b for a, b in zip(RND_A[4:9], RND_B[4:9], strict=True))
    mac_mix = bytes(a ^ b for a, b in zip(RND_A[0:5], RND_B[0:5], strict=True))
    enc_input = RND_A[11:16] + RND_B[11:16] + enc_mix
    mac_input = RND_A[7:12] + RND_B[7:12] + mac_mix
    assert session_keys(KEY, RND_A, RND_B) == (
        _ecb(KEY, enc_input + b"\x11"),
        _ecb(KEY, mac_input + b"\x22"),
    )


def test_first_authenticate_sends_the_key_number_and_checks_the_cards_proof() -> None:
    challenge = _cbc(KEY, bytes(16), RND_B)
    proof = _cbc(KEY, bytes(16), RND_A + RND_B[1:] + RND_B[:1])
    card_reply = _cbc(KEY, bytes(16), TI + RND_A[1:] + RND_A[:1] + bytes(12))
    card = ScriptedCard(
        (h("700440") + b"\x00", b"\x90" + challenge),  # key 4004h, least significant first
        (b"\x72" + proof, b"\x90" + card_reply),
    )
    session = first_authenticate(card, 0x4004, KEY, RND_A)
    assert not card.steps
    assert (session.ti, session.read_counter, session.write_counter) == (TI, 0, 0)
    assert (session.enc_key, session.mac_key) == session_keys(KEY, RND_A, RND_B)
    assert KEY.hex() not in repr(session).lower()


def test_a_card_that_cannot_prove_the_key_is_refused() -> None:
    challenge = _cbc(KEY, bytes(16), RND_B)
    proof = _cbc(KEY, bytes(16), RND_A + RND_B[1:] + RND_B[:1])
    forged = _cbc(KEY, bytes(16), TI + RND_A + bytes(12))  # RndA not rotated: no proof
    card = ScriptedCard((h("70044000"), b"\x90" + challenge), (b"\x72" + proof, b"\x90" + forged))
    with pytest.raises(DesfireRefused) as refused:
        first_authenticate(card, 0x4004, KEY, RND_A)
    assert refused.value.reason == AUTH_FAILED


@pytest.mark.parametrize("mode", ["encrypted", "plain"])
def test_a_read_is_maced_both_ways_and_deciphered(mode: str) -> None:
    enc_key, mac_key = session_keys(KEY, RND_A, RND_B)
    session = PlusSession(enc_key, mac_key, TI, read_counter=5, write_counter=2)
    block = (bytes(8) + NUMBER).ljust(16, b"\0")
    code = 0x31 if mode == "encrypted" else 0x33
    address = h("090001")  # block 9 (2 bytes, least significant first), one block
    command_mac = _mac8(mac_key, bytes([code]) + h("0500") + TI + address)
    sent = block
    if mode == "encrypted":
        iv = h("0600 0200 0600 0200 0600 0200") + TI  # counters after the read
        sent = _cbc(enc_key, iv, block)
    answer_mac = _mac8(mac_key, b"\x90" + h("0600") + TI + address + sent)
    card = ScriptedCard((bytes([code]) + address + command_mac, b"\x90" + sent + answer_mac))
    assert read_block(card, session, 9, mode) == block  # type: ignore[arg-type]
    assert session.read_counter == 6


@pytest.mark.parametrize("mode", ["encrypted", "plain"])
def test_an_altered_or_replayed_answer_is_refused(mode: str) -> None:
    reader = replace(CARD, read_mode=mode)
    recorded: list[bytes] = []

    def read_with(forge: object) -> DesfireRefused | str:
        card = PlusCardSession(issued_card(reader, NUMBER))

        def forging(command: bytes) -> tuple[bytes, int, int]:
            data, sw1, sw2 = card.respond(command)
            if command[0] in (0x31, 0x33):
                recorded.append(data + bytes([sw1, sw2]))
                whole = forge(data + bytes([sw1, sw2]))  # type: ignore[operator]
                return whole[:-2], whole[-2], whole[-1]
            return data, sw1, sw2

        try:
            return read_card_number(forging, reader)
        except DesfireRefused as refused:
            return refused

    assert read_with(lambda whole: whole) == NUMBER.hex().upper()  # overheard
    altered = read_with(lambda whole: whole[:5] + bytes([whole[5] ^ 1]) + whole[6:])
    replayed = read_with(lambda whole: recorded[0])  # another session's genuine answer
    assert isinstance(altered, DesfireRefused) and isinstance(replayed, DesfireRefused)
    assert (altered.reason, replayed.reason) == (READ_FAILED, READ_FAILED)


def _card(content: PlusCardContent) -> PlusCardSession:
    return PlusCardSession(content)


def test_the_right_card_gives_the_number_in_its_block() -> None:
    card = _card(issued_card(CARD, NUMBER))
    assert read_card_number(card.respond, CARD) == NUMBER.hex().upper()


def test_the_three_choices_are_tried_in_order_and_the_matching_one_reads() -> None:
    reader = replace(CARD, keys=(OTHER_KEY, THIRD_KEY, KEY))
    issued = issued_card(reader, NUMBER, key_choice=2)
    sent: list[bytes] = []
    card = _card(issued)

    def recording(command: bytes) -> tuple[bytes, int, int]:
        sent.append(command[:1])
        return card.respond(command)

    assert read_card_number(recording, reader) == NUMBER.hex().upper()
    assert sent == [b"\x70", b"\x72", b"\x70", b"\x72", b"\x70", b"\x72", b"\x31"]


def test_a_card_with_none_of_the_keys_is_refused_naming_no_key() -> None:
    reader = replace(CARD, keys=(OTHER_KEY, THIRD_KEY))
    with pytest.raises(DesfireRefused) as refused:
        read_card_number(_card(issued_card(CARD, NUMBER)).respond, reader)
    assert refused.value.reason == AUTH_FAILED
    assert "key 1" in str(refused.value) and "key 2" in str(refused.value)
    assert all(key.hex() not in str(refused.value).lower() for key in (KEY, OTHER_KEY))


def test_ascii_digits_in_the_block_are_the_decimal_card_number() -> None:
    reader = replace(CARD, value_format="ascii", offset=0, length=10)
    content = issued_card(reader, h("12D687"))
    assert content.blocks[9][:10] == b"0001234567"
    assert read_card_number(_card(content).respond, reader) == "0012D687"


def test_settings_make_the_card_and_keys_stay_out_of_repr() -> None:
    card = plus_card(replace(PLUS_SETTINGS, mfp_key_type="B", mfp_read_mode="plain"))
    assert card == replace(CARD, key_type="B", read_mode="plain")
    assert KEY.hex() not in repr(card).lower() and KEY.hex() not in repr(PLUS_SETTINGS).lower()
    with pytest.raises(ValueError, match="mfp_keys"):
        plus_card(replace(PLUS_SETTINGS, mfp_keys=()))
    with pytest.raises(ValueError, match="beyond the block"):
        plus_card(replace(PLUS_SETTINGS, mfp_offset=9))
    with pytest.raises(ValueError, match="excludes"):
        plus_card(replace(PLUS_SETTINGS, desfire_app_id="F51230"))


# -- through a PcscReader on the simulated backend -------------------------------------------


async def test_a_plus_reader_delivers_the_blocks_number_not_the_uid() -> None:
    rig = Rig(PLUS_SETTINGS)
    rig.backend.present(UID, plus=issued_card(CARD, NUMBER))
    await rig.poll()
    (credential,) = rig.sink.credentials
    assert (credential.value, credential.raw, credential.refusal) == (NUMBER.hex().upper(), "", "")
    assert [apdu[:1].hex().upper() for apdu in rig.backend.apdus] == ["FF", "70", "72", "31"]
    status = rig.status()
    assert status["mode"] == "mifare_plus" and status["frames_accepted"] == 1
    assert KEY.hex() not in (repr(status) + repr(rig.reader._plus)).lower()


@pytest.mark.parametrize(
    ("plus", "refusal"),
    [
        (None, "card_auth_failed"),  # a UID clone: a Classic card (or emulator), no SL3
        (issued_card(replace(CARD, keys=(OTHER_KEY,)), NUMBER), "card_auth_failed"),
        (PlusCardContent({0x4004: KEY}, {}), "card_read_failed"),  # the block not readable
    ],
    ids=["clone", "wrong key", "no block"],
)
async def test_plus_refusals_are_delivered_with_their_reason(
    plus: PlusCardContent | None, refusal: str
) -> None:
    rig = Rig(PLUS_SETTINGS)
    rig.backend.present(UID, plus=plus)
    await rig.poll(3)  # held: refused once
    (refused,) = rig.sink.credentials
    assert (refused.value, refused.refusal, refused.raw) == ("", refusal, UID.hex().upper())
    status = rig.status()
    assert status["frames_rejected"] == {refusal.removeprefix("card_"): 1}
    assert status["recent"][-1]["detail"]
    assert KEY.hex() not in repr(status).lower()
