"""PC/SC card readers (ACR122U, HID Omnikey and other CCID readers) through pcscd.

pyscard is blocking, so each reader polls in a thread of its own and hands credentials to
the event loop with `loop.call_soon_threadsafe`. The thread never dies: a library error is
logged, counted and retried with a back-off.

Every poll lists the readers (so a reader unplugged, plugged back, or pcscd restarting is
noticed) and tries to connect to a card. A card counts once per presentation: while the
connection keeps succeeding, the card is "held" and no APDU is sent to it. A presentation
ends when a connection fails with "no card"; the same UID then counts again only after
`debounce_s`, so a card wobbling at the edge of the field does not open the door twice.

Three modes (docs/readers.md):
- UID: `FF CA 00 00 00` (PC/SC part 3 Get Data); the credential is
  `reader_canonical(uid, card_byte_order, card_bytes)`.
- MIFARE block ("encrypted card", `mifare_sector` set): load the key into the reader's
  volatile slot 0, authenticate the block, read its 16 bytes; the credential is the block
  content as hex. `card_byte_order` and `card_bytes` do not apply: the block is data written
  by the card issuer, not a number the reader reorders. The UID is still read first, as the
  identity of the presentation (debounce) and for diagnostics; a block is never shown in
  status(), only its length, and the key never leaves this module.
- DESFire (`desfire_app_id` set): select the application, authenticate with the AES key
  (AuthenticateEV2First, or AuthenticateAES for EV1) or a DES-family key (Authenticate 0A,
  AuthenticateISO 1A: `desfire_crypto`), read the credential from the file in
  its communication mode (`gateway.hw.desfire`, docs/desfire.md). The UID is read first,
  as for a block.
- MIFARE Plus SL3 (`mfp_block` set): AES First Authenticate with the block's sector key,
  each configured key in turn, then a read of the block with MACs on command and answer
  (`gateway.hw.mifare_plus`, docs/desfire.md "MIFARE Plus"). The UID is read first too.

A card that gives no credential in a secure-card mode (its authentication fails, it is
not the right kind of card, the read is cut short or garbled) is delivered as a refusal
(`Credential.refusal`, the journal reason `card_<result>`), so it is journaled as denied
and the reader shows red; a copied UID never becomes a credential.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from gateway.cardnumbers import reader_canonical
from gateway.clock import Clock
from gateway.hw.reader_base import ReaderSink
from gateway.model import Credential
from gateway.settings import ReaderSettings

if TYPE_CHECKING:
    # Loaded only for a reader configured to read a secure card (see `desfire_card`).
    from gateway.hw.desfire import DesfireCard
    from gateway.hw.mifare_plus import PlusCard

log = logging.getLogger(__name__)

GET_UID = bytes.fromhex("FFCA000000")
SW_OK = (0x90, 0x00)
SHORT_ANSWER = (0x6F, 0x00)
BLOCK_BYTES = 16
RECENT_READS = 20
MAX_BACKOFF_S = 5.0
# A reader at rest waits for pcscd to report a change (SCardGetStatusChange) instead of
# polling; it still looks once this often, whatever pcscd says.
IDLE_LOOK_S = 1.0
BACKOFF_STEPS = 8  # poll interval doubled at most this often (then MAX_BACKOFF_S caps it)
CLOSE_TIMEOUT_S = 1.0
# Results of a secure-card read that are journaled as refusals ("card_" + result).
CARD_REFUSALS = frozenset(
    {"load_key_failed", "auth_failed", "read_failed", "not_desfire", "no_application"}
)


class NoCard(Exception):
    """No card in the reader, or the card left during a command."""


class ReaderGone(Exception):
    """pcscd does not (or no longer) know the named reader."""


class PcscUnavailable(Exception):
    """pcscd cannot be reached (not running, restarting, or its socket is missing)."""


class PcscConnection(Protocol):
    """A connection to the card in one reader."""

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        """Send a command APDU; returns (data, sw1, sw2). Raises NoCard or ReaderGone."""
        ...

    def disconnect(self) -> None:
        """Leave the card as it is (powered) and free the connection."""
        ...


class PcscBackend(Protocol):
    """The few PC/SC operations a reader needs: the seam between pyscard and a fake."""

    name: str  # what the reader's status() calls its backend: "pcscd", "simulated"

    def reader_names(self) -> list[str]:
        """Names of the readers pcscd knows now. Raises PcscUnavailable."""
        ...

    def connect(self, reader_name: str) -> PcscConnection:
        """Connect to the card in that reader. Raises NoCard, ReaderGone, PcscUnavailable."""
        ...

    def reader_state(self, reader_name: str) -> int | None:
        """A token of the reader's state now (a card in or out, and how many times that
        changed); None when it cannot tell. Never raises."""
        ...

    def wait_for_change(self, reader_name: str, since: int, timeout_s: float) -> None:
        """Return once the reader's state is no longer `since` (a card came or went, the
        reader went), after `timeout_s`, or at `cancel_wait`. Never raises."""
        ...

    def cancel_wait(self) -> None:
        """End a `wait_for_change` in progress (from another thread)."""
        ...


def load_key_apdu(key: bytes) -> bytes:
    """PC/SC part 3 Load Keys into the reader's volatile key slot 0 (as on an ACR122U)."""
    if len(key) != 6:
        raise ValueError("a MIFARE Classic key is 6 bytes")
    return bytes([0xFF, 0x82, 0x00, 0x00, 0x06]) + key


