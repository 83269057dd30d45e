"""Reader drivers: they decode edges, bytes or simulated input into credentials and key
presses, and never look at users or rules (see DESIGN.md). Each reports `status()`."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.hw.formats import FormatRegistry
from gateway.hw.gpio import GpioBackend
from gateway.hw.reader_base import NotSimulated, ReaderHealth, ReaderSink
from gateway.hw.wiegand import WiegandReader
from gateway.model import Credential
from gateway.settings import ReaderSettings, WiegandFormatSettings

HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")


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
        self._health = ReaderHealth()
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
    *,
    wiegand_formats: Sequence[WiegandFormatSettings] = (),
) -> WiegandReader | SimulatedTokenReader | UnavailableReader:
    """The driver for one configured reader on the chosen backend.

    `wiegand_formats` are the configuration's custom formats (`Settings.wiegand_formats`),
    which a Wiegand reader's `formats` and `pin_frame_format` may name.
    """
    if settings.kind in ("wiegand", "wiegand_keypad"):
        if settings.d0_pin is None or settings.d1_pin is None:
            return UnavailableReader(settings, "d0_pin/d1_pin not configured")
        registry = FormatRegistry.from_settings(wiegand_formats)
        return WiegandReader(settings, backend, loop, sink, formats=registry)
    if backend.simulated:
        return SimulatedTokenReader(settings, sink)
    return UnavailableReader(settings, f"{settings.kind} driver is not available in this version")
