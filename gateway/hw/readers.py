"""Builds the driver for each configured reader: one constructor per reader kind, each
taking its device from the `Hardware` it is given (gateway.hw.factory).

Reader drivers decode edges, bytes or frames into credentials and key presses and never
look at users or rules (see DESIGN.md). Each reports `status()`, and stamps what it reads
with the daemon's clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.hw.factory import Hardware
from gateway.hw.formats import FormatRegistry
from gateway.hw.keypad import MatrixKeypad
from gateway.hw.nfc import NfcReader
from gateway.hw.pcsc import PcscReader
from gateway.hw.reader_base import ReaderSink, ReaderUnavailable
from gateway.hw.serial_rfid import SerialReader
from gateway.hw.wiegand import WiegandReader
from gateway.settings import ReaderKind, ReaderSettings, WiegandFormatSettings

log = logging.getLogger(__name__)


class ReaderDriver(Protocol):
    """A running reader: started once, asked for status, closed on stop."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def start(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReaderContext:
    """What every reader constructor gets besides the reader's settings.

    `wiegand_formats` are the configuration's custom formats (`Settings.wiegand_formats`),
    which a Wiegand reader's `formats` and `pin_frame_format` may name.
    """

    hardware: Hardware
    loop: asyncio.AbstractEventLoop
    sink: ReaderSink
    clock: Clock
    wiegand_formats: Sequence[WiegandFormatSettings] = ()


ReaderConstructor = Callable[[ReaderSettings, ReaderContext], ReaderDriver]


class UnavailableReader:
    """A reader that could not be started: it shows offline with the reason instead of
    stopping the daemon."""

    def __init__(self, settings: ReaderSettings, reason: str) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self.reason = reason

    def start(self) -> None:
        return None

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


def _wiegand(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    if settings.d0_pin is None or settings.d1_pin is None:
        raise ReaderUnavailable("d0_pin/d1_pin not configured")
    formats = FormatRegistry.from_settings(context.wiegand_formats)
    return WiegandReader(
        settings, context.hardware, context.loop, context.sink, context.clock, formats
    )


def _matrix_keypad(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    matrix = context.hardware.key_matrix(settings)
    return MatrixKeypad(settings, context.loop, context.sink, matrix, context.clock)


def _serial(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    link = context.hardware.serial_port(settings)
    return SerialReader(settings, context.loop, context.sink, context.clock, link)


def _nfc(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    frontends = context.hardware.nfc_frontends(settings)
    return NfcReader(settings, context.loop, context.sink, frontends, context.clock)


def _pcsc(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    backend = context.hardware.pcsc(settings)
    return PcscReader(settings, context.loop, context.sink, backend, context.clock)


CONSTRUCTORS: Mapping[ReaderKind, ReaderConstructor] = {
    "wiegand": _wiegand,
    "wiegand_keypad": _wiegand,
    "matrix_keypad": _matrix_keypad,
    "serial": _serial,
    "nfc": _nfc,
    "pcsc": _pcsc,
}


def build_reader(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    """The driver for one configured reader (not started yet); an `UnavailableReader`
    when the hardware has no device for it. Other errors (a bad keymap, an unknown
    Wiegand format) are raised: the caller shows that reader offline."""
    try:
        return CONSTRUCTORS[settings.kind](settings, context)
    except ReaderUnavailable as exc:
        return UnavailableReader(settings, str(exc))


def start_reader(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    """Build and start one reader; one that fails shows offline with the reason instead,
    since a reader must never stop the daemon."""
    try:
        driver = build_reader(settings, context)
        driver.start()
    except Exception as exc:
        log.exception("reader %s failed to start", settings.name)
        return UnavailableReader(settings, f"failed to start: {exc}")
    return driver