def authenticate_apdu(block: int, key_type: Literal["A", "B"]) -> bytes:
    """PC/SC part 3 General Authenticate of `block` with the key in slot 0."""
    key_code = 0x60 if key_type == "A" else 0x61
    return bytes([0xFF, 0x86, 0x00, 0x00, 0x05, 0x01, 0x00, block, key_code, 0x00])


def read_binary_apdu(block: int) -> bytes:
    """PC/SC part 3 Read Binary of one 16-byte MIFARE block."""
    return bytes([0xFF, 0xB0, 0x00, block, BLOCK_BYTES])


def match_reader(names: Sequence[str], device: str) -> str | None:
    """The first reader whose name contains `device` (case-insensitive); any when empty."""
    wanted = device.casefold()
    return next((name for name in names if wanted in name.casefold()), None)


@dataclass(frozen=True)
class BlockMode:
    """Where the "encrypted card" credential lives and how to open it."""

    block: int  # absolute block number: sector * 4 + block
    key: bytes = field(repr=False)  # a secret: kept out of repr, logs and status
    key_type: Literal["A", "B"] = "A"

    @classmethod
    def from_settings(cls, settings: ReaderSettings) -> BlockMode | None:
        """The block mode configured for this reader, or None for UID mode."""
        if settings.mifare_sector is None:
            return None
        try:
            key = bytes.fromhex(settings.mifare_key)
        except ValueError:
            key = b""
        if len(key) != 6:
            # The value itself is never repeated: it is a secret.
            raise ValueError(f"reader {settings.name}: mifare_key must be 12 hex digits")
        block = settings.mifare_sector * 4 + settings.mifare_block
        return cls(block, key, settings.mifare_key_type)


def desfire_card(settings: ReaderSettings) -> DesfireCard | None:
    """The DESFire card configured for this reader, or None when it reads no DESFire."""
    if not settings.desfire_app_id:
        return None
    if settings.mifare_sector is not None:
        raise ValueError(
            f"reader {settings.name}: mifare_sector and desfire_app_id exclude each other"
        )
    from gateway.hw.desfire import KEY_BYTES, DesfireCard

    try:
        key = bytes.fromhex(settings.desfire_key)
    except ValueError:
        key = b""
    size = KEY_BYTES[settings.desfire_crypto]
    if len(key) != size:
        # The value itself is never repeated: it is a secret.
        raise ValueError(
            f"reader {settings.name}: desfire_key must be {2 * size} hex digits "
            f"for desfire_crypto {settings.desfire_crypto!r}"
        )
    return DesfireCard(
        app_id=int(settings.desfire_app_id, 16),
        key_number=settings.desfire_key_number,
        key=key,
        file_number=settings.desfire_file_number,
        offset=settings.desfire_offset,
        length=settings.desfire_length,
        comm_mode=settings.desfire_comm_mode,
        value_format=settings.desfire_value,
        auth=settings.desfire_auth,
        crypto=settings.desfire_crypto,
    )


