"""Wiegand over two GPIO inputs: edges -> bits -> frames -> credentials and key presses.

A falling edge on D0 is a 0, on D1 a 1. Bit times come from the pin factory's edge
timestamps, not from when the callback ran. The frame ends when the lines have been
quiet for three observed bit intervals, bounded to 3..30 ms, so a fast reader is not
held to the pace of a slow one and the whole SIA range (pulse 20-100 us, bit interval
200 us - 20 ms) is accepted (see docs/readers.md).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.clock import Clock
from gateway.hw.formats import (
    BUILTIN,
    MAX_FRAME_BITS,
    FormatRegistry,
    FrameResult,
    decode_key_burst,
)
from gateway.hw.lines import InputLine, LineFactory
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.model import Credential
from gateway.settings import ReaderSettings

MIN_GAP_S = 0.003
MAX_GAP_S = 0.030
MAX_BITS = MAX_FRAME_BITS
RECENT_FRAMES = 20
REJECT_REASONS = ("parity", "length", "noise", "swapped_lines", "keypad_burst")
SWAPPED_WARNING = "DATA0/DATA1 look swapped; set swap_d0_d1 = true or rewire"
SWAPPED_WHILE_SET = "DATA0/DATA1 look swapped although swap_d0_d1 = true; set it to false"


@dataclass(frozen=True)
class RawFrame:
    """One burst of bits between quiet gaps, with the edge time of each bit kept.

    `noise` says why the burst cannot be trusted whatever its bits ("" when clean).
    """

    bits: str
    ticks: tuple[float, ...]
    noise: str = ""

    @property
    def duration_us(self) -> float:
        """From the first bit's falling edge to the last one's."""
        return (self.ticks[-1] - self.ticks[0]) * 1e6 if len(self.ticks) > 1 else 0.0

    @property
    def intervals_us(self) -> list[float]:
        """The time from each bit's falling edge to the next one's."""
        return [(b - a) * 1e6 for a, b in zip(self.ticks, self.ticks[1:], strict=False)]

    @property
    def median_interval_us(self) -> float | None:
        """The typical bit interval (None for a single bit)."""
        gaps = self.intervals_us
        return statistics.median(gaps) if gaps else None

    @property
    def min_interval_us(self) -> float | None:
        """The shortest bit interval (None for a single bit)."""
        gaps = self.intervals_us
        return min(gaps) if gaps else None

    @property
    def max_interval_us(self) -> float | None:
        """The longest bit interval: a stall inside the frame shows here (None for one bit)."""
        gaps = self.intervals_us
        return max(gaps) if gaps else None


class WiegandReceiver:
    """Collects bits from D0/D1 and hands each finished frame on as a RawFrame."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        d0: InputLine,
        d1: InputLine,
        on_frame: Callable[[RawFrame], None],
    ) -> None:
        self._loop = loop
        self._on_frame = on_frame
        self._bits: list[str] = []
        self._times: list[float] = []
        self._noise = ""
        self._low = [False, False]  # line levels as seen through edges, D0 then D1
        self._timer: asyncio.TimerHandle | None = None
        self._d0, self._d1 = d0, d1
        d0.on_change(self._edge_d0)
        d1.on_change(self._edge_d1)

    # Both edges are forwarded: the rising ones tell when a line is released, which is
    # how "both lines low at once" (noise, a short, a crossed cable) is noticed.
    def _edge_d0(self, ticks: float, active: bool) -> None:
        self._loop.call_soon_threadsafe(self._edge, 0, ticks, active)

    def _edge_d1(self, ticks: float, active: bool) -> None:
        self._loop.call_soon_threadsafe(self._edge, 1, ticks, active)

    def _edge(self, line: int, ticks: float, active: bool) -> None:
        self._low[line] = active
        if not active:
            return
        if self._low[1 - line]:
            self._noise = self._noise or "both lines low at once"
        self._bit(str(line), ticks)

    def _bit(self, bit: str, ticks: float) -> None:
        if len(self._bits) < MAX_BITS:
            self._bits.append(bit)
            self._times.append(ticks)
        else:
            self._noise = f"more than {MAX_BITS} bits"
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
        frame = RawFrame("".join(self._bits), tuple(self._times), self._noise)
        self._bits, self._times, self._noise = [], [], ""
        # Re-read the levels so one missed rising edge cannot flag every later frame.
        self._low = [self._d0.active, self._d1.active]
        if frame.bits:
            self._on_frame(frame)

    def close(self) -> None:
        """Stop listening; a frame in progress is dropped."""
        if self._timer is not None:
            self._timer.cancel()
        self._d0.on_change(None)
        self._d1.on_change(None)


