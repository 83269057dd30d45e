"""Driving simulated hardware: the simulation API's way into the same seams as real devices.

Wiegand readers and door inputs are driven on their mock pins (`WiegandDriver`, the
simulated hardware's `drive`); every other simulated reader has a `SimulatedInput` that
`SimulatedHardware` made together with its device (a PC/SC backend, an NFC frontend, a
pseudo-terminal, a key matrix), so input reaches the real driver through its real seam.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from time import monotonic
from typing import Protocol

from gateway.hw.keypad import SimulatedKeyMatrix, press_keys
from gateway.hw.lines import LineDriver
from gateway.hw.nfc_sim import SimulatedNfcFrontend
from gateway.hw.pcsc import desfire_card, plus_card
from gateway.hw.pcsc_sim import SimulatedPcscBackend
from gateway.hw.reader_base import NotSimulated
from gateway.hw.serial_sim import BatchedWrites, PtySerialDevice, card_frame, scanned_line
from gateway.hw.wiegand import MAX_GAP_S
from gateway.settings import ReaderSettings

BITS = frozenset("01")
HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")
RANDOM_UID_PREFIX = b"\x08"  # ISO 14443-3: a 4-byte UID starting 08 is random, new each time


class SimulatedInput(Protocol):
    """What the simulation API can do to one simulated reader; NotSimulated otherwise."""

    async def card(self, uid: str) -> None: ...

    async def text(self, text: str) -> None: ...

    async def keys(self, keys: str) -> None: ...


def parse_uid(uid: str) -> bytes:
    """A UID typed as hex (colons and spaces allowed), 1 to 10 bytes."""
    value = uid.strip().upper().replace(":", "").replace(" ", "")
    if not HEX_UID.match(value):
        raise ValueError("uid must be 1 to 10 bytes of hex")
    return bytes.fromhex(value)


class NoInput:
    """Base for simulation inputs: everything refused unless a subclass takes it."""

    def __init__(self, name: str, kind: str) -> None:
        self._what = f"reader {name!r} ({kind})"

    async def card(self, uid: str) -> None:
        raise NotSimulated(f"{self._what} does not read cards")

    async def text(self, text: str) -> None:
        raise NotSimulated(f"{self._what} does not scan codes")

    async def keys(self, keys: str) -> None:
        raise NotSimulated(f"{self._what} has no keypad")


class PcscInput(NoInput):
    """Cards tapped on a simulated PC/SC reader.

    At a DESFire reader (`desfire_app_id`) the "uid" is the card number: the card tapped is
    a DESFire card issued for the reader's settings (its application, key and file holding
    that number) with a random UID, as such cards often show, so the credential is the
    file's content after the whole authentication, never the UID. At a MIFARE Plus reader
    (`mfp_block`) likewise: an SL3 card whose block holds the number."""

    def __init__(self, settings: ReaderSettings, backend: SimulatedPcscBackend) -> None:
        super().__init__(settings.name, "pcsc")
        self._backend = backend
        self._desfire = desfire_card(settings)
        self._plus = plus_card(settings)

    async def card(self, uid: str) -> None:
        # A tap, not a card left lying: a second /sim/card is a second presentation.
        number = parse_uid(uid)
        if self._plus is not None:
            from gateway.hw.mifare_plus_sim import issued_card

            # Issued with the last key choice: the reader tries the others first.
            plus = issued_card(self._plus, number, key_choice=len(self._plus.keys) - 1)
            self._backend.tap(RANDOM_UID_PREFIX + secrets.token_bytes(3), plus=plus)
            return
        if self._desfire is None:
            self._backend.tap(number)
            return
        from gateway.hw.desfire_sim import issued_application

        application = issued_application(self._desfire, number)
        self._backend.tap(RANDOM_UID_PREFIX + secrets.token_bytes(3), desfire=[application])


class NfcInput(NoInput):
    """Type A cards tapped on a simulated NFC frontend."""

    def __init__(self, name: str, frontend: SimulatedNfcFrontend) -> None:
        super().__init__(name, "nfc")
        self._frontend = frontend

    async def card(self, uid: str) -> None:
        self._frontend.present_card(uid)


class SerialInput(NoInput):
    """What a serial device on a pseudo-terminal sends: a card as this kind of reader sends
    it (an RDM6300 frame, or a number line), or a scanned code as a text line."""

    def __init__(self, settings: ReaderSettings, device: PtySerialDevice) -> None:
        super().__init__(settings.name, "serial")
        self._settings = settings
        self._writes = BatchedWrites(device)

    async def card(self, uid: str) -> None:
        card = parse_uid(uid)
        if self._settings.protocol == "rdm6300":
            await self._writes.send(card_frame(uid))
        elif self._settings.credential_kind == "card":
            await self._writes.send(scanned_line(self._card_line(card)))
        else:
            raise NotSimulated(f"{self._what} scans {self._settings.credential_kind} codes")

    def _card_line(self, uid: bytes) -> str:
        """What a line-based card reader prints: hex if its line_pattern names a `hex`
        group, otherwise the card number in decimal, 10 digits as 125 kHz readers do
        (read back as at least 4 bytes: exact for the usual 4-byte numbers)."""
        if "hex" in re.compile(self._settings.line_pattern).groupindex:
            return uid.hex().upper()
        return str(int.from_bytes(uid, "big")).zfill(10)

    async def text(self, text: str) -> None:
        if self._settings.protocol != "line" or self._settings.credential_kind == "card":
            raise NotSimulated(f"{self._what} does not scan codes")
        if not text.strip() or len(text) > 256 or not text.isprintable():
            raise ValueError("text must be 1 to 256 printable characters")
        await self._writes.send(scanned_line(text))


class KeypadInput(NoInput):
    """Keys pressed on a simulated key matrix, slowly enough for the scanner to see."""

    def __init__(self, settings: ReaderSettings, matrix: SimulatedKeyMatrix) -> None:
        super().__init__(settings.name, "matrix_keypad")
        self._keymap, self._matrix = settings.keymap, matrix

    async def keys(self, keys: str) -> None:
        await press_keys(self._matrix, self._keymap, keys)


def key_bursts(keys: str, burst_bits: int) -> list[str]:
    """The Wiegand bursts a keypad sends for `keys` (4-bit, or 8-bit with complement)."""
    names = "0123456789*#"
    bursts = []
    for key in keys:
        value = names.index(key)
        if burst_bits == 8:
            bursts.append(f"{15 - value:04b}{value:04b}")
        else:
            bursts.append(f"{value:04b}")
    return bursts


class WiegandDriver:
    """Plays Wiegand frames on simulated D0/D1 pins with the requested timing.

    Edges carry the requested timestamps (pulse width, bit interval), so the receiver sees
    the timing a real reader would produce; nothing busy-waits, and the call returns once the
    receiver has had time to close the frame.
    """

    def __init__(self, pins: LineDriver) -> None:
        self._pins = pins
        self._next_free = 0.0
        self._lock = asyncio.Lock()

    async def send(
        self, d0: int, d1: int, bits: str, bit_interval_us: float, pulse_us: float
    ) -> None:
        """Play one frame, then wait until the lines count as quiet."""
        async with self._lock:
            start = max(monotonic(), self._next_free)
            ticks = start
            for bit in bits:
                pin = d0 if bit == "0" else d1
                self._pins.drive_at(pin, False, ticks)
                self._pins.drive_at(pin, True, ticks + pulse_us / 1e6)
                ticks += bit_interval_us / 1e6
            self._next_free = ticks + MAX_GAP_S
            # The frame closes after a quiet gap measured on the loop; wait past it.
            await asyncio.sleep(MAX_GAP_S + 0.02)
