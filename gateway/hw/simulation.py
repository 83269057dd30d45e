"""Driving simulated hardware: the simulation API's way into the same seams as real pins."""

from __future__ import annotations

import asyncio
from time import monotonic

from gateway.hw.gpio import GpioBackend
from gateway.hw.wiegand import MAX_GAP_S

BITS = frozenset("01")


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

    def __init__(self, backend: GpioBackend) -> None:
        self._backend = backend
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
                self._backend.drive_at(pin, False, ticks)
                self._backend.drive_at(pin, True, ticks + pulse_us / 1e6)
                ticks += bit_interval_us / 1e6
            self._next_free = ticks + MAX_GAP_S
            # The frame closes after a quiet gap measured on the loop; wait past it.
            await asyncio.sleep(MAX_GAP_S + 0.02)