@dataclass(frozen=True)
class Outcome:
    """How the reader classified one frame (`reason` "accepted" or why rejected)."""

    kind: str | None  # "card", "key", "pin", or None when it is nothing
    format: str | None
    reason: str
    secret: bool  # the bits may carry PIN digits: never shown
    detail: str = ""
    facility: int | None = None
    number: int | None = None


@dataclass
class WiegandStats:
    """Counters and recent frames for the reader's status()."""

    accepted: int = 0
    frames: int = 0  # every frame seen: the last one's number, the id of each recent frame
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_FRAMES))

    def count(self, outcome: Outcome) -> None:
        """Add one frame to the accepted or rejected counters."""
        if outcome.reason == "accepted":
            self.accepted += 1
        else:
            self.rejected[outcome.reason] = self.rejected.get(outcome.reason, 0) + 1

    def remember(self, frame: RawFrame, outcome: Outcome, now: float) -> None:
        """Keep the frame for diagnostics; PIN-bearing bits are masked before storing."""
        self.frames += 1
        record: dict[str, Any] = {
            "id": self.frames,
            "time": now,
            "bits": "*" * len(frame.bits) if outcome.secret else frame.bits,
            "bit_count": len(frame.bits),
            "duration_us": round(frame.duration_us, 1),
            "median_interval_us": _rounded(frame.median_interval_us),
            "min_interval_us": _rounded(frame.min_interval_us),
            "max_interval_us": _rounded(frame.max_interval_us),
            "kind": outcome.kind,
            "format": outcome.format,
            "result": outcome.reason,
        }
        if outcome.detail:
            record["detail"] = outcome.detail
        if outcome.kind == "card" and outcome.number is not None:
            record.update(facility=outcome.facility, card_number=outcome.number)
        self.recent.append(record)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class WiegandReader:
    """A Wiegand card reader or keypad on two GPIO inputs (`kind` wiegand / wiegand_keypad).

    Frames of a configured card format become card credentials; on a keypad, 4- and 8-bit
    bursts become key presses, and a frame of `pin_frame_format` becomes a whole PIN
    (delivered as the keys `*`, its digits, `#`, so the collector handles it like typed
    keys). `formats` is the registry with the site's custom formats. Credentials and keys
    are stamped with `clock`'s wall time; the frame timing is the pin factory's.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        lines: LineFactory,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        clock: Clock,
        formats: FormatRegistry = BUILTIN,
    ) -> None:
        if settings.d0_pin is None or settings.d1_pin is None:
            raise ValueError(f"reader {settings.name}: d0_pin and d1_pin are required")
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._sink = sink
        self._clock = clock
        self._formats = formats
        self._keypad = settings.kind == "wiegand_keypad"
        self._pin_format = self._pin_frame_format()
        self._card_lengths = self._card_frame_lengths()
        self.stats = WiegandStats()
        self.warning: str | None = None
        self._health = ReaderHealth()
        # Crossed wiring is undone by reading each line as the other one.
        d0_pin, d1_pin = settings.d0_pin, settings.d1_pin
        if settings.swap_d0_d1:
            d0_pin, d1_pin = d1_pin, d0_pin
        d0, d1 = lines.input(d0_pin), lines.input(d1_pin)
        self._receiver = WiegandReceiver(loop, d0, d1, self._frame)

    def _pin_frame_format(self) -> str | None:
        unknown = [name for name in self.settings.formats if name not in self._formats]
        pin = self.settings.pin_frame_format if self._keypad else ""
        if pin and pin not in self._formats:
            unknown.append(pin)
        if unknown:
            raise ValueError(f"reader {self.name}: unknown Wiegand formats {', '.join(unknown)}")
        return pin or None

    def _card_frame_lengths(self) -> frozenset[int]:
        """Lengths read as cards: on a keypad, the only frames whose bits may be shown."""
        pin_length = self._formats[self._pin_format].length if self._pin_format else None
        lengths = {self._formats[name].length for name in self.settings.formats}
        return frozenset(lengths - {pin_length} - set(self.settings.keypad_burst_bits))

    def _frame(self, frame: RawFrame) -> None:
        now = self._clock.time()
        self._health.last_seen = now
        outcome = self._classify(frame, now)
        self.stats.count(outcome)
        self.stats.remember(frame, outcome, now)
        if outcome.reason == "swapped_lines":
            self.warning = SWAPPED_WHILE_SET if self.settings.swap_d0_d1 else SWAPPED_WARNING
        elif outcome.reason == "accepted" and outcome.kind in ("card", "pin"):
            self.warning = None

    def _classify(self, frame: RawFrame, now: float) -> Outcome:
        bits = frame.bits
        # On a keypad, anything that is not plainly a card frame may hold PIN digits.
        secret = self._keypad and len(bits) not in self._card_lengths
        if frame.noise:
            return Outcome(None, None, "noise", secret, frame.noise)
        if self._keypad and len(bits) in self.settings.keypad_burst_bits:
            return self._key_burst(bits, now)
        if self._pin_format is not None and len(bits) == self._formats[self._pin_format].length:
            return self._pin_frame(bits, self._pin_format, now)
        return self._card_frame(bits, secret, now)

    def _key_burst(self, bits: str, now: float) -> Outcome:
        key = decode_key_burst(bits)
        name = f"keypad-{len(bits)}"
        if key is None:
            return Outcome("key", name, "keypad_burst", True, "not a key code")
        self._sink.key(self.name, key, now)
        return Outcome("key", name, "accepted", True)

    def _pin_frame(self, bits: str, fmt: str, now: float) -> Outcome:
        result = self._formats.decode(bits, (fmt,))
        if result.number is None:
            return Outcome("pin", fmt, result.reason, True)
        # `*` first: a whole-PIN frame is a complete entry, whatever was typed before it.
        for key in f"*{result.number}#":
            self._sink.key(self.name, key, now)
        return Outcome("pin", fmt, "accepted", True)

    def _card_frame(self, bits: str, secret: bool, now: float) -> Outcome:
        result: FrameResult = self._formats.decode(bits, self.settings.formats)
        if result.card is None:
            return Outcome("card", result.format, result.reason, secret)
        self._sink.credential(Credential("card", result.card, self.name, now, raw=bits))
        return Outcome(
            "card", result.format, "accepted", secret, "", result.facility, result.number
        )

    def status(self) -> dict[str, Any]:
        """Health and diagnostics: counters by reason, warnings, the last 20 frames."""
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "online": self._health.online,
            "last_seen": self._health.last_seen,
            "formats": list(self.settings.formats),
            "pin_frame_format": self._pin_format,
            "swap_d0_d1": self.settings.swap_d0_d1,
            "frames_accepted": self.stats.accepted,
            "frames_rejected": dict(self.stats.rejected),
            "warning": self.warning,
            "recent": [dict(record) for record in self.stats.recent],
        }

    def start(self) -> None:
        """Edges are watched from construction; nothing more to start."""
        return None

    def close(self) -> None:
        """Stop reading the lines."""
        self._receiver.close()
