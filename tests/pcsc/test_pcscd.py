"""PcscReader with pyscard against a real pcscd, its vpcd virtual reader and our virtual card.

The whole path a real ACR122U takes from the library on: libpcsclite, pcscd, an IFD
handler, APDUs. Each test inserts its card into slot 0 and removes it before the next.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Literal

import pytest

from gateway.clock import SystemClock
from gateway.hw.pcsc import PcscReader, PyscardBackend, ReaderGone
from gateway.settings import ReaderSettings
from tests.pcsc.daemon import READER_NAME, PcscDaemon
from tests.pcsc.sink import ConnectCounter, Sink
from tests.pcsc.vcard import DesfireApp, PlusApp, VirtualCard

UID = bytes.fromhex("04A1B2C3D4E5F6")
KEY = bytes.fromhex("A0A1A2A3A4A5")
BLOCK = bytes.fromhex("C0FFEE00112233445566778899AABBCC")
WAIT_S = 10.0
# pcscd asks vpcd whether a card is there every 400 ms; a held card must survive several.
HELD_S = 1.5
SETTINGS = ReaderSettings(
    name="desk", kind="pcsc", door="front", device=f"{READER_NAME} 00 00", debounce_s=0.0
)
BLOCK_SETTINGS = replace(SETTINGS, mifare_sector=2, mifare_block=1, mifare_key=KEY.hex())

Factory = Callable[[ReaderSettings], tuple[PcscReader, Sink]]


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Wait, bounded, on the event loop so that delivered credentials arrive meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def make_reader(pcscd: PcscDaemon) -> AsyncIterator[Factory]:
    """Readers polling the private pcscd every 50 ms; closed after the test."""
    readers: list[PcscReader] = []
    loop = asyncio.get_running_loop()

    def make(settings: ReaderSettings) -> tuple[PcscReader, Sink]:
        sink = Sink()
        reader = PcscReader(
            settings, loop, sink, PyscardBackend(), SystemClock(), poll_interval_s=0.05
        )
        reader.start()
        readers.append(reader)
        return reader, sink

    yield make
    for reader in readers:
        reader.close()


@pytest.fixture
def card_slot(pcscd: PcscDaemon) -> Iterator[Callable[[VirtualCard], VirtualCard]]:
    """Inserts cards into slot 0; whatever is still inserted is removed afterwards."""
    inserted: list[VirtualCard] = []

    def insert(card: VirtualCard) -> VirtualCard:
        card.insert(pcscd.port)
        inserted.append(card)
        return card

    yield insert
    for card in inserted:
        card.remove()


async def test_a_uid_held_on_the_reader_is_one_credential(
    make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    reader, sink = make_reader(SETTINGS)
    await until(lambda: reader.status()["online"], "reader online")
    assert reader.status()["reader_name"] == f"{READER_NAME} 00 00"
    assert reader.status()["backend"] == "pcscd"
    card = card_slot(VirtualCard(UID))
    await until(lambda: len(sink.credentials) == 1, "the card's credential")
    credential = sink.credentials[0]
    assert (credential.kind, credential.value, credential.raw) == (
        "card",
        UID.hex().upper(),
        UID.hex().upper(),
    )
    await asyncio.sleep(HELD_S)
    assert len(sink.credentials) == 1
    assert card.apdus == [bytes.fromhex("FFCA000000")]  # held: not talked to again
    status = reader.status()
    assert status["card_present"] and status["frames_accepted"] == 1
    assert status["recent"][-1]["uid"] == UID.hex().upper()


async def test_a_reader_at_rest_waits_on_pcscd_and_stops_at_once(
    pcscd: PcscDaemon, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    backend = PyscardBackend()
    looks, sink = ConnectCounter(backend), Sink()
    loop = asyncio.get_running_loop()
    reader = PcscReader(SETTINGS, loop, sink, backend, SystemClock(), poll_interval_s=0.05)
    reader.start()
    try:
        await until(lambda: reader.status()["online"], "reader online")
        before = looks.count
        await asyncio.sleep(1.0)
        assert looks.count - before <= 2  # polling every 50 ms would be about 20
        card_slot(VirtualCard(UID))
        await until(lambda: len(sink.credentials) == 1, "the card's credential")
        held = looks.count
        await asyncio.sleep(1.0)
        assert looks.count - held <= 2  # a held card: waited on too, not polled
    finally:
        started = time.monotonic()
        reader.close()
        assert time.monotonic() - started < 0.5  # SCardCancel ends the wait
    assert reader._thread is not None and not reader._thread.is_alive()


async def test_byte_order_and_card_bytes_apply_to_the_uid(
    make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    _, sink = make_reader(replace(SETTINGS, card_byte_order="reversed", card_bytes=4))
    card_slot(VirtualCard(UID))
    await until(lambda: len(sink.credentials) == 1, "the card's credential")
    assert sink.values == ["C3B2A104"]  # reversed, then the last 4 bytes


async def test_a_mifare_block_read_with_the_right_key_is_the_credential(
    make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    reader, sink = make_reader(BLOCK_SETTINGS)
    card_slot(VirtualCard(UID, {9: BLOCK}, key=KEY))  # sector 2, block 1 = block 9
    await until(lambda: len(sink.credentials) == 1, "the block's credential")
    assert sink.values == [BLOCK.hex().upper()]
    status = reader.status()
    assert status["recent"][-1]["block_length"] == 16
    assert BLOCK.hex().upper() not in repr(status)


async def test_a_wrong_key_is_refused_as_auth_failed(
    make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    reader, sink = make_reader(BLOCK_SETTINGS)
    card_slot(VirtualCard(UID, {9: BLOCK}, key=bytes.fromhex("FFFFFFFFFFFF")))
    await until(lambda: reader.status()["frames_rejected"].get("auth_failed") == 1, "auth_failed")
    await asyncio.sleep(HELD_S)
    assert [(c.value, c.refusal) for c in sink.credentials] == [("", "card_auth_failed")]
    assert reader.status()["frames_rejected"] == {"auth_failed": 1}


async def test_removing_and_presenting_again_counts_twice(
    make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    reader, sink = make_reader(SETTINGS)
    card = card_slot(VirtualCard(UID))
    await until(lambda: len(sink.credentials) == 1, "the first presentation")
    card.remove()
    await until(lambda: not reader.status()["card_present"], "the card seen leaving")
    card_slot(VirtualCard(UID))
    await until(lambda: len(sink.credentials) == 2, "the second presentation")
    assert sink.values == [UID.hex().upper()] * 2


async def test_pcscd_going_away_and_back_is_survived(
    pcscd: PcscDaemon, make_reader: Factory, card_slot: Callable[[VirtualCard], VirtualCard]
) -> None:
    reader, sink = make_reader(SETTINGS)
    await until(lambda: reader.status()["online"], "reader online")
    pcscd.stop()
    try:
        await until(lambda: not reader.status()["online"], "reader offline")
        status = reader.status()
        assert status["offline_reason"].startswith("pcscd not reachable")
        assert status["disconnects"] == 1
        await asyncio.sleep(0.3)  # several polls against no daemon at all
    finally:
        pcscd.start()
    await until(lambda: reader.status()["online"], "reader back online")
    assert reader.status()["reconnects"] == 1
    card_slot(VirtualCard(UID))
    await until(lambda: len(sink.credentials) == 1, "a card read after the restart")
    assert reader._thread is not None and reader._thread.is_alive()


async def test_an_unknown_reader_is_gone_and_a_mismatched_device_is_shown(
    pcscd: PcscDaemon, make_reader: Factory
) -> None:
    with pytest.raises(ReaderGone):
        PyscardBackend().connect("No Such Reader 00 00")
    reader, _ = make_reader(replace(SETTINGS, device="omnikey"))
    await until(lambda: reader.status()["offline_reason"] != "looking for the reader", "a poll")
    assert reader.status()["offline_reason"] == "no PC/SC reader matching 'omnikey'"


# -- DESFire EV2 through pcscd ----------------------------------------------------------

DESFIRE_KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
DESFIRE_NUMBER = bytes.fromhex("00000000C0FFEE42")
DESFIRE_SETTINGS = replace(
    SETTINGS,
    desfire_app_id="F51230",
    desfire_key=DESFIRE_KEY.hex(),
    desfire_key_number=2,
    desfire_file_number=1,
    desfire_offset=8,
)


def desfire_app(key: bytes = DESFIRE_KEY, comm_mode: str = "full") -> DesfireApp:
    """The site's application: the number 8 bytes into file 1, readable with key 2."""
    data = b"ISSUER01" + DESFIRE_NUMBER + bytes(16)
    return DesfireApp(0xF51230, key, 2, 1, data, comm_mode)


