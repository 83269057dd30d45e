"""Serial readers: RDM6300 125 kHz card modules and line-based scanners (QR codes,
barcodes, licence plates, USB-serial card readers that print a number per line).

Each reader owns one thread that blocks on its pyserial port and hands whatever it
decoded to the event loop with `loop.call_soon_threadsafe` (DESIGN.md, habit 4). A read
waits up to a second (a quiet reader wakes once a second; `close()` cancels the read), and
a port that fails (USB unplug) is reopened with exponential back-off while status() shows the reader
offline: a reader never stops the daemon. Decoding is done by small pure classes
(`Rdm6300Decoder`, `LineDecoder`) so it can be tested without a port. See docs/readers.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from operator import xor
from typing import Any, Protocol

import serial

from gateway.cardnumbers import reader_canonical
from gateway.clock import Clock
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.model import Credential, CredentialKind, shown_credential
from gateway.settings import ReaderSettings

log = logging.getLogger(__name__)

# How long a read waits for a byte: how soon a port that vanished quietly is noticed, and
# the thread's wake-ups at rest. close() cancels the read (pyserial's cancel_read).
READ_TIMEOUT_S = 1.0
CLOSE_WAIT_S = 2.0  # close() waits this long for the thread (normally it stops at once)
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
RECENT_FRAMES = 20
RAW_CAP = 64  # diagnostics keep only the start of a frame
MAX_VALUE_CHARS = 256
MAX_LINE_BYTES = 1024
STX, ETX = 0x02, 0x03
RDM6300_FRAME_BYTES = 14  # STX, 10 hex digits of data, 2 of checksum, ETX
MAX_GARBAGE_BYTES = 64
MAX_CARD_BYTES = 10  # the longest UID the store accepts (20 hex digits)
MIN_DECIMAL_CARD_BYTES = 4  # a printed 10-digit card number is the card's last 4 bytes

_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
_DEC_DIGITS = re.compile(r"[0-9]+")
_LINE_END = re.compile(rb"[\r\n]")


class SerialPort(Protocol):
    """What the reader needs from a port: pyserial's `Serial`, opened with a read timeout."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


OpenPort = Callable[[str, int], SerialPort]


@dataclass(frozen=True)
class SerialLink:
    """Where a serial reader's bytes come from (the serial part of `Hardware`): the path
    it opens with pyserial (a /dev port, or a pseudo-terminal in simulation) and the
    backend its `status()` names."""

    path: str
    backend: str = "pyserial"


def open_serial_port(path: str, baudrate: int) -> SerialPort:
    """Open `path` with pyserial: 8N1, a read timeout, and an exclusive lock so a second
    process (another gateway, a stray terminal) cannot silently steal half the bytes."""
    port: SerialPort = serial.Serial(path, baudrate, timeout=READ_TIMEOUT_S, exclusive=True)
    return port


@dataclass(frozen=True)
class DecodedFrame:
    """One frame or line as received: the canonical value, or why it was rejected."""

    raw: bytes
    value: str | None = None
    reason: str = "accepted"


