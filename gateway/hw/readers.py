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
from pathlib import Path
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.hw.factory import Hardware
from gateway.hw.formats import FormatRegistry
from gateway.hw.keypad import MatrixKeypad
from gateway.hw.nfc import NfcReader
from gateway.hw.osdp_keys import KeyFileError, OsdpKeyStore
from gateway.hw.osdp_reader import OsdpReader
from gateway.hw.pcsc import PcscReader
from gateway.hw.reader_base import ReaderSink, ReaderUnavailable
from gateway.hw.serial_rfid import SerialReader
from gateway.hw.wiegand import WiegandReader
from gateway.model import Event
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
    which a Wiegand reader's `formats` and `pin_frame_format` may name. `emit` journals
    what a supervised reader (OSDP) reports about itself; `state_dir` keeps its keys.
    """

    hardware: Hardware
    loop: asyncio.AbstractEventLoop
    sink: ReaderSink
    clock: Clock
    wiegand_formats: Sequence[WiegandFormatSettings] = ()
    emit: Callable[[Event], None] | None = None
    state_dir: Path | None = None


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


def _osdp(settings: ReaderSettings, context: ReaderContext) -> ReaderDriver:
    if context.state_dir is None or context.emit is None:
        raise ReaderUnavailable("OSDP readers need the state dir (keys) and the journal")
    bus = context.hardware.osdp_bus(settings)  # first: no key is made where OSDP cannot run
    store = OsdpKeyStore(context.state_dir)
    try:
        key = store.load(settings.name)
        if key is None:
            if not settings.install:
                raise ReaderUnavailable(
                    "no Secure Channel key yet: set install = true for its first connection"
                )
            key = store.create(settings.name)
            log.warning("OSDP reader %s: made its Secure Channel key (install mode)", settings.name)
    except KeyFileError as exc:
        raise ReaderUnavailable(str(exc)) from None
    formats = FormatRegistry.from_settings(context.wiegand_formats)
    return OsdpReader(
        settings, context.loop, context.sink, context.clock, bus, context.emit, key, formats
    )


CONSTRUCTORS: Mapping[ReaderKind, ReaderConstructor] = {
    "wiegand": _wiegand,
    "wiegand_keypad": _wiegand,
    "matrix_keypad": _matrix_keypad,
    "serial": _serial,
    "nfc": _nfc,
    "pcsc": _pcsc,
    "osdp": _osdp,
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