def plus_card(settings: ReaderSettings) -> PlusCard | None:
    """The MIFARE Plus SL3 block configured for this reader, or None when it reads none."""
    if settings.mfp_block is None:
        return None
    if settings.mifare_sector is not None or settings.desfire_app_id:
        raise ValueError(
            f"reader {settings.name}: mfp_block excludes mifare_sector and desfire_app_id"
        )
    if not settings.mfp_keys:
        raise ValueError(f"reader {settings.name}: mfp_block needs mfp_keys")
    if settings.mfp_offset + settings.mfp_length > BLOCK_BYTES:
        raise ValueError(f"reader {settings.name}: mfp_offset + mfp_length beyond the block")
    from gateway.hw.mifare_plus import PlusCard

    return PlusCard(
        block=settings.mfp_block,
        keys=tuple(bytes.fromhex(key) for key in settings.mfp_keys),
        key_type=settings.mfp_key_type,
        read_mode=settings.mfp_read_mode,
        offset=settings.mfp_offset,
        length=settings.mfp_length,
        value_format=settings.mfp_value,
    )


@dataclass(frozen=True)
class ReadOutcome:
    """What one presentation produced: a credential value, or the reason it has none."""

    value: str | None
    result: str  # "accepted" or a rejection reason
    block_length: int | None = None
    detail: str = ""  # why a secure card was refused, in words without secrets


def read_block(conn: PcscConnection, mode: BlockMode) -> ReadOutcome:
    """Load the key, authenticate and read the configured block."""
    try:
        _, *sw = conn.transmit(load_key_apdu(mode.key))
        if tuple(sw) != SW_OK:
            return ReadOutcome(None, "load_key_failed")
        _, *sw = conn.transmit(authenticate_apdu(mode.block, mode.key_type))
        if tuple(sw) != SW_OK:
            return ReadOutcome(None, "auth_failed")
        data, *sw = conn.transmit(read_binary_apdu(mode.block))
    except NoCard:
        # Pulled away half-way: the reader saw a card, so the installer should see why.
        return ReadOutcome(None, "read_failed")
    if tuple(sw) != SW_OK or len(data) != BLOCK_BYTES:
        return ReadOutcome(None, "read_failed", len(data))
    return ReadOutcome(data.hex().upper(), "accepted", len(data))


def read_uid(conn: PcscConnection) -> bytes | None:
    """The card's UID (Get Data), or None when the reader cannot give one."""
    data, *sw = conn.transmit(GET_UID)
    return data if tuple(sw) == SW_OK and data else None


@dataclass
class PcscStats:
    """Counters and recent reads for status(); guarded by the reader's lock."""

    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    debounced: int = 0
    disconnects: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: str | None = None
    last_seen: float | None = None
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_READS))


@dataclass
class Presence:
    """Which card is on the reader, and which one left last and when (for debounce)."""

    uid: bytes | None = None  # None: no card; b"": a card whose UID could not be read
    last_uid: bytes | None = None
    removed_at: float = float("-inf")  # monotonic: debounce is a duration

    def removed(self, now: float) -> None:
        if self.uid is not None:
            self.last_uid, self.removed_at, self.uid = self.uid, now, None

    def bounced(self, uid: bytes, now: float, debounce_s: float) -> bool:
        """The same card came back too soon after leaving to count as a new presentation."""
        return uid == self.last_uid and now - self.removed_at < debounce_s


