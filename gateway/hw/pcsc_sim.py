"""PC/SC in memory: a reader and a MIFARE Classic or DESFire card that answer like an ACR122U.

`SimulatedPcscBackend` is the `PcscBackend` of the simulated daemon and of fast unit tests.
Verbs: `present(uid, blocks, key, desfire, plus)` puts a card on the reader until `remove()`
(with `desfire` applications it is a DESFire card: `gateway.hw.desfire_sim`; with `plus` a
MIFARE Plus SL3 card: `gateway.hw.mifare_plus_sim`); `tap(...)`
puts one there for a single read (what `/sim/card` wants); `unplug_reader()`,
`plug_reader()`, `stop_service()`, `start_service()` take the reader or pcscd away and back;
`inject_error(exc)` makes the next call fail as a library surprise would.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.hw.pcsc import BLOCK_BYTES, NoCard, PcscConnection, PcscUnavailable, ReaderGone

if TYPE_CHECKING:
    # Loaded only when a secure card is presented: a simulated daemon without one never
    # holds their code (docs/performance.md, baseline memory).
    from gateway.hw.desfire_sim import DesfireApplication, DesfireCardSession
    from gateway.hw.mifare_plus_sim import PlusCardContent, PlusCardSession

WRAP_CLA = 0x90  # ISO 7816 wrapping of DESFire native commands (gateway.hw.desfire)

DEFAULT_READER = "ACS ACR122U PICC Interface 00 00"
TRANSPORT_KEY = bytes.fromhex("FFFFFFFFFFFF")  # a blank MIFARE Classic card's key

OK = (b"", 0x90, 0x00)
FAILED = (b"", 0x63, 0x00)  # what an ACR122U answers to a failed card operation
NOT_AUTHENTICATED = (b"", 0x69, 0x82)
UNKNOWN = (b"", 0x6A, 0x81)


@dataclass
class SimulatedCard:
    """A MIFARE Classic card: a UID, 16-byte blocks, one key for every sector (A and B)."""

    uid: bytes
    blocks: dict[int, bytes] = field(default_factory=dict, repr=False)
    key: bytes = field(default=TRANSPORT_KEY, repr=False)
    tap: bool = False  # leaves the reader once a connection that used it is closed
    desfire: tuple[DesfireApplication, ...] = ()  # a DESFire card's applications
    plus: PlusCardContent | None = None  # a MIFARE Plus SL3 card's keys and blocks

    def block(self, number: int) -> bytes:
        """The block's content; never-written blocks read as zeros, as on a blank card."""
        return self.blocks.get(number, bytes(BLOCK_BYTES)).ljust(BLOCK_BYTES, b"\0")


