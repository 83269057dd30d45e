"""NfcReader on real nfcpy, over nfcpy's own `udp` driver.

A second nfcpy ContactlessFrontend in a thread plays the card: it `listen()`s as a Type A,
Type B or FeliCa target and answers the reader's anticollision with the identifier we
chose. In nfcpy's udp driver the listening (card) side binds the port; the sensing
(reader) side sends to it from an ephemeral socket, so the card is started first.

Timing: the udp driver waits 1 s for an answer per technology, so a round with no card
takes ~3 s and a FeliCa card (sensed third) is found ~2 s into a round.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import nfc
import nfc.clf
import pytest

from gateway.clock import SystemClock
from gateway.hw.nfc import NfcpyFrontend, NfcTarget, target_from_nfcpy
from tests.nfc.conftest import ReaderMaker, RecordingSink, eventually

WAIT_S = 10.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))  # the udp driver's card side binds 0.0.0.0:PORT
        port: int = probe.getsockname()[1]
        return port


class UdpCard:
    """A card held to the reader for `hold_s` seconds, emulated by nfcpy on `port`."""

    def __init__(self, port: int, target: Any, hold_s: float) -> None:
        self._port, self._target, self._hold_s = port, target, hold_s
        self._clf = nfc.ContactlessFrontend(f"udp:127.0.0.1:{port}")
        self._thread = threading.Thread(target=self._run, name=f"udp-card-{port}", daemon=True)

    def start(self) -> UdpCard:
        """Start answering; returns once the card's socket is bound, so that the reader's
        first request is not lost (which would cost a whole 3 s sense round)."""
        self._thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self._bound():
            assert time.monotonic() < deadline, "the emulated card never bound its port"
            time.sleep(0.005)
        return self

    def _bound(self) -> bool:
        try:
            return bool(self._clf.device.socket.getsockname()[1] == self._port)
        except (AttributeError, OSError):  # between listen() calls the socket is replaced
            return False

    def _run(self) -> None:
        clf = self._clf
        try:
            end = time.monotonic() + self._hold_s
            while (left := end - time.monotonic()) > 0:
                # Type A and FeliCa keep answering anticollision inside one listen();
                # Type B returns (or raises RFOFF) after each SENSB_RES: listen again.
                with contextlib.suppress(nfc.clf.CommunicationError):
                    clf.listen(self._target, left)
        finally:
            clf.close()

    def gone(self) -> bool:
        """Wait (bounded) until the card is taken away; True when it is."""
        self._thread.join(self._hold_s + WAIT_S)
        return not self._thread.is_alive()


def type_a(uid: str, sel_res: str = "00") -> Any:
    sens_res = "4400" if len(uid) > 8 else "0400"  # double / single size UID
    return nfc.clf.LocalTarget(
        "106A",
        sens_res=bytearray.fromhex(sens_res),
        sdd_res=bytearray.fromhex(uid),
        sel_res=bytearray.fromhex(sel_res),
    )


def type_b(nfcid0: str) -> Any:
    # SENSB_RES: 50h, NFCID0, application data, protocol info.
    return nfc.clf.LocalTarget("106B", sensb_res=bytearray.fromhex(f"50{nfcid0}00000000008185"))


def felica(idm: str) -> Any:
    # SENSF_RES: 01h, IDm, PMm, system code.
    return nfc.clf.LocalTarget("212F", sensf_res=bytearray.fromhex(f"01{idm}{'FF' * 8}12FC"))


@pytest.fixture
def port() -> int:
    return free_udp_port()


@pytest.fixture
def cards() -> Iterator[list[UdpCard]]:
    """Cards started by a test; all are awaited at the end, so no test leaks into the next."""
    started: list[UdpCard] = []
    yield started
    for card in started:
        card.gone()


@pytest.mark.parametrize(
    ("uid", "sel_res"),
    [
        ("04A1B2C3D4E5F6", "00"),  # NTAG / Ultralight: 7-byte UID, two cascade levels
        ("DEADBEEF", "08"),  # MIFARE Classic 1K: 4-byte UID
    ],
)
async def test_type_a_uid_over_udp_once_per_presentation(
    make_reader: ReaderMaker,
    sink: RecordingSink,
    cards: list[UdpCard],
    port: int,
    uid: str,
    sel_res: str,
) -> None:
    card = UdpCard(port, type_a(uid, sel_res), hold_s=1.5).start()
    cards.append(card)
    reader = make_reader(NfcpyFrontend, device=f"udp:127.0.0.1:{port}", clock=SystemClock())
    await eventually(lambda: sink.values == [uid], WAIT_S)
    status = reader.status()
    assert status["online"] and status["device"] == f"udp:127.0.0.1:{port}"
    assert status["recent"][0] | {"time": None} == {
        "target": "106A",
        "uid": uid,
        "time": None,
        "result": "accepted",
    }
    assert card.gone()
    await asyncio.sleep(0.05)  # a read in flight when the card left
    assert sink.values == [uid], "sensed again and again for 1.5 s: still one credential"


async def test_felica_idm_over_udp(
    make_reader: ReaderMaker, sink: RecordingSink, cards: list[UdpCard], port: int
) -> None:
    # FeliCa is sensed after Type A and B, each waiting 1 s on udp: found ~2 s in.
    cards.append(UdpCard(port, felica("0102030405060708"), hold_s=3.0).start())
    reader = make_reader(NfcpyFrontend, device=f"udp:127.0.0.1:{port}", clock=SystemClock())
    await eventually(lambda: sink.values == ["0102030405060708"], WAIT_S)
    assert reader.status()["recent"][0]["target"] == "212F"


async def test_type_b_nfcid0_over_udp(
    make_reader: ReaderMaker, sink: RecordingSink, cards: list[UdpCard], port: int
) -> None:
    cards.append(UdpCard(port, type_b("11223344"), hold_s=2.5).start())
    reader = make_reader(NfcpyFrontend, device=f"udp:127.0.0.1:{port}", clock=SystemClock())
    await eventually(lambda: sink.values == ["11223344"], WAIT_S)
    assert reader.status()["recent"][0]["target"] == "106B"
    assert cards[0].gone()
    await asyncio.sleep(0.05)
    assert sink.values == ["11223344"]


async def test_card_presented_again_after_debounce_counts_again_over_udp(
    make_reader: ReaderMaker, sink: RecordingSink, cards: list[UdpCard], port: int
) -> None:
    cards.append(UdpCard(port, type_a("DEADBEEF", "08"), hold_s=1.0).start())
    reader = make_reader(
        NfcpyFrontend,
        device=f"udp:127.0.0.1:{port}",
        clock=SystemClock(),
        debounce_s=0.5,
    )
    await eventually(lambda: sink.values == ["DEADBEEF"], WAIT_S)
    assert cards[0].gone()
    await eventually(lambda: reader.status()["present"] == [], WAIT_S)
    await asyncio.sleep(0.5)  # away for debounce_s
    # Held long enough to outlast a reader round already under way (up to 3 s).
    cards.append(UdpCard(port, type_a("DEADBEEF", "08"), hold_s=4.0).start())
    await eventually(lambda: sink.values == ["DEADBEEF", "DEADBEEF"], WAIT_S)


async def test_unreachable_device_is_offline_with_nfcpy_reason(
    make_reader: ReaderMaker, sink: RecordingSink
) -> None:
    reader = make_reader(NfcpyFrontend, device="tty:doesnotexist:pn532")
    await eventually(lambda: reader.status()["open_failures"] >= 1)
    status = reader.status()
    assert status["online"] is False
    assert status["offline_reason"] == (
        "cannot open 'tty:doesnotexist:pn532': [Errno 19] no reader found"
    )


def test_identifiers_from_nfcpy_targets() -> None:
    remote = nfc.clf.RemoteTarget
    a = remote("106A", sens_res=b"\x44\x00", sel_res=b"\x00", sdd_res=bytes.fromhex("04A1B2C3"))
    b = remote("106B", sensb_res=bytes.fromhex("501122334400000000008185"))
    f = remote("212F", sensf_res=bytes.fromhex("01" + "0102030405060708" + "FF" * 8))
    t1 = remote("106A", sens_res=b"\x00\x0c", rid_res=bytes.fromhex("110012345678"))
    assert [target_from_nfcpy(t) for t in (a, b, f)] == [
        NfcTarget("106A", bytes.fromhex("04A1B2C3")),
        NfcTarget("106B", bytes.fromhex("11223344")),
        NfcTarget("212F", bytes.fromhex("0102030405060708")),
    ]
    assert target_from_nfcpy(t1) == NfcTarget("106A", b"")  # Type 1: no NFCID1
    assert target_from_nfcpy(remote("106B", sensb_res=b"\x50\x01")) == NfcTarget("106B", b"")
