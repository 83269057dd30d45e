"""A matrix keypad (3x4 or 4x4) on GPIO: rows driven low one at a time, columns read
with pull-ups. The scanner debounces (a key counts after two equal scans) and hands key
presses to the sink; the PIN collector does the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.hw.lines import InputLine, LineFactory, OutputLine
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.settings import ReaderSettings

SCAN_INTERVAL_S = 0.01
Position = tuple[int, int]


class KeyMatrix(Protocol):
    """The wiring seam: which (row, column) switches are closed right now."""

    rows: int
    cols: int

    def scan(self) -> set[Position]: ...

    def close(self) -> None: ...


class GpioKeyMatrix:
    """Rows are outputs (active = pulled low), columns inputs with pull-ups (active = low)."""

    def __init__(self, lines: LineFactory, row_pins: Sequence[int], col_pins: Sequence[int]):
        self._rows: list[OutputLine] = [
            lines.output(pin, active_high=False, initial=False) for pin in row_pins
        ]
        self._cols: list[InputLine] = [lines.input(pin, active_low=True) for pin in col_pins]
        self.rows, self.cols = len(self._rows), len(self._cols)

    def scan(self) -> set[Position]:
        pressed: set[Position] = set()
        for r, row in enumerate(self._rows):
            row.set(True)
            pressed.update((r, c) for c, col in enumerate(self._cols) if col.active)
            row.set(False)
        return pressed

    def close(self) -> None:
        for row in self._rows:
            row.close()
        for col in self._cols:
            col.close()


class SimulatedKeyMatrix:
    """Switches closed by the simulation API instead of fingers."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.closed: set[Position] = set()

    def scan(self) -> set[Position]:
        return set(self.closed)

    def close(self) -> None:
        self.closed.clear()


class MatrixKeypad:
    """Scans a key matrix on the event loop and reports debounced key presses.

    Several keys held at once are ghosting-prone on a diode-less matrix: such scans are
    ignored (counted) rather than guessed at. Key presses are stamped with `clock`'s wall
    time.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        matrix: KeyMatrix,
        clock: Clock,
    ) -> None:
        if len(settings.keymap) != matrix.rows * matrix.cols:
            raise ValueError(
                f"reader {settings.name}: keymap has {len(settings.keymap)} keys for a "
                f"{matrix.rows}x{matrix.cols} matrix"
            )
        self.name, self.kind, self.settings = settings.name, settings.kind, settings
        self._loop, self._sink, self._matrix, self._clock = loop, sink, matrix, clock
        self._last_scan: set[Position] = set()
        self._stable: set[Position] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.health = ReaderHealth()
        self.ghost_scans = 0

    def start(self) -> None:
        self._timer = self._loop.call_later(SCAN_INTERVAL_S, self._tick)

    def _tick(self) -> None:
        try:
            self.scan_once()
        finally:
            self._timer = self._loop.call_later(SCAN_INTERVAL_S, self._tick)

    def scan_once(self) -> str | None:
        """One scan; returns the key newly pressed (after debouncing), if any."""
        pressed = self._matrix.scan()
        if len(pressed) > 1:
            self.ghost_scans += 1
            self._last_scan = pressed
            return None
        confirmed = pressed == self._last_scan
        self._last_scan = pressed
        if not confirmed or pressed == self._stable:
            return None
        new = pressed - self._stable
        self._stable = pressed
        if not new:
            return None
        row, col = next(iter(new))
        key = self.settings.keymap[row * self._matrix.cols + col]
        now = self._clock.time()
        self.health.last_seen = now
        self.health.accepted += 1
        self._sink.key(self.name, key, now)
        return key

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": True,
            "last_seen": self.health.last_seen,
            "keys_accepted": self.health.accepted,
            "frames_rejected": {"multiple_keys": self.ghost_scans} if self.ghost_scans else {},
            "matrix": f"{self._matrix.rows}x{self._matrix.cols}",
        }

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._matrix.close()


async def press_keys(matrix: SimulatedKeyMatrix, keymap: str, keys: str) -> None:
    """Simulation: press and release each key long enough for the scanner to see it."""
    positions = {key: divmod(i, matrix.cols) for i, key in enumerate(keymap)}
    for key in keys:
        if key not in positions:
            raise ValueError(f"key {key!r} is not on this keypad")
    for key in keys:
        matrix.closed = {positions[key]}
        await asyncio.sleep(SCAN_INTERVAL_S * 3)
        matrix.closed = set()
        await asyncio.sleep(SCAN_INTERVAL_S * 3)
