"""Builds the driver for each configured reader, real or simulated, and the simulation
entry points that feed simulated readers through the same decoding code as hardware.

Reader drivers decode edges, bytes or frames into credentials and key presses and never
look at users or rules (see DESIGN.md). Each reports `status()`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.hw.formats import FormatRegistry
from gateway.hw.gpio import GpioBackend
from gateway.hw.keypad import GpioKeyMatrix, MatrixKeypad, SimulatedKeyMatrix, press_keys
from gateway.hw.nfc import NfcpyFrontend, NfcReader
from gateway.hw.nfc_sim import SimulatedNfcFrontend
from gateway.hw.pcsc import PcscReader, PyscardBackend
from gateway.hw.pcsc_sim import SimulatedPcscBackend
from gateway.hw.reader_base import NotSimulated, ReaderSink
from gateway.hw.serial_rfid import SerialReader
from gateway.hw.serial_sim import PtySerialReader
from gateway.hw.wiegand import WiegandReader
from gateway.settings import ReaderSettings, WiegandFormatSettings

Loop = asyncio.AbstractEventLoop
HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")
SIMULATED_SERIAL_PORT = "sim"


class ReaderDriver(Protocol):
    """A running reader: started once, asked for status, closed on stop."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def start(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class SimulatedInput(Protocol):
    """What the simulation API can do to one simulated reader; NotSimulated otherwise."""

    def card(self, uid: str) -> None: ...

    def text(self, text: str) -> None: ...

    async def keys(self, keys: str) -> None: ...


@dataclass
class BuiltReader:
    driver: ReaderDriver
    simulation: SimulatedInput | None = None


def parse_uid(uid: str) -> bytes:
    """A UID typed as hex (colons and spaces allowed), 1 to 10 bytes."""
    value = uid.strip().upper().replace(":", "").replace(" ", "")
    if not HEX_UID.match(value):
        raise ValueError("uid must be 1 to 10 bytes of hex")
    return bytes.fromhex(value)


class _NoInput:
    """Base for simulation inputs: everything refused unless a subclass takes it."""

    def __init__(self, name: str, kind: str) -> None:
        self._what = f"reader {name!r} ({kind})"

    def card(self, uid: str) -> None:
        raise NotSimulated(f"{self._what} does not read cards")

    def text(self, text: str) -> None:
        raise NotSimulated(f"{self._what} does not scan codes")

    async def keys(self, keys: str) -> None:
        raise NotSimulated(f"{self._what} has no keypad")


class _PcscInput(_NoInput):
    def __init__(self, name: str, backend: SimulatedPcscBackend) -> None:
        super().__init__(name, "pcsc")
        self._backend = backend

    def card(self, uid: str) -> None:
        # A tap, not a card left lying: a second /sim/card is a second presentation.
        self._backend.tap(parse_uid(uid))


class _NfcInput(_NoInput):
    def __init__(self, name: str, frontend: SimulatedNfcFrontend) -> None:
        super().__init__(name, "nfc")
        self._frontend = frontend

    def card(self, uid: str) -> None:
        self._frontend.present_card(uid)


class _SerialInput(_NoInput):
    def __init__(self, reader: PtySerialReader) -> None:
        super().__init__(reader.name, "serial")
        self._reader = reader

    def card(self, uid: str) -> None:
        parse_uid(uid)
        self._reader.present_card(uid)

    def text(self, text: str) -> None:
        if not text.strip() or len(text) > 256 or not text.isprintable():
            raise ValueError("text must be 1 to 256 printable characters")
        self._reader.scan_text(text)


class _KeypadInput(_NoInput):
    def __init__(self, keypad: MatrixKeypad, matrix: SimulatedKeyMatrix) -> None:
        super().__init__(keypad.name, "matrix_keypad")
        self._keypad, self._matrix = keypad, matrix

    async def keys(self, keys: str) -> None:
        await press_keys(self._keypad, self._matrix, keys)


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


def build_reader(
    settings: ReaderSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    sink: ReaderSink,
    *,
    wiegand_formats: Sequence[WiegandFormatSettings] = (),
) -> BuiltReader:
    """The driver for one configured reader on the chosen backend (not started yet).

    `wiegand_formats` are the configuration's custom formats (`Settings.wiegand_formats`),
    which a Wiegand reader's `formats` and `pin_frame_format` may name.
    """
    kind = settings.kind
    if kind in ("wiegand", "wiegand_keypad"):
        if settings.d0_pin is None or settings.d1_pin is None:
            return BuiltReader(UnavailableReader(settings, "d0_pin/d1_pin not configured"))
        registry = FormatRegistry.from_settings(wiegand_formats)
        return BuiltReader(WiegandReader(settings, backend, loop, sink, formats=registry))
    if kind == "matrix_keypad":
        return _matrix_keypad(settings, backend, loop, sink)
    if kind == "serial":
        return _serial(settings, backend, loop, sink)
    if kind == "pcsc":
        if backend.simulated:
            pcsc_backend = SimulatedPcscBackend()
            reader = PcscReader(settings, loop, sink, pcsc_backend)
            return BuiltReader(reader, _PcscInput(settings.name, pcsc_backend))
        return BuiltReader(PcscReader(settings, loop, sink, PyscardBackend()))
    return _nfc(settings, backend, loop, sink)


def _matrix_keypad(
    settings: ReaderSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    sink: ReaderSink,
) -> BuiltReader:
    if backend.simulated:
        # Unwired in the simulation file: a 4-row keypad of the keymap's size.
        rows = len(settings.row_pins) or 4
        cols = len(settings.col_pins) or len(settings.keymap) // rows
        sim_matrix = SimulatedKeyMatrix(rows, cols)
        keypad = MatrixKeypad(settings, loop, sink, sim_matrix)
        return BuiltReader(keypad, _KeypadInput(keypad, sim_matrix))
    gpio_matrix = GpioKeyMatrix(backend, settings.row_pins, settings.col_pins)
    return BuiltReader(MatrixKeypad(settings, loop, sink, gpio_matrix))


def _serial(
    settings: ReaderSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    sink: ReaderSink,
) -> BuiltReader:
    if backend.simulated and settings.port in ("", SIMULATED_SERIAL_PORT):
        reader = PtySerialReader(settings, loop, sink)
        return BuiltReader(reader, _SerialInput(reader))
    return BuiltReader(SerialReader(settings, loop, sink))


def _nfc(
    settings: ReaderSettings,
    backend: GpioBackend,
    loop: asyncio.AbstractEventLoop,
    sink: ReaderSink,
) -> BuiltReader:
    if backend.simulated:
        frontend = SimulatedNfcFrontend()
        # One frontend for every reopen, so /sim/card reaches whichever is open.
        reader = NfcReader(settings, loop, sink, lambda: frontend)
        return BuiltReader(reader, _NfcInput(settings.name, frontend))
    if not settings.device:
        return BuiltReader(UnavailableReader(settings, "device not configured"))
    return BuiltReader(NfcReader(settings, loop, sink, NfcpyFrontend))