@pytest.mark.parametrize(
    ("auth", "comm_mode"), [("ev2", "full"), ("ev2", "mac"), ("ev1", "full"), ("ev1", "mac")]
)
async def test_a_desfire_card_opens_with_the_files_number_not_its_uid(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    auth: Literal["ev2", "ev1"],
    comm_mode: Literal["full", "mac"],
) -> None:
    settings = replace(DESFIRE_SETTINGS, desfire_comm_mode=comm_mode, desfire_auth=auth)
    reader, sink = make_reader(settings)
    card_slot(VirtualCard(UID, desfire=desfire_app(comm_mode=comm_mode)))
    await until(lambda: len(sink.credentials) == 1, "the file's credential")
    (credential,) = sink.credentials
    assert (credential.value, credential.refusal) == (DESFIRE_NUMBER.hex().upper(), "")
    assert UID.hex().upper() not in credential.value
    status = reader.status()
    assert status["mode"] == "desfire" and status["frames_accepted"] == 1
    assert DESFIRE_KEY.hex() not in repr(status).lower()


@pytest.mark.parametrize(
    ("card", "refusal"),
    [
        (VirtualCard(UID), "card_not_desfire"),  # the UID copied onto another card
        (VirtualCard(UID, desfire=desfire_app(key=bytes(16))), "card_auth_failed"),
    ],
    ids=["clone", "wrong key"],
)
async def test_a_clone_and_a_wrong_key_card_are_refused(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    card: VirtualCard,
    refusal: str,
) -> None:
    reader, sink = make_reader(DESFIRE_SETTINGS)
    card_slot(card)
    await until(lambda: len(sink.credentials) == 1, "the refusal")
    await asyncio.sleep(HELD_S)  # held: refused once, not again and again
    (refused,) = sink.credentials
    assert (refused.value, refused.refusal, refused.raw) == ("", refusal, UID.hex().upper())
    assert reader.status()["frames_accepted"] == 0