class PcscReader:
    """A card reader behind pcscd (`kind = "pcsc"`): UIDs or a MIFARE block as credentials.

    `clock` stamps reads (wall) and times the removal debounce (monotonic)."""

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        backend: PcscBackend,
        clock: Clock,
        poll_interval_s: float = 0.2,
    ) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self.backend = backend
        self._loop = loop
        self._sink = sink
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._block_mode = BlockMode.from_settings(settings)
        self._desfire = desfire_card(settings)
        self._plus = plus_card(settings)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = PcscStats()
        self._presence = Presence()
        self._online = False
        self._ever_online = False
        self._offline_reason: str | None = "not started"
        self._reader_name: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in a thread of its own (pyscard blocks)."""
        if self._thread is not None:
            raise RuntimeError(f"reader {self.name} already started")
        with self._lock:
            self._offline_reason = "looking for the reader"
        self._thread = threading.Thread(target=self._run, name=f"pcsc-{self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop polling; returns within about a second even if pcscd hangs."""
        self._stop.set()
        self.backend.cancel_wait()
        if self._thread is not None:
            self._thread.join(CLOSE_TIMEOUT_S)
            if self._thread.is_alive():
                # A daemon thread: it cannot keep the process alive, only finish its call.
                log.warning("PC/SC reader %s: poll thread still in a pcscd call", self.name)

    def _run(self) -> None:
        if self._desfire is not None or self._plus is not None:
            self._load_cryptography()
        failures = 0
        while not self._stop.is_set():
            reader_name = self._reader_name if self._online else None
            # Taken before the poll, so a card that comes during it ends the wait at once.
            state = None if reader_name is None else self.backend.reader_state(reader_name)
            try:
                self.poll_once()
                failures = 0
            except Exception as exc:  # the thread must outlive any library surprise
                failures = min(failures + 1, BACKOFF_STEPS)
                self._note_error(exc, traceback=failures == 1)
            if self._stop.is_set():
                break
            if failures == 0 and reader_name is not None and state is not None:
                self.backend.wait_for_change(reader_name, state, IDLE_LOOK_S)
            else:  # no reader yet, pcscd silent, or errors: poll, with back-off
                delay = self._poll_interval_s * 2**failures
                self._stop.wait(min(delay, MAX_BACKOFF_S))

    def _load_cryptography(self) -> None:
        """Imported here, in the poll thread: the loop never waits, nor the first card."""
        try:
            from gateway.hw.desfire import load_cryptography

            load_cryptography()
        except Exception as exc:  # every read then fails closed, as read_failed
            self._note_error(exc, traceback=True)

    def _note_error(self, exc: Exception, traceback: bool = False) -> None:
        """Count and log an unexpected error; the first of a run with its traceback."""
        log.warning(
            "PC/SC reader %s: %s: %s", self.name, type(exc).__name__, exc, exc_info=traceback
        )
        with self._lock:
            self.stats.errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"

    # -- one poll ----------------------------------------------------------------------

    def poll_once(self) -> None:
        """Look for the reader and the card once (the thread's body; tests call it too)."""
        reader_name = self._find_reader()
        if reader_name is None:
            return
        conn = self._connect(reader_name)
        if conn is None:
            return
        try:
            self._card_present(conn)
        finally:
            _disconnect_quietly(conn)

    def _find_reader(self) -> str | None:
        try:
            names = self.backend.reader_names()
        except PcscUnavailable as exc:
            self._set_offline(_reason("pcscd not reachable", exc))
            return None
        reader_name = match_reader(names, self.settings.device)
        if reader_name is None:
            self._set_offline(self._no_reader_reason())
        return reader_name

    def _connect(self, reader_name: str) -> PcscConnection | None:
        try:
            conn = self.backend.connect(reader_name)
        except NoCard:
            self._set_online(reader_name)
            self._card_absent()
            return None
        except ReaderGone as exc:
            self._set_offline(_reason("reader gone", exc))
            return None
        except PcscUnavailable as exc:
            self._set_offline(_reason("pcscd not reachable", exc))
            return None
        self._set_online(reader_name)
        return conn

    def _no_reader_reason(self) -> str:
        if self.settings.device:
            return f"no PC/SC reader matching {self.settings.device!r}"
        return "no PC/SC reader"

    def _card_absent(self) -> None:
        with self._lock:
            self._presence.removed(self._clock.monotonic())

    def _card_present(self, conn: PcscConnection) -> None:
        if self._presence.uid is not None:
            return  # held: one credential per presentation, and no APDU traffic
        try:
            uid = read_uid(conn)
        except NoCard:
            self._card_absent()
            return
        now, mono = self._clock.time(), self._clock.monotonic()
        with self._lock:
            self._presence.uid = uid or b""
            bounced = uid is not None and self._presence.bounced(
                uid, mono, self.settings.debounce_s
            )
        if uid is None:
            self._record(now, None, ReadOutcome(None, "no_uid"))
        elif bounced:
            self._record(now, uid, ReadOutcome(None, "debounced"))
        else:
            self._record(now, uid, self._read_credential(conn, uid))

    def _read_credential(self, conn: PcscConnection, uid: bytes) -> ReadOutcome:
        if self._desfire is not None:
            return self._read_desfire(conn, self._desfire)
        if self._plus is not None:
            return self._read_desfire(conn, self._plus)
        if self._block_mode is not None:
            try:
                return read_block(conn, self._block_mode)
            except Exception as exc:  # the card was seen: a rejection, not just an error
                self._note_error(exc)
                return ReadOutcome(None, "read_failed")
        value = reader_canonical(uid, self.settings.card_byte_order, self.settings.card_bytes)
        return ReadOutcome(value, "accepted")

    def _read_desfire(self, conn: PcscConnection, card: DesfireCard | PlusCard) -> ReadOutcome:
        """A secure card (DESFire or MIFARE Plus): its number, or why it gave none."""
        from gateway.hw import mifare_plus
        from gateway.hw.desfire import DesfireRefused, read_card_number
        from gateway.hw.mifare_plus import PlusCard

        try:
            if isinstance(card, PlusCard):
                value = mifare_plus.read_card_number(conn.transmit, card)
            else:
                value = read_card_number(conn.transmit, card)
        except DesfireRefused as refused:
            return ReadOutcome(None, refused.reason, detail=str(refused))
        except NoCard:
            return ReadOutcome(None, "read_failed", detail="the card left during the read")
        except Exception as exc:  # the card was seen: a refusal, not just an error
            self._note_error(exc)
            return ReadOutcome(None, "read_failed", detail=type(exc).__name__)
        return ReadOutcome(value, "accepted")

    def _mode(self) -> str:
        if self._desfire is not None:
            return "desfire"
        if self._plus is not None:
            return "mifare_plus"
        return "uid" if self._block_mode is None else "mifare_block"

    def _record(self, now: float, uid: bytes | None, outcome: ReadOutcome) -> None:
        """Count the presentation, remember it for diagnostics, deliver a credential (or
        a secure card's refusal, to be journaled)."""
        uid_hex = uid.hex().upper() if uid else ""
        record: dict[str, Any] = {"time": now, "uid": uid_hex or None}
        if self._block_mode is not None:
            record["block_length"] = outcome.block_length  # never the content: a secret
        record["result"] = outcome.result
        if outcome.detail:
            record["detail"] = outcome.detail
        with self._lock:
            self.stats.last_seen = now
            self.stats.recent.append(record)
            if outcome.result == "debounced":
                self.stats.debounced += 1
            elif outcome.value is None:
                self.stats.rejected[outcome.result] = self.stats.rejected.get(outcome.result, 0) + 1
            else:
                self.stats.accepted += 1
        if outcome.value is not None:
            raw = uid_hex if self._mode() == "uid" else ""
            self._deliver(Credential("card", outcome.value, self.name, now, raw=raw))
        elif outcome.result in CARD_REFUSALS:
            refusal = f"card_{outcome.result}"
            log.info("PC/SC reader %s: card %s refused, %s", self.name, uid_hex, refusal)
            self._deliver(Credential("card", "", self.name, now, raw=uid_hex, refusal=refusal))

    def _deliver(self, credential: Credential) -> None:
        try:
            self._loop.call_soon_threadsafe(self._sink.credential, credential)
        except RuntimeError:
            log.warning("PC/SC reader %s: event loop closed, card dropped", self.name)

    # -- online state --------------------------------------------------------------------

    def _set_online(self, reader_name: str) -> None:
        with self._lock:
            if self._online and reader_name == self._reader_name:
                return
            if not self._online and self._ever_online:
                self.stats.reconnects += 1
            self._online, self._ever_online = True, True
            self._offline_reason, self._reader_name = None, reader_name
        log.info("PC/SC reader %s online: %s", self.name, reader_name)

    def _set_offline(self, reason: str) -> None:
        with self._lock:
            if not self._online and reason == self._offline_reason:
                return
            if self._online:
                self.stats.disconnects += 1
            self._online, self._offline_reason = False, reason
        log.warning("PC/SC reader %s offline: %s", self.name, reason)

    # -- diagnostics -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "kind": self.kind,
                "door": self.settings.door,
                "direction": self.settings.direction,
                "backend": self.backend.name,
                "mode": self._mode(),
                "online": self._online,
                "offline_reason": self._offline_reason,
                "device": self.settings.device,
                "reader_name": self._reader_name,
                "card_present": self._online and self._presence.uid is not None,
                "last_seen": self.stats.last_seen,
                "frames_accepted": self.stats.accepted,
                "frames_rejected": dict(self.stats.rejected),
                "frames_debounced": self.stats.debounced,
                "disconnects": self.stats.disconnects,
                "reconnects": self.stats.reconnects,
                "errors": self.stats.errors,
                "last_error": self.stats.last_error,
                "recent": [dict(record) for record in self.stats.recent],
            }


