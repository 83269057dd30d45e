"""A matrix keypad (3x4 or 4x4) on GPIO: rows driven low, columns read with pull-ups.

At rest every row is driven low and the columns wait for an edge: a key pulls its column
low, and only then does the scanner wake up and scan row by row (every 10 ms, a key counts
after two equal scans) until every key is released, then it drives all rows again and goes
back to sleep. An untouched keypad costs no wake-ups. Key presses go to the sink; the PIN
collector does the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.hw.lines import InputLine, LineFactory, OutputLine
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.settings import ReaderSettings

SCAN_INTERVAL_S = 0.01
Position = tuple[int, int]
Wake = Callable[[], None]


class KeyMatrix(Protocol):
    """The wiring seam: which (row, column) switches are closed right now, and a wake-up
    when one closes while the matrix is waiting."""

    rows: int
    cols: int

    def scan(self) -> set[Position]: ...

    def wait_for_press(self, wake: Wake) -> bool:
        """Arm the matrix so that a closing switch calls `wake` (from any thread, once or
        more); True if a switch is already closed (no edge will come for it)."""
        ...

    def close(self) -> None: ...


class GpioKeyMatrix:
    """Rows are outputs (active = pulled low), columns inputs with pull-ups (active = low).

    Waiting drives every row at once, so any key pulls its column low and the column's
    edge callback (on gpiozero's thread) wakes the scanner; scanning releases them and
    drives one row at a time.
    """

    def __init__(self, lines: LineFactory, row_pins: Sequence[int], col_pins: Sequence[int]):
        self._rows: list[OutputLine] = [
            lines.output(pin, active_high=False, initial=False) for pin in row_pins
        ]
        self._cols: list[InputLine] = [lines.input(pin, active_low=True) for pin in col_pins]
        self.rows, self.cols = len(self._rows), len(self._cols)
        self._wake: Wake | None = None
        for col in self._cols:
            col.on_change(self._column_edge)

    def _column_edge(self, timestamp: float, active: bool) -> None:
        wake = self._wake  # read once: the loop thread may disarm at the same moment
        if active and wake is not None:
            wake()

    def wait_for_press(self, wake: Wake) -> bool:
        self._wake = wake
        for row in self._rows:
            row.set(True)
        return any(col.active for col in self._cols)

    def scan(self) -> set[Position]:
        self._wake = None  # the scan's own edges are not presses
        for row in self._rows:
            row.set(False)
        pressed: set[Position] = set()
        for r, row in enumerate(self._rows):
            row.set(True)
            pressed.update((r, c) for c, col in enumerate(self._cols) if col.active)
            row.set(False)
        return pressed

    def close(self) -> None:
        self._wake = None
        for col in self._cols:
            col.on_change(None)
        for row in self._rows:
            row.close()
        for col in self._cols:
            col.close()


class SimulatedKeyMatrix:
    """Switches closed by the simulation API instead of fingers."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self._closed: set[Position] = set()
        self._wake: Wake | None = None

    @property
    def closed(self) -> set[Position]:
        return set(self._closed)

    @closed.setter
    def closed(self, positions: set[Position]) -> None:
        """Close exactly `positions` (open the rest); closing wakes a waiting scanner."""
        newly_closed = bool(positions - self._closed)
        self._closed = set(positions)
        wake = self._wake
        if newly_closed and wake is not None:
            wake()

    def wait_for_press(self, wake: Wake) -> bool:
        self._wake = wake
        return bool(self._closed)

    def scan(self) -> set[Position]:
        self._wake = None
        return set(self._closed)

    def close(self) -> None:
        self._wake = None
        self._closed.clear()


class Cancellable(Protocol):
    """A scheduled call that can still be cancelled."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """The part of the event loop the scanner uses (an asyncio loop is one; tests move a
    manual one)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> object: ...


class MatrixKeypad:
    """Waits for a key matrix to wake it, then scans it on the event loop until every key
    is released, and reports debounced key presses.

    Several keys held at once are ghosting-prone on a diode-less matrix: such scans are
    ignored (counted) rather than guessed at. Key presses are stamped with `clock`'s wall
    time.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        loop: Scheduler,
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
        self._timer: Cancellable | None = None
        self._closed = False
        self.health = ReaderHealth()
        self.ghost_scans = 0

    def start(self) -> None:
        self._sleep()

    def _sleep(self) -> None:
        """Wait for an edge; if a key is already down, keep scanning instead."""
        self._timer = None
        if self._matrix.wait_for_press(self._edge_from_any_thread):
            self._timer = self._loop.call_later(SCAN_INTERVAL_S, self._tick)

    def _edge_from_any_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = self._loop.call_later(SCAN_INTERVAL_S, self._tick)

    def _tick(self) -> None:
        try:
            self.scan_once()
        finally:
            if self._closed:
                self._timer = None
            elif self._last_scan or self._stable:
                self._timer = self._loop.call_later(SCAN_INTERVAL_S, self._tick)
            else:
                self._sleep()  # every key released (and confirmed so): back to waiting

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
        self._closed = True
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