# -- MIFARE Plus SL3 through pcscd --------------------------------------------------------

PLUS_KEY = bytes.fromhex("6BC1BEE22E409F96E93D7E117393172A")
PLUS_NUMBER = bytes.fromhex("0000C0FFEE4242")
PLUS_SETTINGS = replace(
    SETTINGS,
    mfp_block=13,  # sector 3: key A is 4006h
    mfp_keys=(bytes(16).hex(), PLUS_KEY.hex()),  # the guide's choices: the second matches
    mfp_offset=9,
    mfp_length=7,
)


def plus_app(key: bytes = PLUS_KEY) -> PlusApp:
    """The site's card: the number 9 bytes into block 13, sector 3 guarded by `key`."""
    return PlusApp({0x4006: key}, {13: b"ISSUER001" + PLUS_NUMBER})


@pytest.mark.parametrize("read_mode", ["encrypted", "plain"])
async def test_a_mifare_plus_card_opens_with_the_blocks_number_not_its_uid(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    read_mode: Literal["encrypted", "plain"],
) -> None:
    reader, sink = make_reader(replace(PLUS_SETTINGS, mfp_read_mode=read_mode))
    card = card_slot(VirtualCard(UID, plus=plus_app()))
    await until(lambda: len(sink.credentials) == 1, "the block's credential")
    (credential,) = sink.credentials
    assert (credential.value, credential.refusal) == (PLUS_NUMBER.hex().upper(), "")
    assert [apdu[0] for apdu in card.apdus] == [
        0xFF,
        0x70,
        0x72,
        0x70,
        0x72,
        0x31 + 2 * (read_mode == "plain"),
    ]
    status = reader.status()
    assert status["mode"] == "mifare_plus" and status["frames_accepted"] == 1
    assert PLUS_KEY.hex() not in repr(status).lower()


