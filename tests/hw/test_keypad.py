"""The matrix keypad scanner: debouncing, keymap, ghosting, on mock GPIO pins too."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

import pytest

from gateway.clock import SystemClock
from gateway.hw.factory import SimulatedHardware
from gateway.hw.keypad import (
    GpioKeyMatrix,
    KeyMatrix,
    MatrixKeypad,
    SimulatedKeyMatrix,
    press_keys,
)
from gateway.model import Credential
from gateway.settings import ReaderSettings

SETTINGS = ReaderSettings(
    name="kp", kind="matrix_keypad", door="front", row_pins=(5, 6, 13, 19), col_pins=(20, 21, 26)
)


class Keys:
    def __init__(self) -> None:
        self.pressed: list[str] = []

    def credential(self, credential: Credential) -> None:
        raise AssertionError("a keypad delivers keys, not credentials")

    def key(self, reader: str, key: str, timestamp: float) -> None:
        self.pressed.append(key)


def test_a_key_counts_once_after_two_equal_scans() -> None:
    matrix, sink = SimulatedKeyMatrix(4, 3), Keys()
    pad = MatrixKeypad(SETTINGS, asyncio.new_event_loop(), sink, matrix, SystemClock())
    matrix.closed = {(1, 1)}
    assert pad.scan_once() is None  # one scan could be a bounce
    assert pad.scan_once() == "5"
    assert pad.scan_once() is None  # held: still one press
    matrix.closed = set()
    pad.scan_once()
    pad.scan_once()
    matrix.closed = {(3, 2)}
    pad.scan_once()
    assert pad.scan_once() == "#"
    assert sink.pressed == ["5", "#"]


def test_a_bounce_shorter_than_two_scans_is_ignored() -> None:
    matrix, sink = SimulatedKeyMatrix(4, 3), Keys()
    pad = MatrixKeypad(SETTINGS, asyncio.new_event_loop(), sink, matrix, SystemClock())
    matrix.closed = {(0, 0)}
    pad.scan_once()
    matrix.closed = set()
    pad.scan_once()
    pad.scan_once()
    assert sink.pressed == []


def test_two_keys_at_once_are_ignored_and_counted() -> None:
    matrix, sink = SimulatedKeyMatrix(4, 3), Keys()
    pad = MatrixKeypad(SETTINGS, asyncio.new_event_loop(), sink, matrix, SystemClock())
    matrix.closed = {(0, 0), (1, 1)}
    pad.scan_once()
    pad.scan_once()
    assert sink.pressed == [] and pad.status()["frames_rejected"] == {"multiple_keys": 2}


def test_keymap_must_fit_the_matrix() -> None:
    with pytest.raises(ValueError, match="keymap"):
        MatrixKeypad(
            SETTINGS, asyncio.new_event_loop(), Keys(), SimulatedKeyMatrix(4, 4), SystemClock()
        )


async def test_simulated_presses_reach_the_sink_through_the_scanner() -> None:
    matrix, sink = SimulatedKeyMatrix(4, 3), Keys()
    pad = MatrixKeypad(SETTINGS, asyncio.get_running_loop(), sink, matrix, SystemClock())
    pad.start()
    await press_keys(matrix, SETTINGS.keymap, "1234#")
    pad.close()
    assert sink.pressed == list("1234#")


def test_gpio_matrix_reads_a_closed_switch_through_mock_pins() -> None:
    hardware = SimulatedHardware()
    matrix = GpioKeyMatrix(hardware, SETTINGS.row_pins, SETTINGS.col_pins)
    assert matrix.scan() == set()
    hardware.drive(21, False)  # column 1 held low: a switch to a driven row would do this
    assert matrix.scan() == {(r, 1) for r in range(4)}
    matrix.close()
    hardware.close()


class ManualLoop:
    """The keypad's view of the event loop on a manual clock: timers run only when a test
    calls `advance`, and every timer callback that runs is counted (an idle keypad must
    cost none)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timer_calls = 0
        self._due: list[tuple[float, int, ManualHandle]] = []
        self._seq = 0

    def call_later(self, delay: float, callback: Callable[[], object]) -> ManualHandle:
        handle = ManualHandle(callback)
        self._seq += 1
        heapq.heappush(self._due, (self.now + delay, self._seq, handle))
        return handle

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        callback(*args)  # the test is the only thread

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due on the way."""
        target = self.now + seconds
        while self._due and self._due[0][0] <= target + 1e-9:
            when, _, handle = heapq.heappop(self._due)
            self.now = when
            if not handle.cancelled:
                self.timer_calls += 1
                handle.callback()
        self.now = target


class ManualHandle:
    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback, self.cancelled = callback, False

    def cancel(self) -> None:
        self.cancelled = True


def idle_pad(matrix: KeyMatrix) -> tuple[MatrixKeypad, ManualLoop, Keys]:
    loop, sink = ManualLoop(), Keys()
    pad = MatrixKeypad(SETTINGS, loop, sink, matrix, SystemClock())
    pad.start()
    return pad, loop, sink


def test_an_untouched_keypad_never_scans() -> None:
    _pad, loop, sink = idle_pad(SimulatedKeyMatrix(4, 3))
    loop.advance(60)
    assert loop.timer_calls == 0 and sink.pressed == []


def test_a_press_wakes_the_scanner_and_release_puts_it_back_to_sleep() -> None:
    matrix = SimulatedKeyMatrix(4, 3)
    pad, loop, sink = idle_pad(matrix)
    matrix.closed = {(0, 1)}
    loop.advance(0.1)
    assert sink.pressed == ["2"]
    loop.advance(5)  # held: one press, no repeat
    assert sink.pressed == ["2"]
    matrix.closed = set()
    loop.advance(0.1)
    scans_after_release = loop.timer_calls
    loop.advance(60)
    assert loop.timer_calls == scans_after_release  # asleep again
    matrix.closed = {(3, 2)}
    loop.advance(0.1)
    assert sink.pressed == ["2", "#"]
    pad.close()


def test_a_bounce_wakes_the_scanner_without_a_key_and_it_sleeps_again() -> None:
    matrix = SimulatedKeyMatrix(4, 3)
    _pad, loop, sink = idle_pad(matrix)
    matrix.closed = {(0, 0)}
    loop.advance(0.005)
    matrix.closed = set()
    loop.advance(1)
    calls = loop.timer_calls
    loop.advance(60)
    assert sink.pressed == [] and loop.timer_calls == calls


def test_two_keys_held_are_counted_while_held_then_the_scanner_sleeps() -> None:
    matrix = SimulatedKeyMatrix(4, 3)
    pad, loop, sink = idle_pad(matrix)
    matrix.closed = {(0, 0), (1, 1)}
    loop.advance(0.1)  # ten scans, as the polling scanner did
    assert pad.status()["frames_rejected"] == {"multiple_keys": 10}
    matrix.closed = set()
    loop.advance(60)
    assert sink.pressed == [] and pad.status()["frames_rejected"] == {"multiple_keys": 10}
    assert loop.timer_calls < 20


def test_gpio_rows_are_driven_at_rest_and_a_column_edge_wakes_the_scanner() -> None:
    hardware = SimulatedHardware()
    matrix = GpioKeyMatrix(hardware, SETTINGS.row_pins, SETTINGS.col_pins)
    pad, loop, _ = idle_pad(matrix)
    loop.advance(60)
    assert loop.timer_calls == 0
    assert [hardware.level(pin) for pin in SETTINGS.row_pins] == [False] * 4  # all rows low
    hardware.drive(21, False)  # a switch pulls column 1 to a driven row
    loop.advance(0.02)
    assert loop.timer_calls == 2  # scanning: every row reads column 1 (ghosting)
    hardware.drive(21, True)
    loop.advance(60)
    assert loop.timer_calls < 10  # released: asleep again, rows driven once more
    assert [hardware.level(pin) for pin in SETTINGS.row_pins] == [False] * 4
    pad.close()
    hardware.close()