class SimulatedPcscBackend:
    """One reader, at most one card, and a pcscd that can be stopped; thread-safe."""

    name = "simulated"

    def __init__(self, reader_name: str = DEFAULT_READER) -> None:
        self.reader_name = reader_name
        self._lock = threading.Condition()  # notified at every change of generation
        self._cancelled = False
        self._card: SimulatedCard | None = None
        self._generation = 0  # bumped on every insertion/removal: stale connections fail
        self._plugged = True
        self._service = True
        self._error: Exception | None = None
        self.connects = 0
        self.apdus: list[bytes] = []  # everything sent to cards, for tests to inspect

    # -- verbs ---------------------------------------------------------------------------

    def present(
        self,
        uid: bytes,
        blocks: dict[int, bytes] | None = None,
        key: bytes | None = None,
        desfire: Sequence[DesfireApplication] = (),
        plus: PlusCardContent | None = None,
    ) -> None:
        """Hold a card on the reader until `remove()`."""
        card = SimulatedCard(
            uid, dict(blocks or {}), key or TRANSPORT_KEY, desfire=tuple(desfire), plus=plus
        )
        self._insert(card)

    def tap(
        self,
        uid: bytes,
        blocks: dict[int, bytes] | None = None,
        key: bytes | None = None,
        desfire: Sequence[DesfireApplication] = (),
        plus: PlusCardContent | None = None,
    ) -> None:
        """Show a card to the reader for one read, then take it away."""
        blocks, key = dict(blocks or {}), key or TRANSPORT_KEY
        card = SimulatedCard(uid, blocks, key, tap=True, desfire=tuple(desfire), plus=plus)
        self._insert(card)

    def remove(self) -> None:
        """Take the card away."""
        with self._lock:
            self._card = None
            self._generation += 1
            self._lock.notify_all()

    def unplug_reader(self) -> None:
        with self._lock:
            self._plugged = False
            self._generation += 1
            self._lock.notify_all()

    def plug_reader(self) -> None:
        with self._lock:
            self._plugged = True

    def stop_service(self) -> None:
        """pcscd stops: every call fails until `start_service()`."""
        with self._lock:
            self._service = False
            self._generation += 1
            self._lock.notify_all()

    def start_service(self) -> None:
        with self._lock:
            self._service = True

    def inject_error(self, error: Exception) -> None:
        """The next backend call raises `error`."""
        with self._lock:
            self._error = error

    @property
    def card_present(self) -> bool:
        with self._lock:
            return self._card is not None

    def _insert(self, card: SimulatedCard) -> None:
        with self._lock:
            self._card = card
            self._generation += 1
            self._lock.notify_all()

    # -- PcscBackend ---------------------------------------------------------------------

    def reader_names(self) -> list[str]:
        with self._lock:
            self._check_service()
            return [self.reader_name] if self._plugged else []

    def connect(self, reader_name: str) -> PcscConnection:
        with self._lock:
            self._check_service()
            if not self._plugged or reader_name != self.reader_name:
                raise ReaderGone(reader_name)
            if self._card is None:
                raise NoCard(reader_name)
            self.connects += 1
            return _SimulatedConnection(self, self._card, self._generation)

    def reader_state(self, reader_name: str) -> int | None:
        with self._lock:
            return self._generation

    def wait_for_change(self, reader_name: str, since: int, timeout_s: float) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._generation != since or self._cancelled, timeout_s)
            self._cancelled = False

    def cancel_wait(self) -> None:
        with self._lock:
            self._cancelled = True
            self._lock.notify_all()

    def _check_service(self) -> None:
        """Called with the lock held."""
        error, self._error = self._error, None
        if error is not None:
            raise error
        if not self._service:
            raise PcscUnavailable("Service not available")

    def _transmit(self, session: _SimulatedConnection, apdu: bytes) -> tuple[bytes, int, int]:
        with self._lock:
            self._check_service()
            if not self._plugged:
                raise ReaderGone(self.reader_name)
            if session.generation != self._generation:
                raise NoCard("card removed")
            self.apdus.append(apdu)
            session.used = True
        return session.respond(apdu)

    def _disconnected(self, session: _SimulatedConnection) -> None:
        with self._lock:
            if session.used and session.card.tap and session.generation == self._generation:
                self._card = None
                self._generation += 1
                self._lock.notify_all()


class _SimulatedConnection:
    """A connection to the card: the reader's key slot and the authenticated sector."""

    def __init__(self, backend: SimulatedPcscBackend, card: SimulatedCard, generation: int):
        self._backend = backend
        self.card = card
        self.generation = generation
        self.used = False
        self._loaded_key: bytes | None = None
        self._sector: int | None = None
        self._desfire = _desfire_session(card.desfire) if card.desfire else None
        self._plus = _plus_session(card.plus) if card.plus is not None else None

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        return self._backend._transmit(self, apdu)

    def disconnect(self) -> None:
        self._backend._disconnected(self)

    def respond(self, apdu: bytes) -> tuple[bytes, int, int]:
        """The reader's answer to a PC/SC part 3 storage card command."""
        header = apdu[:4]
        if apdu[:1] == bytes([WRAP_CLA]):
            # Passed through to the card: a DESFire card answers, a Classic card does not.
            return self._desfire.respond(apdu) if self._desfire else FAILED
        if apdu[:1] != b"\xff" and self._plus is not None:
            return self._plus.respond(apdu)  # a MIFARE Plus native command, passed through
        if apdu == bytes.fromhex("FFCA000000"):
            return self.card.uid, 0x90, 0x00
        if header == bytes.fromhex("FF820000") and len(apdu) == 11 and apdu[4] == 6:
            self._loaded_key = apdu[5:11]
            return OK
        if header == bytes.fromhex("FF860000") and len(apdu) == 10 and apdu[4:7] == b"\x05\x01\x00":
            return self._authenticate(apdu[7], apdu[8])
        if header[:3] == bytes.fromhex("FFB000") and len(apdu) == 5:
            return self._read(apdu[3], apdu[4])
        return UNKNOWN

    def _authenticate(self, block: int, key_code: int) -> tuple[bytes, int, int]:
        self._sector = None
        if key_code not in (0x60, 0x61) or self._loaded_key != self.card.key:
            return FAILED
        self._sector = block // 4
        return OK

    def _read(self, block: int, length: int) -> tuple[bytes, int, int]:
        if self._sector is None or block // 4 != self._sector:
            return NOT_AUTHENTICATED
        if length != BLOCK_BYTES:
            return FAILED
        return self.card.block(block), 0x90, 0x00


def _desfire_session(applications: tuple[DesfireApplication, ...]) -> DesfireCardSession:
    from gateway.hw.desfire_sim import DesfireCardSession

    return DesfireCardSession(applications)


def _plus_session(content: PlusCardContent) -> PlusCardSession:
    from gateway.hw.mifare_plus_sim import PlusCardSession

    return PlusCardSession(content)