def _reason(what: str, exc: Exception) -> str:
    return f"{what}: {exc}" if str(exc) else what


def _disconnect_quietly(conn: PcscConnection) -> None:
    """Free the connection; a card or daemon already gone is no error here."""
    try:
        conn.disconnect()
    except Exception as exc:  # the next poll reports the state that matters
        log.debug("PC/SC disconnect failed: %s", exc)


class PyscardBackend:
    """PC/SC through pyscard and the system's pcscd.

    Each call opens its own PC/SC context (pyscard's high-level API), so a pcscd restart
    needs no special handling: the next poll simply reaches the new daemon.
    """

    name = "pcscd"

    def __init__(self) -> None:
        # Imported here so the daemon on the simulated backend needs no libpcsclite.
        from smartcard import scard

        self._scard: Any = scard
        self._wait_lock = threading.Lock()  # _waiting_context: the poll thread and close()
        self._waiting_context: Any = None
        self._cancelled = False
        # Our exception for each PC/SC result code that means something to the reader.
        self._meanings: list[tuple[set[int], type[Exception]]] = [
            # The card left mid-command; vpcd and CCID readers may say so as a failed
            # transaction.
            (
                _codes(
                    scard.SCARD_W_REMOVED_CARD,
                    scard.SCARD_E_NO_SMARTCARD,
                    scard.SCARD_W_RESET_CARD,
                    scard.SCARD_E_NOT_TRANSACTED,
                ),
                NoCard,
            ),
            (
                _codes(
                    scard.SCARD_E_UNKNOWN_READER,
                    scard.SCARD_E_READER_UNAVAILABLE,
                    scard.SCARD_E_NO_READERS_AVAILABLE,
                ),
                ReaderGone,
            ),
            (_codes(scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED), PcscUnavailable),
        ]

    def reader_names(self) -> list[str]:
        from smartcard.Exceptions import SmartcardException
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
        from smartcard.System import readers

        try:
            return [str(reader) for reader in readers()]
        except (SmartcardException, BaseSCardException) as exc:
            raise PcscUnavailable(_message(exc)) from exc

    def connect(self, reader_name: str) -> PcscConnection:
        from smartcard.Exceptions import CardConnectionException, NoCardException
        from smartcard.pcsc.PCSCReader import PCSCReader

        try:
            connection = PCSCReader(reader_name).createConnection()
        except CardConnectionException as exc:  # no context: pcscd is not there
            self.reraise(exc)
        try:
            connection.connect(disposition=self._scard.SCARD_LEAVE_CARD)
        except NoCardException as exc:
            _release_quietly(connection)
            raise NoCard(reader_name) from exc
        except CardConnectionException as exc:
            _release_quietly(connection)
            self.reraise(exc)
        return _PyscardConnection(connection, self)

    def reader_state(self, reader_name: str) -> int | None:
        scard = self._scard
        with self._wait_lock:
            context = self._wait_context()
        if context is None:
            return None
        try:
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(reader_name, scard.SCARD_STATE_UNAWARE)]
            )
        except Exception as exc:  # pyscard raises for a malformed call, not for pcscd
            log.debug("PC/SC state of %s: %s", reader_name, exc)
            return None
        if hresult != scard.SCARD_S_SUCCESS or not states:
            self._drop_wait_context()  # pcscd restarted, or the reader went
            return None
        # The event count (upper 16 bits) changes with every insertion and removal, so
        # a card that came and went between two looks still differs.
        return int(states[0][1]) & ~int(scard.SCARD_STATE_CHANGED)

    def wait_for_change(self, reader_name: str, since: int, timeout_s: float) -> None:
        scard = self._scard
        with self._wait_lock:
            if self._cancelled:  # cancelled before the wait began: SCardCancel missed it
                self._cancelled = False
                return
            context = self._wait_context()
        if context is None:
            return
        try:
            hresult, _ = scard.SCardGetStatusChange(
                context, int(timeout_s * 1000), [(reader_name, since)]
            )
        except Exception as exc:
            log.debug("PC/SC wait on %s: %s", reader_name, exc)
            return
        if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            self._drop_wait_context()

    def cancel_wait(self) -> None:
        with self._wait_lock:
            self._cancelled = True  # for a wait about to begin
            context = self._waiting_context
        if context is not None:
            try:
                self._scard.SCardCancel(context)
            except Exception as exc:  # pcscd gone: the wait ends by itself
                log.debug("PC/SC cancel: %s", exc)

    def _wait_context(self) -> Any:
        """The context kept for state reads and waits (called with `_wait_lock`); None
        while pcscd cannot be reached."""
        if self._waiting_context is None:
            try:
                hresult, context = self._scard.SCardEstablishContext(self._scard.SCARD_SCOPE_USER)
            except Exception as exc:
                log.debug("PC/SC context: %s", exc)
                return None
            if hresult != self._scard.SCARD_S_SUCCESS:
                return None
            self._waiting_context = context
        return self._waiting_context

    def _drop_wait_context(self) -> None:
        with self._wait_lock:
            context, self._waiting_context = self._waiting_context, None
        if context is not None:
            try:
                self._scard.SCardReleaseContext(context)
            except Exception as exc:
                log.debug("PC/SC context release: %s", exc)

    def reraise(self, exc: Exception) -> NoReturn:
        """Raise our exception for a pyscard one, by its PC/SC result code; else itself."""
        hresult = _unsigned(getattr(exc, "hresult", -1))
        for codes, ours in self._meanings:
            if hresult in codes:
                raise ours(_message(exc)) from exc
        raise exc