@pytest.mark.parametrize(
    ("card", "refusal"),
    [
        (VirtualCard(UID), "card_auth_failed"),  # the UID copied onto a Classic card
        (VirtualCard(UID, plus=plus_app(key=bytes.fromhex("11" * 16))), "card_auth_failed"),
        (VirtualCard(UID, plus=PlusApp({0x4006: PLUS_KEY}, {})), "card_read_failed"),
    ],
    ids=["clone", "wrong key", "block not readable"],
)
async def test_a_plus_clone_a_wrong_key_and_an_unreadable_block_are_refused(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    card: VirtualCard,
    refusal: str,
) -> None:
    reader, sink = make_reader(PLUS_SETTINGS)
    card_slot(card)
    await until(lambda: len(sink.credentials) == 1, "the refusal")
    await asyncio.sleep(HELD_S)  # held: refused once, not again and again
    (refused,) = sink.credentials
    assert (refused.value, refused.refusal, refused.raw) == ("", refusal, UID.hex().upper())
    assert reader.status()["frames_accepted"] == 0


# -- DESFire with DES-family keys through pcscd ----------------------------------------------

DES_KEYS = {
    "des": bytes.fromhex("0123456789ABCDEF"),
    "2k3des": bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    "3k3des": bytes.fromhex("0123456789ABCDEFFEDCBA987654321000112233445566AA"),
}


@pytest.mark.parametrize(
    ("crypto", "comm_mode"),
    [("des", "full"), ("2k3des", "mac"), ("2k3des", "full"), ("3k3des", "full"), ("3k3des", "mac")],
)
async def test_a_des_family_desfire_card_opens_with_the_files_number(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    crypto: Literal["des", "2k3des", "3k3des"],
    comm_mode: Literal["full", "mac"],
) -> None:
    key = DES_KEYS[crypto]
    settings = replace(
        DESFIRE_SETTINGS, desfire_key=key.hex(), desfire_crypto=crypto, desfire_comm_mode=comm_mode
    )
    reader, sink = make_reader(settings)
    app = replace(desfire_app(key=key, comm_mode=comm_mode), crypto=crypto)
    card = card_slot(VirtualCard(UID, desfire=app))
    await until(lambda: len(sink.credentials) == 1, "the file's credential")
    (credential,) = sink.credentials
    assert (credential.value, credential.refusal) == (DESFIRE_NUMBER.hex().upper(), "")
    assert card.apdus[2][1] == (0x1A if crypto == "3k3des" else 0x0A)
    assert key.hex() not in repr(reader.status()).lower()


@pytest.mark.parametrize(
    ("card", "refusal"),
    [
        (VirtualCard(UID), "card_not_desfire"),  # the UID copied onto another card
        (
            VirtualCard(UID, desfire=replace(desfire_app(key=bytes(16)), crypto="2k3des")),
            "card_auth_failed",
        ),
    ],
    ids=["clone", "wrong key"],
)
async def test_a_des_reader_refuses_a_clone_and_a_wrong_key(
    make_reader: Factory,
    card_slot: Callable[[VirtualCard], VirtualCard],
    card: VirtualCard,
    refusal: str,
) -> None:
    settings = replace(
        DESFIRE_SETTINGS, desfire_key=DES_KEYS["2k3des"].hex(), desfire_crypto="2k3des"
    )
    reader, sink = make_reader(settings)
    card_slot(card)
    await until(lambda: len(sink.credentials) == 1, "the refusal")
    (refused,) = sink.credentials
    assert (refused.value, refused.refusal, refused.raw) == ("", refusal, UID.hex().upper())
    assert reader.status()["frames_accepted"] == 0