def escape(data: bytes, cap: int | None = None) -> str:
    """Bytes as readable text: printable ASCII as is, anything else as \\xNN; at most
    `cap` characters (the last one an ellipsis when cut)."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)
    return _cap(text, cap)


def hidden_text(data: bytes, cap: int | None = None) -> str:
    """A secret frame (a QR code) as diagnostics show it: each byte of text a `*`, framing
    and control bytes as \\xNN, so line ends and STX/ETX stay visible and the code does not."""
    text = "".join("*" if b >= 0x20 and b != 0x7F else f"\\x{b:02x}" for b in data)
    return _cap(text, cap)


def _cap(text: str, cap: int | None) -> str:
    if cap is None or len(text) <= cap:
        return text
    return text[: cap - 1] + "…"


class Rdm6300Decoder:
    """RDM6300 / EM4100 frames: STX, 10 hex digits (version byte + 4 bytes), 2 hex digits
    of checksum (XOR of the 5 bytes), ETX.

    Bytes outside a frame are dropped as "garbage" (one run between frames counts once);
    a frame cut short by the next STX or not ending in ETX is dropped as "length", so the
    decoder is back in step at the next STX. All-zero and all-FF data pass the checksum
    but are what a module emits on electrical noise, so they are dropped as "noise".
    """

    kind: CredentialKind = "card"

    def __init__(self, settings: ReaderSettings) -> None:
        self._byte_order = settings.card_byte_order
        self._card_bytes = settings.card_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[DecodedFrame]:
        """Decode everything complete in the bytes received so far."""
        self._buffer += data
        frames: list[DecodedFrame] = []
        while (frame := self._next_frame()) is not None:
            frames.append(frame)
        return frames

    def _take(self, count: int) -> bytes:
        taken = bytes(self._buffer[:count])
        del self._buffer[:count]
        return taken

    def _next_frame(self) -> DecodedFrame | None:
        start = self._buffer.find(STX)
        if start == -1:
            # Hold garbage until a frame starts, so one run of it counts once however
            # the reads cut it; a long run (wrong baud rate?) is reported without waiting.
            if len(self._buffer) < MAX_GARBAGE_BYTES:
                return None
            start = len(self._buffer)
        if start > 0:  # bytes before the first STX can never become a frame
            return DecodedFrame(self._take(start), None, "garbage")
        restart = self._buffer.find(STX, 1, RDM6300_FRAME_BYTES)
        if restart != -1:  # a new frame began before this one could end
            return DecodedFrame(self._take(restart), None, "length")
        if len(self._buffer) < RDM6300_FRAME_BYTES:
            return None  # wait for the rest: frames may arrive in pieces
        return self._check(self._take(RDM6300_FRAME_BYTES))

    def _check(self, raw: bytes) -> DecodedFrame:
        if raw[-1] != ETX:
            return DecodedFrame(raw, None, "length")
        digits = raw[1:-1].decode("ascii", "replace")
        if not _HEX_DIGITS.fullmatch(digits):
            return DecodedFrame(raw, None, "format")
        data, checksum = bytes.fromhex(digits[:10]), int(digits[10:], 16)
        if reduce(xor, data) != checksum:
            return DecodedFrame(raw, None, "checksum")
        if data in (b"\x00" * 5, b"\xff" * 5):
            return DecodedFrame(raw, None, "noise")
        return DecodedFrame(raw, reader_canonical(data, self._byte_order, self._card_bytes))


def card_number_bytes(text: str, base: str = "auto") -> bytes | None:
    """The UID bytes a line-based card reader printed, or None if `text` is no number.

    `base` "dec" or "hex" is forced by naming the line_pattern's group `dec` or `hex`.
    "auto": only decimal digits means a decimal number (what 125 kHz readers print:
    the card's number, usually 10 digits); hex letters mean hex. A decimal number
    becomes big-endian bytes, at least 4 of them; odd-length hex gets a leading 0.
    """
    is_decimal = _DEC_DIGITS.fullmatch(text) is not None
    if base == "dec" or (base == "auto" and is_decimal):
        if not is_decimal:
            return None
        number = int(text)
        size = max(MIN_DECIMAL_CARD_BYTES, (number.bit_length() + 7) // 8)
        return number.to_bytes(size, "big") if size <= MAX_CARD_BYTES else None
    if not _HEX_DIGITS.fullmatch(text) or len(text) > 2 * MAX_CARD_BYTES:
        return None
    return bytes.fromhex(text.zfill(len(text) + len(text) % 2))


class LineDecoder:
    """Line-based scanners: one credential per line ended by CR, LF or CRLF.

    The line is stripped of white space and of STX/ETX framing some readers add. With a
    `line_pattern`, the line must match it completely and group 1 (or the whole line) is
    the value. A value is at most 256 printable characters. A card reader's value must be
    a number (see `card_number_bytes`). A line with no end within 1024 bytes is dropped
    as "overlong", together with whatever follows until the next line end.
    """

    def __init__(self, settings: ReaderSettings) -> None:
        self.kind: CredentialKind = settings.credential_kind
        self._pattern = re.compile(settings.line_pattern) if settings.line_pattern else None
        self._base = self._number_base(self._pattern)
        self._byte_order = settings.card_byte_order
        self._card_bytes = settings.card_bytes
        self._buffer = bytearray()
        self._skipping = False

    @staticmethod
    def _number_base(pattern: re.Pattern[str] | None) -> str:
        names = pattern.groupindex if pattern is not None else {}
        return "dec" if "dec" in names else "hex" if "hex" in names else "auto"

    def feed(self, data: bytes) -> list[DecodedFrame]:
        """Decode every line completed by these bytes."""
        if self._skipping:  # the rest of an overlong line, already counted
            end = _LINE_END.search(data)
            if end is None:
                return []
            self._skipping, data = False, data[end.end() :]
        self._buffer += data
        frames = self._complete_lines()
        if len(self._buffer) > MAX_LINE_BYTES:
            frames.append(DecodedFrame(bytes(self._buffer), None, "overlong"))
            self._buffer.clear()
            self._skipping = True
        return frames

    def _complete_lines(self) -> list[DecodedFrame]:
        *lines, rest = _LINE_END.split(bytes(self._buffer))
        self._buffer = bytearray(rest)
        decoded = (self._line(line) for line in lines)
        return [frame for frame in decoded if frame is not None]

    def _line(self, raw: bytes) -> DecodedFrame | None:
        if len(raw) > MAX_LINE_BYTES:  # arrived whole in one read, but overlong all the same
            return DecodedFrame(raw, None, "overlong")
        try:
            text = raw.decode("utf-8").strip().strip("\x02\x03").strip()
        except UnicodeDecodeError:
            return DecodedFrame(raw, None, "encoding")
        if not text:
            return None  # the empty "line" between CR and LF, or a bare line end
        value, reason = self._value(text)
        return DecodedFrame(raw, value, reason)

    def _extract(self, text: str) -> str | None:
        """The part of the line that is the value, or None if it does not match."""
        if self._pattern is None:
            return text
        match = self._pattern.fullmatch(text)
        if match is None:
            return None
        value: str | None = match.group(1 if self._pattern.groups else 0)
        return value

    def _value(self, text: str) -> tuple[str | None, str]:
        value = self._extract(text)
        if not value:  # no match, or group 1 took no part in it
            return None, "pattern"
        if len(value) > MAX_VALUE_CHARS:
            return None, "length"
        if not value.isprintable():
            return None, "unprintable"
        if self.kind != "card":
            return value, "accepted"
        uid = card_number_bytes(value, self._base)
        if uid is None:
            return None, "card_number"
        return reader_canonical(uid, self._byte_order, self._card_bytes), "accepted"


class Decoder(Protocol):
    """Turns received bytes into frames; `kind` is what its values are."""

    kind: CredentialKind

    def feed(self, data: bytes) -> list[DecodedFrame]: ...


def make_decoder(settings: ReaderSettings) -> Decoder:
    """The decoder for the reader's `protocol` (RDM6300 frames are always cards)."""
    if settings.protocol == "rdm6300":
        return Rdm6300Decoder(settings)
    return LineDecoder(settings)


class Debouncer:
    """A value keeps arriving while a card is held (an RDM6300 repeats its frame every
    ~100 ms): report it once, and again only after `hold_s` without it."""

    def __init__(self, hold_s: float, monotonic: Callable[[], float]) -> None:
        self._hold_s = hold_s
        self._monotonic = monotonic
        # Per value, not just the last one: two cards in the field alternate frames. Kept
        # in the order last seen (the clock is monotonic), so the values away for `hold_s`
        # are at the front: each frame drops only those, never copies the rest (a busy
        # scanner sees a new code per line, and they all stay here for `hold_s`).
        self._last_seen: OrderedDict[str, float] = OrderedDict()

    def fresh(self, value: str) -> bool:
        """Whether `value` is new, not a repeat of a card still on the reader."""
        now = self._monotonic()
        last_seen = self._last_seen
        while last_seen and now - next(iter(last_seen.values())) >= self._hold_s:
            last_seen.popitem(last=False)
        fresh = value not in last_seen
        last_seen[value] = now
        last_seen.move_to_end(value)
        return fresh


@dataclass
class Backoff:
    """Delays between reopen attempts: 0.5 s doubling to 30 s, back to 0.5 s on success."""

    delay: float = BACKOFF_START_S

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.delay * 2, BACKOFF_MAX_S)
        return delay

    def reset(self) -> None:
        self.delay = BACKOFF_START_S