class _PyscardConnection:
    """A pyscard card connection behind the PcscConnection protocol."""

    def __init__(self, connection: Any, backend: PyscardBackend) -> None:
        self._connection = connection
        self._backend = backend

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        from smartcard.Exceptions import CardConnectionException

        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except CardConnectionException as exc:
            if _unsigned(getattr(exc, "hresult", -1)) == 0:
                # Delivered, but under two bytes: a MIFARE Plus error is one status byte,
                # which pyscard does not hand over. Said as "no precise diagnosis" (6F00):
                # a failure to whoever sent the command, never a success.
                return b"", *SHORT_ANSWER
            self._backend.reraise(exc)
        return bytes(data), int(sw1), int(sw2)

    def disconnect(self) -> None:
        # release() disconnects and frees the context pyscard opened for this connection;
        # left to the garbage collector, contexts pile up in pcscd (200 per client).
        self._connection.release()


def _release_quietly(connection: Any) -> None:
    try:
        connection.release()
    except Exception as exc:  # pcscd may already be gone; nothing left to free then
        log.debug("PC/SC context release failed: %s", exc)


def _codes(*codes: int) -> set[int]:
    return {_unsigned(code) for code in codes}


def _unsigned(code: int) -> int:
    """PC/SC codes come signed or unsigned depending on the platform: compare them as u32."""
    return code & 0xFFFFFFFF


def _message(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
