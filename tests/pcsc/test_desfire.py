"""DESFire EV2: the cryptography against NXP's worked examples (AN12196, "NTAG 424 DNA and
NTAG 424 DNA TagTamper features and hints", whose EV2 secure messaging DESFire EV2 shares),
then the whole read against the simulated card: what opens, and what is refused why."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace

import pytest

from gateway.hw.desfire import (
    AUTH_FAILED,
    NO_APPLICATION,
    NOT_DESFIRE,
    READ_FAILED,
    DesfireCard,
    DesfireRefused,
    Session,
    authenticate_aes,
    authenticate_ev2_first,
    card_number,
    cmac,
    cmac_chained,
    jamcrc,
    read_card_number,
    session_keys,
    session_vector,
    unpad,
)
from gateway.hw.desfire_sim import (
    DesfireApplication,
    DesfireCardSession,
    DesfireFile,
    issued_application,
)

h = bytes.fromhex

# AN12196 Table 14: AuthenticateEV2First with key 0x00 (all zeros).
T14_KEY = bytes(16)
T14_COMMAND_1 = h("9071000002000000")
T14_ANSWER_1 = h("A04C124213C186F22399D33AC2A30215")  # E(K, RndB), then 91 AF
T14_RND_A = h("13C5DB8A5930439FC3DEF9A4C675360F")
T14_RND_B = h("B9E2FC789B64BF237CCCAA20EC7E6E48")
T14_COMMAND_2 = h("90AF00002035C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D00")
T14_ANSWER_2 = h("3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663")
T14_TI = h("9D00C4DF")
T14_ENC_KEY = h("1309C877509E5A215007FF0ED19CA564")
T14_MAC_KEY = h("4C6626F5E72EA694202139295C7A7FC7")

APP_ID = 0xF51230
KEY = h("00112233445566778899AABBCCDDEEFF")
OTHER_KEY = h("FFEEDDCCBBAA99887766554433221100")
NUMBER = h("000000001234ABCD")
CARD = DesfireCard(app_id=APP_ID, key_number=1, key=KEY, file_number=2, offset=4, length=8)


class ScriptedCard:
    """A card that expects exactly these APDUs, in order, and gives these answers."""

    def __init__(self, *steps: tuple[bytes, tuple[bytes, int, int]]) -> None:
        self.steps = list(steps)

    def __call__(self, apdu: bytes) -> tuple[bytes, int, int]:
        expected, answer = self.steps.pop(0)
        assert apdu.hex().upper() == expected.hex().upper()
        return answer


def test_cmac_is_rfc_4493() -> None:
    key = h("2B7E151628AED2A6ABF7158809CF4F3C")
    message = h("6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411")
    assert cmac(key, message) == h("DFA66747DE9AE63030CA32611497C827")


def test_authenticate_ev2_first_gives_an12196_table_14s_session() -> None:
    card = ScriptedCard(
        (T14_COMMAND_1, (T14_ANSWER_1, 0x91, 0xAF)),
        (T14_COMMAND_2, (T14_ANSWER_2, 0x91, 0x00)),
    )
    session = authenticate_ev2_first(card, 0, T14_KEY, T14_RND_A)
    assert (session.enc_key, session.mac_key, session.ti) == (T14_ENC_KEY, T14_MAC_KEY, T14_TI)
    assert session.counter == 0 and not card.steps
    assert T14_ENC_KEY.hex() not in repr(session).lower()  # keys stay out of logs


def test_session_vectors_mix_rnd_a_and_rnd_b_as_an12196_shows() -> None:
    assert session_vector(b"\xa5\x5a", T14_RND_A, T14_RND_B) == h(
        "A55A0001008013C56268A548D8FBBF237CCCAA20EC7E6E48C3DEF9A4C675360F"
    )
    assert session_keys(T14_KEY, T14_RND_A, T14_RND_B) == (T14_ENC_KEY, T14_MAC_KEY)


def test_a_maced_command_and_answer_match_an12196_table_7() -> None:
    # GetFileSettings (0xF5) of file 2 in CommMode.MAC, command counter 0.
    session = Session(b"", h("8248134A386E86EB7FAF54A52E536CB6"), h("7A21085E"))
    assert session.command_mac(0xF5, b"\x02") == h("6597A457C8CD442C")
    data = h("0040EEEE000100D1FE001F00004400004400002000006A0000")
    assert session.open_response(data + h("2A474282E7A47986"), "mac") == data
    with pytest.raises(ValueError, match="MAC"):
        session.open_response(data[:-1] + b"\x01" + h("2A474282E7A47986"), "mac")


def test_an_enciphered_answer_matches_an12196_table_28() -> None:
    # GetCardUID (0x51) in CommMode.FULL: the answer deciphers to the UID.
    session = Session(
        h("2B4D963C014DC36F24F69A50A394F875"), h("379D32130CE61705DD5FD8C36B95D764"), h("DF055522")
    )
    assert session.command_mac(0x51, b"") == h("8E2C155ADDA99BE3")
    answer = h("70756055688505B52A5E26E59E329CD6") + h("595F672298EA41B7")
    assert session.open_response(answer, "full") == h("04958CAA5C5E80")


def test_padding_must_be_iso_9797_method_2() -> None:
    assert unpad(b"abc\x80" + bytes(12)) == b"abc"
    with pytest.raises(ValueError):
        unpad(b"abc" + bytes(13))


@pytest.mark.parametrize(
    ("data", "value_format", "expected"),
    [
        (h("000000001234ABCD"), "binary", "000000001234ABCD"),
        (b"00012345", "ascii", "00003039"),  # 12345, as its printed 10-digit number enrols
        (b"9876543210\x00\x00", "ascii", "024CB016EA"),
    ],
)
def test_the_bytes_become_the_card_number(data: bytes, value_format: str, expected: str) -> None:
    assert card_number(data, value_format) == expected  # type: ignore[arg-type]


def test_ascii_that_is_not_digits_is_refused() -> None:
    with pytest.raises(DesfireRefused) as refused:
        card_number(b"12AB", "ascii")
    assert refused.value.reason == READ_FAILED


def _card(*applications: DesfireApplication) -> Callable[[bytes], tuple[bytes, int, int]]:
    return DesfireCardSession(applications).respond


@pytest.mark.parametrize("mode", ["full", "mac", "plain"])
def test_the_issued_card_gives_its_number_in_each_mode(mode: str) -> None:
    card = DesfireCard(**{**CARD.__dict__, "comm_mode": mode})
    number = read_card_number(_card(issued_application(card, NUMBER)), card)
    assert number == NUMBER.hex().upper()


def test_an_ascii_card_gives_the_number_it_was_issued_with() -> None:
    card = DesfireCard(**{**CARD.__dict__, "value_format": "ascii", "length": 10})
    application = issued_application(card, h("3039"))
    assert application.files[2].data[4:] == b"0000012345"
    assert read_card_number(_card(application), card) == "00003039"


@pytest.mark.parametrize(
    ("application", "reason"),
    [
        (DesfireApplication(APP_ID, OTHER_KEY, 1, {2: DesfireFile(bytes(16))}), AUTH_FAILED),
        (DesfireApplication(APP_ID, KEY, 0, {2: DesfireFile(bytes(16))}), AUTH_FAILED),
        (DesfireApplication(0x123456, KEY, 1, {2: DesfireFile(bytes(16))}), NO_APPLICATION),
        (DesfireApplication(APP_ID, KEY, 1, {3: DesfireFile(bytes(16))}), READ_FAILED),
        (DesfireApplication(APP_ID, KEY, 1, {2: DesfireFile(bytes(8))}), READ_FAILED),
    ],
    ids=["wrong key", "no such key number", "no application", "no such file", "file too short"],
)
def test_a_card_without_the_sites_application_key_or_file_is_refused(
    application: DesfireApplication, reason: str
) -> None:
    with pytest.raises(DesfireRefused) as refused:
        read_card_number(_card(application), CARD)
    assert refused.value.reason == reason
    assert KEY.hex() not in str(refused.value).lower()


def test_a_card_that_only_copies_a_uid_is_not_desfire() -> None:
    def classic(apdu: bytes) -> tuple[bytes, int, int]:
        return b"", 0x6A, 0x81  # what a reader answers when the card ignores the command

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(classic, CARD)
    assert refused.value.reason == NOT_DESFIRE


def test_a_card_that_does_not_prove_the_key_is_refused() -> None:
    """An emulator that accepts any answer to its challenge but cannot encrypt RndA'."""
    session = DesfireCardSession([issued_application(CARD, NUMBER)])

    def liar(apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = session.respond(apdu)
        if apdu[1] == 0xAF:
            return bytes(32), 0x91, 0x00
        return data, sw1, sw2

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(liar, CARD)
    assert refused.value.reason == AUTH_FAILED


@pytest.mark.parametrize("mode", ["full", "mac"])
def test_an_answer_altered_on_the_way_is_refused(mode: str) -> None:
    card = DesfireCard(**{**CARD.__dict__, "comm_mode": mode})
    session = DesfireCardSession([issued_application(card, NUMBER)])

    def tampered(apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = session.respond(apdu)
        if apdu[1] == 0xBD:
            data = bytes([data[0] ^ 1]) + data[1:]
        return data, sw1, sw2

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(tampered, card)
    assert refused.value.reason == READ_FAILED


def test_a_replayed_answer_from_an_earlier_session_is_refused() -> None:
    """A recording of a genuine read does not open: the session keys are new each time."""
    recorded: dict[int, tuple[bytes, int, int]] = {}
    genuine = DesfireCardSession([issued_application(CARD, NUMBER)])

    def recording(apdu: bytes) -> tuple[bytes, int, int]:
        recorded[apdu[1]] = answer = genuine.respond(apdu)
        return answer

    read_card_number(recording, CARD)
    replay = DesfireCardSession([issued_application(CARD, NUMBER)])

    def replaying(apdu: bytes) -> tuple[bytes, int, int]:
        answer = replay.respond(apdu)
        return recorded[0xBD] if apdu[1] == 0xBD else answer

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(replaying, CARD)
    assert refused.value.reason == READ_FAILED


def test_the_key_never_shows_in_the_cards_repr() -> None:
    assert KEY.hex() not in repr(CARD).lower()
    assert KEY.hex() not in repr(issued_application(CARD, NUMBER)).lower()


def test_importing_the_readers_does_not_load_cryptography() -> None:
    """A daemon without a DESFire reader never pays for cryptography (docs/performance.md)."""
    code = (
        "import sys, gateway.hw.pcsc, gateway.hw.pcsc_sim, gateway.hw.sim_drivers\n"
        "assert 'cryptography' not in sys.modules, 'loaded at import'\n"
        "from gateway.hw.desfire import load_cryptography\n"
        "load_cryptography()\n"
        "assert 'cryptography' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- EV1: AuthenticateAES and the EV1 AES session ------------------------------------------
# Published EV1 traces (the "DESFire EV1 communication examples" widely reproduced from a
# card's debug output): AuthenticateAES with key 0 all zeros, and key 1 = 10 18 20 ... 88.

EV1_TRACES = [
    (
        bytes(16),
        0,
        h("B969FDFE56FD91FC9DE6F6F213B8FD1E"),  # E(K, RndB)
        h("F44B26F5686F3A391CD38EBD10772281"),  # RndA
        h("36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774"),
        h("800DB680BC146BD121D6578F2D2E2059"),  # E(K, RndA')
        h("F44B26F5C05DDD7110772281C4D066E8"),  # the session key
    ),
    (
        h("10182028303840485058606870788088"),
        1,
        h("B351CB2465D4F33AC627FD6E87A168F2"),
        h("40E7D27174CBA675E8EFBAB99C530E3D"),
        h("044B6CAC343A0865895149649CA8DDE1F5AC4EC67BD208900AF02F049E05F0B0"),
        h("A2EE144B1012FBEB7B2F11132D95A454"),
        h("40E7D271626FFBD49C530E3D304F5B17"),
    ),
]


@pytest.mark.parametrize(
    ("key", "key_number", "challenge", "rnd_a", "proof", "answer", "session_key"), EV1_TRACES
)
def test_authenticate_aes_gives_the_published_session_key(
    key: bytes,
    key_number: int,
    challenge: bytes,
    rnd_a: bytes,
    proof: bytes,
    answer: bytes,
    session_key: bytes,
) -> None:
    card = ScriptedCard(
        (bytes([0x90, 0xAA, 0, 0, 1, key_number, 0]), (challenge, 0x91, 0xAF)),
        (h("90AF000020") + proof + b"\x00", (answer, 0x91, 0x00)),
    )
    session = authenticate_aes(card, key_number, key, rnd_a)
    assert (session.key, session.iv) == (session_key, bytes(16))
    assert not card.steps and session_key.hex() not in repr(session).lower()


def test_the_ev1_cmac_chains_from_the_sessions_iv() -> None:
    """A published ChangeKey answer: its MAC is the CMAC of the status byte, chained from the
    IV the enciphered command left (its last block)."""
    session_key = h("C2A1E47BD8100044FE6D00A74D7AB17C")
    iv = h("30337408C8A87EACAB7A1FF18951FCA3")
    assert cmac_chained(session_key, iv, b"\x00") == h("2128D3CD9C9ACFFFF6EB9546ADF35E17")
    rfc_key = h("2B7E151628AED2A6ABF7158809CF4F3C")
    assert cmac_chained(rfc_key, bytes(16), b"") == cmac(rfc_key, b"")


def test_the_ev1_crc_is_desfires_crc32() -> None:
    # The published ChangeKey cryptogram's CRC over C4 00, the new AES key and its version.
    data = h("C400") + h("00102030405060708090A0B0B0A09080") + h("10")
    assert jamcrc(data) == h("D2C6E66B")


EV1_CARD = DesfireCard(**{**CARD.__dict__, "auth": "ev1"})


@pytest.mark.parametrize("mode", ["full", "mac", "plain"])
def test_an_ev1_card_gives_its_number_in_each_mode(mode: str) -> None:
    card = DesfireCard(**{**EV1_CARD.__dict__, "comm_mode": mode})
    number = read_card_number(_card(issued_application(card, NUMBER)), card)
    assert number == NUMBER.hex().upper()


def test_an_ev1_reader_refuses_a_card_with_another_key() -> None:
    application = replace(issued_application(EV1_CARD, NUMBER), key=OTHER_KEY)
    with pytest.raises(DesfireRefused) as refused:
        read_card_number(_card(application), EV1_CARD)
    assert refused.value.reason == AUTH_FAILED


def _forged_read(card: DesfireCard, forge: Callable[[bytes], bytes]) -> DesfireRefused:
    """Read `card` with its ReadData answer replaced by `forge(the genuine answer)`."""
    session = DesfireCardSession([issued_application(card, NUMBER)])

    def forging(apdu: bytes) -> tuple[bytes, int, int]:
        data, sw1, sw2 = session.respond(apdu)
        return (forge(data), sw1, sw2) if apdu[1] == 0xBD else (data, sw1, sw2)

    with pytest.raises(DesfireRefused) as refused:
        read_card_number(forging, card)
    return refused.value


@pytest.mark.parametrize("mode", ["full", "mac"])
def test_an_ev1_answer_altered_or_replayed_is_refused(mode: str) -> None:
    card = DesfireCard(**{**EV1_CARD.__dict__, "comm_mode": mode})
    recorded: list[bytes] = []

    def record(data: bytes) -> bytes:
        recorded.append(data)  # a genuine answer, overheard
        return b""

    _forged_read(card, record)
    replayed = _forged_read(card, lambda data: recorded[0])  # another session's answer
    altered = _forged_read(card, lambda data: bytes([data[0] ^ 1]) + data[1:])
    assert (replayed.reason, altered.reason) == (READ_FAILED, READ_FAILED)
