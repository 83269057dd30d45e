"""The rescue loop: one Wiegand reader, one relay, the listed cards and nothing else.

Fail closed: the relay is driven to its locked level when the door is built and again when
it closes; a frame that is noise, of another format or fails its parity is ignored; only a
card whose keyed hash is on the list pulses the relay for the plan's pulse time (monotonic,
through the `Timers` seam). Every opening and refusal is appended to the rescue log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.clock import Clock
from gateway.doors.timers import Handle, Timers
from gateway.hw.formats import FormatRegistry
from gateway.hw.lines import LineFactory, MemoryOutput, OutputLine
from gateway.hw.wiegand import RawFrame, WiegandReceiver
from gateway.rescue.files import CustomFormat, LogEntry, LogKind, RescuePlan, append_log
from gateway.settings import ParityRuleSettings, WiegandFormatSettings

log = logging.getLogger(__name__)

# Recorded in the log: called with each entry (the default appends to the state dir's log).
LogSink = Callable[[LogEntry], None]


def file_log(state_dir: Path) -> LogSink:
    """A sink that appends to the rescue log of `state_dir`; a write that fails is logged
    (to the system journal), never allowed to stop the door."""

    def record(entry: LogEntry) -> None:
        try:
            if not append_log(state_dir, entry):
                log.warning("rescue log full: %s at %.0f not recorded", entry.kind, entry.time)
        except OSError as exc:
            log.error("rescue log: %s", exc)

    return record


def registry_of(customs: tuple[CustomFormat, ...]) -> FormatRegistry:
    """The built-in Wiegand formats plus the site's custom ones the plan carries."""
    return FormatRegistry.from_settings(
        WiegandFormatSettings(
            name=c.name,
            length=c.length,
            data_bits=c.data_bits,
            card_bits=c.card_bits,
            facility_bits=c.facility_bits,
            parity_rules=tuple(
                ParityRuleSettings(bit=bit, mask=mask, parity=parity)  # type: ignore[arg-type]
                for bit, mask, parity in c.parity_rules
            ),
        )
        for c in customs
    )


class RescueDoor:
    """One door in Super Mode: admits the plan's cards at its reader, refuses the rest."""

    def __init__(
        self,
        plan: RescuePlan,
        key: bytes,
        lines: LineFactory,
        loop: asyncio.AbstractEventLoop,
        timers: Timers,
        clock: Clock,
        record: LogSink,
    ) -> None:
        self._plan, self._key = plan, key
        self._timers, self._clock, self._record = timers, clock, record
        self._formats = registry_of(plan.custom_formats)
        self._relock: Handle | None = None
        locked = not plan.unlocked_level
        self._relay: OutputLine = (
            MemoryOutput(locked)
            if plan.relay_pin is None
            else lines.output(plan.relay_pin, plan.relay_active_high, initial=locked)
        )
        self._receiver: WiegandReceiver | None = None
        if plan.d0_pin is not None and plan.d1_pin is not None:
            d0_pin, d1_pin = plan.d0_pin, plan.d1_pin
            if plan.swap_d0_d1:
                d0_pin, d1_pin = d1_pin, d0_pin
            d0, d1 = lines.input(d0_pin), lines.input(d1_pin)
            self._receiver = WiegandReceiver(loop, d0, d1, self._frame)
        self.openings = 0
        self.refusals = 0

    @property
    def unlocked(self) -> bool:
        """Whether the relay is at its unlocking level now."""
        return self._relay.active == self._plan.unlocked_level

    def start(self) -> None:
        """Record the start of Super Mode (the relay is already locked)."""
        detail = (
            f"door {self._plan.door}, reader {self._plan.reader}, {len(self._plan.cards)} cards"
        )
        self._record(self._entry("started", "", detail))
        log.info("Super Mode: %s", detail)

    def _frame(self, frame: RawFrame) -> None:
        if frame.noise:
            return
        result = self._formats.decode(frame.bits, self._plan.formats)
        if result.card is None:
            return
        if self._plan.admits(self._key, result.card):
            self.openings += 1
            self._record(self._entry("granted", result.card))
            log.warning("Super Mode: card %s opens door %s", result.card, self._plan.door)
            self._unlock()
        else:
            self.refusals += 1
            self._record(self._entry("denied", result.card))
            log.info("Super Mode: card %s is not on the rescue list", result.card)

    def _entry(self, kind: LogKind, card: str, detail: str = "") -> LogEntry:
        plan = self._plan
        return LogEntry(kind, self._clock.time(), card, plan.door, plan.reader, detail)

    def _unlock(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
        self._relay.set(self._plan.unlocked_level)
        self._relock = self._timers.call_at(self._timers.now() + self._plan.pulse_s, self._lock)

    def _lock(self) -> None:
        self._relock = None
        self._relay.set(not self._plan.unlocked_level)

    def close(self) -> None:
        """Lock the door, stop reading, release the lines and record the stop."""
        if self._relock is not None:
            self._relock.cancel()
        self._lock()
        if self._receiver is not None:
            self._receiver.close()
        self._record(self._entry("stopped", ""))
