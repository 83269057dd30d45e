"""The matrix keypad scanner: debouncing, keymap, ghosting, on mock GPIO pins too."""

from __future__ import annotations

import asyncio

import pytest

from gateway.clock import SystemClock
from gateway.hw.factory import SimulatedHardware
from gateway.hw.keypad import GpioKeyMatrix, MatrixKeypad, SimulatedKeyMatrix, press_keys
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
