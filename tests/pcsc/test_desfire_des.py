"""DESFire with DES-family keys (the guide's "Crypto: DES"): the 3DES CMAC against NIST
SP 800-38B, the type A CRC against ISO 14443-3, AuthenticateISO against a published card
trace, then whole reads (DES and 2K3DES by the legacy Authenticate 0A, 3K3DES by
AuthenticateISO 1A) against the simulated card, and the refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.hw.desfire import (
    AUTH_FAILED,
    READ_FAILED,
    DesfireCard,
    DesfireRefused,
    authenticate_des,
    crc16_a,
    read_card_number,
    tdes_cmac_chained,
)
from gateway.hw.desfire_sim import DesfireCardSession, issued_application
from gateway.hw.pcsc import desfire_card
from tests.pcsc.test_reader_sim import SETTINGS, UID, Rig

h = bytes.fromhex
NUMBER = h("000000001234ABCD")
KEYS = {
    "des": h("0011223344556677"),
    "2k3des": h("00112233445566778899AABBCCDDEEFF"),
    "3k3des": h("00112233445566778899AABBCCDDEEFF0123456789ABCDEF"),
}


def _card(crypto: str, mode: str = "full") -> DesfireCard:
    return DesfireCard(
        app_id=0xF51230,
        key_number=1,
        key=KEYS[crypto],
        file_number=2,
        offset=4,
        length=8,
        comm_mode=mode,  # type: ignore[arg-type]
        crypto=crypto,  # type: ignore[arg-type]
    )


def test_the_3des_cmac_is_nist_sp_800_38b() -> None:
    key = h("8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5")  # Three Key TDEA, D.4
    assert tdes_cmac_chained(key, bytes(8), b"") == h("B7A688E122FFAF95")
    assert tdes_cmac_chained(key, bytes(8), h("6BC1BEE22E409F96")) == h("8E8F293136283797")


def test_the_legacy_crc_is_iso_14443_type_a() -> None:
    assert crc16_a(h("0000")) == h("A01E")
    assert crc16_a(h("1234")) == h("26CF")


def test_authenticate_iso_follows_a_published_card_trace() -> None:
    """A zero 2K3DES key, AuthenticateISO: the card's E(K, RndB), the reader's token for
    RndA 84 9B 36 C5 F8 BF 4A 09 and the card's proof, as a genuine card exchanged them."""
    steps = [
        (h("901A0000010000"), (h("5D994CE085F24089"), 0x91, 0xAF)),
        (h("90AF00001021D0AD5F2FD97454A746CC80567F1B1C00"), (h("913C6DED84221C41"), 0x91, 0)),
    ]

    def card(apdu: bytes) -> tuple[bytes, int, int]:
        expected, answer = steps.pop(0)
        assert apdu.hex().upper() == expected.hex().upper()
        return answer

    session = authenticate_des(card, 0, bytes(16), "2k3des", h("849B36C5F8BF4A09"), iso=True)
    assert not steps
    assert session.key[:8] == h("849B36C54FD1B759")  # RndA[0..3] RndB[0..3]


@pytest.mark.parametrize("crypto", ["des", "2k3des", "3k3des"])
@pytest.mark.parametrize("mode", ["full", "mac", "plain"])
def test_a_des_family_card_gives_its_number_in_each_mode(crypto: str, mode: str) -> None:
    card = _card(crypto, mode)
    session = DesfireCardSession([issued_application(card, NUMBER)])
    sent: list[int] = []

    def recording(apdu: bytes) -> tuple[bytes, int, int]:
        sent.append(apdu[1])
        return session.respond(apdu)

    assert read_card_number(recording, card) == NUMBER.hex().upper()
    assert sent == [0x5A, 0x1A if crypto == "3k3des" else 0x0A, 0xAF, 0xBD]


@pytest.mark.parametrize("crypto", ["des", "2k3des", "3k3des"])
def test_a_card_with_another_key_is_refused(crypto: str) -> None:
    card = _card(crypto)
    other = bytes(len(card.key))
    application = replace(issued_application(card, NUMBER), key=other)
    with pytest.raises(DesfireRefused) as refused:
        read_card_number(DesfireCardSession([application]).respond, card)
    assert refused.value.reason == AUTH_FAILED
    assert card.key.hex() not in str(refused.value).lower()


def test_an_aes_card_at_a_des_reader_and_the_reverse_are_refused() -> None:
    aes_card = DesfireCard(**{**_card("2k3des").__dict__, "crypto": "aes", "auth": "ev1"})
    des_card = _card("2k3des")
    for reader, issued in ((des_card, aes_card), (aes_card, des_card)):
        session = DesfireCardSession([issued_application(issued, NUMBER)])
        with pytest.raises(DesfireRefused) as refused:
            read_card_number(session.respond, reader)
        assert refused.value.reason == AUTH_FAILED


@pytest.mark.parametrize("crypto", ["des", "3k3des"])
@pytest.mark.parametrize("mode", ["full", "mac"])
def test_an_altered_answer_is_refused(crypto: str, mode: str) -> None:
    card = _card(crypto, mode)
    session = DesfireCardSession([issued_application(card, NUMBER)])

    def altering(apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = session.respond(apdu)
        return (bytes([data[0] ^ 1]) + data[1:], sw1, sw2) if apdu[1] == 0xBD else (data, sw1, sw2)

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(altering, card)
    assert refused.value.reason == READ_FAILED


def test_the_key_length_follows_desfire_crypto_and_is_not_repeated() -> None:
    settings = replace(
        SETTINGS, desfire_app_id="F51230", desfire_key=KEYS["des"].hex(), desfire_crypto="des"
    )
    card = desfire_card(settings)
    assert card is not None and (card.crypto, card.key) == ("des", KEYS["des"])
    with pytest.raises(ValueError, match="48 hex digits") as wrong:
        desfire_card(replace(settings, desfire_crypto="3k3des"))
    assert KEYS["des"].hex() not in str(wrong.value).lower()


async def test_a_des_reader_delivers_the_files_number_and_refuses_a_clone() -> None:
    settings = replace(
        SETTINGS,
        desfire_app_id="F51230",
        desfire_key=KEYS["2k3des"].hex(),
        desfire_key_number=1,
        desfire_file_number=2,
        desfire_offset=4,
        desfire_crypto="2k3des",
    )
    card = desfire_card(settings)
    assert card is not None
    rig = Rig(settings)
    rig.backend.present(UID, desfire=[issued_application(card, NUMBER)])
    await rig.poll()
    rig.backend.remove()
    await rig.poll()
    rig.clock.advance(5)
    rig.backend.present(h("0A0B0C0D"))  # a copy of some UID, no DESFire application
    await rig.poll()
    accepted, refused = rig.sink.credentials
    assert (accepted.value, accepted.refusal) == (NUMBER.hex().upper(), "")
    assert (refused.value, refused.refusal) == ("", "card_not_desfire")
    assert KEYS["2k3des"].hex() not in repr(rig.status()).lower()
