"""Reader drivers: they decode edges, bytes or simulated input into credentials and key
presses, and never look at users or rules (see DESIGN.md). Each reports `status()`."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.hw.formats import decode_card_frame, decode_key_burst
from gateway.hw.gpio import GpioBackend
from gateway.hw.wiegand import WiegandReceiver, WiegandStats
from gateway.model import Credential
from gateway.settings import ReaderSettings

HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")


class ReaderSink(Protocol):
    """Where readers deliver what they decoded (the collector and the access pipeline)."""

    def credential(self, credential: Credential) -> None: ...

    def key(self, reader: str, key: str, timestamp: float) -> None: ...


class Reader(Protocol):
    name: str
    kind: str

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class NotSimulated(Exception):
    """The simulation API asked a reader for input it cannot take."""


@dataclass
class _Health:
    online: bool = True
    last_seen: float | None = None
    accepted: int = 0


class WiegandReader:
    """A Wiegand card reader or keypad on two GPIO inputs (`kind` wiegand / wiegand_keypad).

    Frames of a configured card format become card credentials; on a keypad, 4- and 8-bit
    bursts become key presses for the PIN collector.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        backend: GpioBackend,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.d0_pin is None or settings.d1_pin is None:
            raise ValueError(f"reader {settings.name}: d0_pin and d1_pin are required")
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._sink = sink
        self._wall_clock = wall_clock
        self.stats = WiegandStats()
        self._health = _Health()
        d0 = backend.input(settings.d0_pin)
        d1 = backend.input(settings.d1_pin)
        self._receiver = WiegandReceiver(loop, d0, d1, self._frame)

    def _frame(self, bits: str, ticks: float) -> None:
        now = self._wall_clock()
        self._health.last_seen = now
        record: dict[str, Any] = {"bits": bits, "length": len(bits), "time": now}
        if self.kind == "wiegand_keypad" and len(bits) in self.settings.keypad_burst_bits:
            key = decode_key_burst(bits)
            record.update(parsed="key" if key else None, result="key" if key else "rejected")
            self.stats.recent.append(record)
            if key is None:
                self.stats.reject("keypad_burst")
                return
            self.stats.frames += 1
            self._sink.key(self.name, key, now)
            return
        result = decode_card_frame(bits, self.settings.formats)
        record.update(parsed=result.format, result=result.reason)
        self.stats.recent.append(record)
        if result.card is None:
            self.stats.reject(result.reason)
            return
        self.stats.frames += 1
        self._sink.credential(Credential("card", result.card, self.name, now, raw=bits))

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": self._health.online,
            "last_seen": self._health.last_seen,
            "frames_accepted": self.stats.frames,
            "frames_rejected": dict(self.stats.rejected),
            "recent": [_mask_keys(r, self.kind) for r in self.stats.recent],
        }

    def close(self) -> None:
        self._receiver.close()


def _mask_keys(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """Keypad bursts are PIN digits: never shown in diagnostics."""
    if kind == "wiegand_keypad" and record.get("parsed") == "key":
        return {**record, "bits": "*" * len(str(record["bits"]))}
    return dict(record)


class SimulatedTokenReader:
    """NFC, PC/SC and serial readers on the simulated backend: a card UID or a scanned
    line is delivered as the real driver would deliver it."""

    def __init__(
        self,
        settings: ReaderSettings,
        sink: ReaderSink,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._sink = sink
        self._wall_clock = wall_clock
        self._health = _Health()
        self.rejected: dict[str, int] = {}

    def present_card(self, uid: str) -> None:
        """A card with this UID (hex, reader byte order) is held to the reader."""
        if self.kind not in ("nfc", "pcsc") and not (
            self.kind == "serial" and self.settings.credential_kind == "card"
        ):
            raise NotSimulated(f"reader {self.name} ({self.kind}) does not read cards")
        value = uid.strip().upper().replace(":", "").replace(" ", "")
        if not HEX_UID.match(value):
            self.rejected["bad_uid"] = self.rejected.get("bad_uid", 0) + 1
            raise ValueError("uid must be 1 to 10 bytes of hex")
        self._deliver(Credential("card", value, self.name, self._wall_clock(), raw=uid))

    def scan_text(self, text: str) -> None:
        """A line read by a QR/barcode/plate scanner."""
        if self.kind != "serial" or self.settings.credential_kind == "card":
            raise NotSimulated(f"reader {self.name} ({self.kind}) does not scan codes")
        value = text.strip()
        if not value or len(value) > 256 or not value.isprintable():
            self.rejected["bad_line"] = self.rejected.get("bad_line", 0) + 1
            raise ValueError("text must be 1 to 256 printable characters")
        kind = self.settings.credential_kind
        self._deliver(Credential(kind, value, self.name, self._wall_clock(), raw=value))

    def press_keys(self, keys: str) -> None:
        """Keys pressed on a simulated matrix keypad."""
        if self.kind != "matrix_keypad":
            raise NotSimulated(f"reader {self.name} ({self.kind}) has no keys")
        for key in keys:
            self._sink.key(self.name, key, self._wall_clock())
        self._health.last_seen = self._wall_clock()

    def _deliver(self, credential: Credential) -> None:
        self._health.last_seen = credential.timestamp
        self._health.accepted += 1
        self._sink.credential(credential)

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": True,
            "backend": "simulated",
            "last_seen": self._health.last_seen,
            "frames_accepted": self._health.accepted,
            "frames_rejected": dict(self.rejected),
        }

    def close(self) -> None:
        return None


class UnavailableReader:
    """A reader kind whose hardware driver is not part of this build: it shows offline with
    the reason instead of stopping the daemon."""

    def __init__(self, settings: ReaderSettings, reason: str) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self.reason = reason

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": False,
            "offline_reason": self.reason,
        }

    def close(self) -> None:
        return None


def build_reader(
    settings: ReaderSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    sink: ReaderSink,
) -> WiegandReader | SimulatedTokenReader | UnavailableReader:
    """The driver for one configured reader on the chosen backend."""
    if settings.kind in ("wiegand", "wiegand_keypad"):
        if settings.d0_pin is None or settings.d1_pin is None:
            return UnavailableReader(settings, "d0_pin/d1_pin not configured")
        return WiegandReader(settings, backend, loop, sink)
    if backend.simulated:
        return SimulatedTokenReader(settings, sink)
    return UnavailableReader(settings, f"{settings.kind} driver is not available in this version")