@dataclass
class FrameRecord:
    """One entry of status()'s recent frames."""

    time: float
    raw: str  # escaped and capped; a QR code's text hidden (`hidden_text`)
    value: str | None  # the full value, only to fold a held card's repeats
    parsed: str | None  # the value as status() shows it (a QR code as its fingerprint)
    result: str
    repeats: int = 0

    def as_dict(self) -> dict[str, Any]:
        record = {"time": self.time, "raw": self.raw, "parsed": self.parsed, "result": self.result}
        return record | ({"repeats": self.repeats} if self.repeats else {})


@dataclass
class SerialStats:
    """Counters and recent frames for status(); guarded by the reader's lock."""

    offline_reason: str | None = "not started"
    rejected: dict[str, int] = field(default_factory=dict)
    debounced: int = 0
    reopen_attempts: int = 0
    recent: deque[FrameRecord] = field(default_factory=lambda: deque(maxlen=RECENT_FRAMES))

    def record(self, frame: DecodedFrame, kind: CredentialKind, now: float, fresh: bool) -> None:
        """Count the frame and keep it in `recent`; a held card's repeats are folded into
        its latest record, so they do not push everything else out. A QR code is a bearer
        credential: its frames keep their framing and length, never their text."""
        if frame.value is None:
            self.rejected[frame.reason] = self.rejected.get(frame.reason, 0) + 1
        elif not fresh:
            self.debounced += 1
            if self.recent and self.recent[-1].value == frame.value:
                self.recent[-1].repeats += 1
                return
        result = frame.reason if frame.value is None or fresh else "debounced"
        if kind == "qr":
            raw = hidden_text(frame.raw, RAW_CAP)
            parsed = None if frame.value is None else shown_credential(kind, frame.value)
        else:
            raw = escape(frame.raw, RAW_CAP)
            parsed = None if frame.value is None else _cap(frame.value, RAW_CAP)
        self.recent.append(FrameRecord(now, raw, frame.value, parsed, result))


