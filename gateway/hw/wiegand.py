"""Wiegand over two GPIO inputs: edges -> bits -> frames.

A falling edge on D0 is a 0, on D1 a 1. Bit times come from the pin factory's edge
timestamps, not from when the callback ran. The frame ends when the lines have been
quiet for three observed bit intervals, bounded to 3..30 ms, so a fast reader is not
held to the pace of a slow one (see docs/readers.md).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.hw.formats import decode_card_frame, decode_key_burst
from gateway.hw.gpio import GpioBackend
from gateway.hw.lines import InputLine
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.model import Credential
from gateway.settings import ReaderSettings

MIN_GAP_S = 0.003
MAX_GAP_S = 0.030
MAX_BITS = 128


@dataclass
class WiegandStats:
    """Counters and recent frames for the reader's status()."""

    frames: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class WiegandReceiver:
    """Collects bits from D0/D1 and hands each finished frame (a '0'/'1' string) on."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        d0: InputLine,
        d1: InputLine,
        on_frame: Callable[[str, float], None],
    ) -> None:
        self._loop = loop
        self._on_frame = on_frame
        self._bits: list[str] = []
        self._times: list[float] = []
        self._timer: asyncio.TimerHandle | None = None
        self._d0, self._d1 = d0, d1
        d0.on_change(self._edge_d0)
        d1.on_change(self._edge_d1)

    def _edge_d0(self, ticks: float, active: bool) -> None:
        if active:
            self._loop.call_soon_threadsafe(self._bit, "0", ticks)

    def _edge_d1(self, ticks: float, active: bool) -> None:
        if active:
            self._loop.call_soon_threadsafe(self._bit, "1", ticks)

    def _bit(self, bit: str, ticks: float) -> None:
        if len(self._bits) < MAX_BITS:
            self._bits.append(bit)
            self._times.append(ticks)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self.quiet_gap(), self._finish)

    def quiet_gap(self) -> float:
        """How long the lines must be quiet before the frame counts as finished."""
        if len(self._times) < 3:
            return MAX_GAP_S
        intervals = [b - a for a, b in zip(self._times, self._times[1:], strict=False)]
        gap = 3 * statistics.median(intervals)
        return min(MAX_GAP_S, max(MIN_GAP_S, gap))

    def _finish(self) -> None:
        self._timer = None
        bits, times = "".join(self._bits), self._times
        self._bits, self._times = [], []
        if bits:
            self._on_frame(bits, times[0])

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._d0.on_change(None)
        self._d1.on_change(None)


class WiegandReader:
    """A Wiegand card reader or keypad on two GPIO inputs (`kind` wiegand / wiegand_keypad).

    Frames of a configured card format become card credentials; on a keypad, 4- and 8-bit
    bursts become key presses for the PIN collector.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        backend: GpioBackend,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.d0_pin is None or settings.d1_pin is None:
            raise ValueError(f"reader {settings.name}: d0_pin and d1_pin are required")
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._sink = sink
        self._wall_clock = wall_clock
        self.stats = WiegandStats()
        self._health = ReaderHealth()
        d0 = backend.input(settings.d0_pin)
        d1 = backend.input(settings.d1_pin)
        self._receiver = WiegandReceiver(loop, d0, d1, self._frame)

    def _frame(self, bits: str, ticks: float) -> None:
        now = self._wall_clock()
        self._health.last_seen = now
        record: dict[str, Any] = {"bits": bits, "length": len(bits), "time": now}
        if self.kind == "wiegand_keypad" and len(bits) in self.settings.keypad_burst_bits:
            key = decode_key_burst(bits)
            record.update(parsed="key" if key else None, result="key" if key else "rejected")
            self.stats.recent.append(record)
            if key is None:
                self.stats.reject("keypad_burst")
                return
            self.stats.frames += 1
            self._sink.key(self.name, key, now)
            return
        result = decode_card_frame(bits, self.settings.formats)
        record.update(parsed=result.format, result=result.reason)
        self.stats.recent.append(record)
        if result.card is None:
            self.stats.reject(result.reason)
            return
        self.stats.frames += 1
        self._sink.credential(Credential("card", result.card, self.name, now, raw=bits))

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": self._health.online,
            "last_seen": self._health.last_seen,
            "frames_accepted": self.stats.frames,
            "frames_rejected": dict(self.stats.rejected),
            "recent": [_mask_keys(r, self.kind) for r in self.stats.recent],
        }

    def close(self) -> None:
        self._receiver.close()


def _mask_keys(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """Keypad bursts are PIN digits: never shown in diagnostics."""
    if kind == "wiegand_keypad" and record.get("parsed") == "key":
        return {**record, "bits": "*" * len(str(record["bits"]))}
    return dict(record)