class SerialReader:
    """A reader on a serial port (`kind` "serial"), read by a thread of its own.

    `link` is the device to open (the configured `port` unless the hardware says
    otherwise); `open_port(path, baudrate)` opens it (pyserial by default; it must give
    reads a timeout). `clock` stamps credentials (wall) and times debounce (monotonic).
    `port_present` tells a port that vanished (USB unplug) from one that is merely quiet.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        clock: Clock,
        link: SerialLink | None = None,
        *,
        open_port: OpenPort = open_serial_port,
        port_present: Callable[[str], bool] = os.path.exists,
    ) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self.link = link or SerialLink(settings.port)
        self._loop = loop
        self._sink = sink
        self._open_port = open_port
        self._clock = clock
        self._port_present = port_present
        self._decoder = make_decoder(settings)
        self._debounce = Debouncer(settings.debounce_s, clock.monotonic)
        self._lock = threading.Lock()  # status() runs on the loop, counting on the thread
        self._health = ReaderHealth(online=False)
        self._stats = SerialStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: SerialPort | None = None  # the open port, for close() to cancel its read

    def start(self) -> None:
        """Start reading. Never raises for a missing port: the reader shows offline."""
        if self._thread is not None:
            return
        self._set_offline("opening port", quiet=True)
        self._thread = threading.Thread(
            target=self._run, name=f"serial-reader-{self.name}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (within one read timeout) and release the port."""
        self._stop.set()
        cancel_read = getattr(self._port, "cancel_read", None)
        if cancel_read is not None:
            with contextlib.suppress(Exception):  # the port may be closing under us
                cancel_read()
        if self._thread is not None:
            self._thread.join(CLOSE_WAIT_S)
            if self._thread.is_alive():
                log.warning("serial reader %s: thread did not stop in time", self.name)
        self._set_offline("closed", quiet=True)

    def status(self) -> dict[str, Any]:
        with self._lock:
            stats, health = self._stats, self._health
            return {
                "kind": self.kind,
                "door": self.settings.door,
                "direction": self.settings.direction,
                "port": self.settings.port,
                "device_path": self.link.path,
                "backend": self.link.backend,
                "protocol": self.settings.protocol,
                "online": health.online,
                "offline_reason": stats.offline_reason,
                "last_seen": health.last_seen,
                "frames_accepted": health.accepted,
                "frames_rejected": dict(stats.rejected),
                "frames_debounced": stats.debounced,
                "reopen_attempts": stats.reopen_attempts,
                "recent": [record.as_dict() for record in stats.recent],
            }

    # -- the reader thread ------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff()
        first = True
        while not self._stop.is_set():
            port = self._open(count_attempt=not first)
            first = False
            if port is not None:
                backoff.reset()
                self._serve(port)
            if not self._stop.is_set():
                self._stop.wait(backoff.next())

    def _open(self, count_attempt: bool) -> SerialPort | None:
        path = self.link.path
        if count_attempt:
            with self._lock:
                self._stats.reopen_attempts += 1
        if not self._port_present(path):
            self._set_offline(f"port {path} not found (unplugged?)")
            return None
        try:
            port = self._open_port(path, self.settings.baudrate)
        except Exception as exc:  # whatever opening fails with, the reader only goes offline
            self._set_offline(f"cannot open {path}: {exc}")
            return None
        self._set_online()
        return port

    def _serve(self, port: SerialPort) -> None:
        self._port = port
        try:
            if not self._stop.is_set():  # close() came before the port was known
                self._pump(port)
        except Exception as exc:  # a decoder bug must not end the thread for good
            log.exception("serial reader %s: unexpected error", self.name)
            self._set_offline(f"internal error: {exc}")
        finally:
            self._port = None
            _close_quietly(port)

    def _pump(self, port: SerialPort) -> None:
        path = self.link.path
        while not self._stop.is_set():
            try:
                # Block for the first byte (up to the timeout), then take what else is there,
                # so a frame is handled as soon as it is complete.
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # SerialException (an OSError) on unplug, and worse
                self._set_offline(f"read failed: {exc}")
                return
            if data:
                self._feed(data)
            elif not self._port_present(path):
                self._set_offline(f"port {path} vanished (unplugged?)")
                return

    def _feed(self, data: bytes) -> None:
        credentials = [c for frame in self._decoder.feed(data) if (c := self._handle(frame))]
        if credentials:
            self._deliver(credentials)

    def _handle(self, frame: DecodedFrame) -> Credential | None:
        """Count the frame; the credential to deliver when it is a fresh value."""
        now = self._clock.time()
        fresh = frame.value is not None and self._debounce.fresh(frame.value)
        with self._lock:
            self._health.last_seen = now
            self._health.accepted += int(fresh)
            self._stats.record(frame, self._decoder.kind, now, fresh)
        if not fresh or frame.value is None:
            return None
        return Credential(self._decoder.kind, frame.value, self.name, now, raw=escape(frame.raw))

    def _deliver(self, credentials: list[Credential]) -> None:
        """Hand what one read decoded to the loop in one go: a busy scanner's lines wake
        the loop once per read, not once per line."""
        try:
            self._loop.call_soon_threadsafe(self._to_sink, credentials)
        except RuntimeError:  # the loop was closed under us: the daemon is stopping
            log.debug("serial reader %s: loop closed, credentials dropped", self.name)

    def _to_sink(self, credentials: list[Credential]) -> None:
        """On the loop: each credential in the order read; one that fails is logged and
        does not keep the others from their decision."""
        for credential in credentials:
            try:
                self._sink.credential(credential)
            except Exception:
                log.exception("serial reader %s: the sink failed on a credential", self.name)

    # -- state --------------------------------------------------------------------------

    def _set_online(self) -> None:
        with self._lock:
            was_online = self._health.online
            self._health.online = True
            self._stats.offline_reason = None
        if not was_online:
            log.info("serial reader %s: %s open", self.name, self.link.path)

    def _set_offline(self, reason: str, quiet: bool = False) -> None:
        with self._lock:
            was_online = self._health.online
            changed = reason != self._stats.offline_reason
            self._health.online = False
            self._stats.offline_reason = reason
        if quiet:
            return
        # Log the loss once; the same failure repeated while backing off only at debug level.
        level = logging.WARNING if was_online or changed else logging.DEBUG
        log.log(level, "serial reader %s offline: %s", self.name, reason)


def _close_quietly(port: SerialPort) -> None:
    try:
        port.close()
    except Exception:  # closing a port whose device is gone may fail; it is gone anyway
        log.debug("closing a serial port failed", exc_info=True)
