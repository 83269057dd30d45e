"""Elevator floors: one output per `[[floors]]` entry, enabled for a while after a grant at
a lift reader (the Akuvox "Floor No."; docs/floors.md).

An output is a relay (or the dry contact an elevator controller reads); energised means
"this floor's button works". Fail closed: every output is built disabled, a grant enables
only the user's floors (or the lift's default floors for a user with none) for
`floor_enable_s`, the next grant replaces them, and a fault while switching or a stop
disables them all. Time is the `Timers` seam (monotonic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from gateway.clock import Clock
from gateway.doors.build import output_line
from gateway.doors.timers import Later, Timers
from gateway.hw.lines import LineFactory, OutputLine
from gateway.model import Event
from gateway.settings import FloorSettings, LiftSettings

log = logging.getLogger(__name__)


class FloorOutputs:
    """The lift's floor outputs: `enable` after a grant, `close` on stop."""

    def __init__(
        self,
        floors: Sequence[FloorSettings],
        lift: LiftSettings,
        lines: LineFactory,
        timers: Timers,
        clock: Clock,
        emit: Callable[[Event], None],
    ) -> None:
        self._settings = {floor.name: floor for floor in floors}
        self._lift = lift
        self._clock = clock
        self._emit = emit
        self._off = Later(timers)
        self._outputs: dict[str, OutputLine] = {}
        try:
            for floor in floors:  # initial=False: disabled from the first instant
                self._outputs[floor.name] = output_line(lines, floor.pin, floor.active_high)
        except Exception:
            self.close()
            raise
        self.enabled: tuple[str, ...] = ()
        self.faults = 0

    def enable(
        self, user_floors: Sequence[str], door: str, reader: str, user_id: str | None
    ) -> None:
        """Enable `user_floors` this lift has (the default floors when the user lists none)
        for `floor_enable_s`, every other floor disabled; journaled as `floors_enabled`."""
        wanted = tuple(user_floors) if user_floors else self._lift.default_floors
        floors = tuple(name for name in self._outputs if name in wanted)
        self._off.cancel()
        try:
            for name, line in self._outputs.items():
                if name not in floors:
                    line.set(False)
            for name in floors:
                self._outputs[name].set(True)
        except Exception:
            log.exception("a floor output failed; disabling every floor")
            self._fault(door, reader, user_id)
            return
        self.enabled = floors
        if floors:
            self._off.after(self._lift.floor_enable_s, self.disable_all)
        shown = ",".join(floors) if floors else "none"
        seconds = f" for {self._lift.floor_enable_s:g}s" if floors else ""
        self._journal("floors_enabled", door, reader, user_id, f"floors:{shown}{seconds}")

    def disable_all(self) -> None:
        """Every floor disabled now (the time ran out, or a fault); never raises."""
        self._off.cancel()
        self.enabled = ()
        for name, line in self._outputs.items():
            try:
                line.set(False)
            except Exception:
                log.exception("could not disable floor %s", name)

    def refuse(self, door: str, reader: str, user_id: str | None, why: str) -> None:
        """A grant whose floors cannot be known (the store failed): every floor disabled,
        journaled as `floors_fault` with `why`."""
        self._fault(door, reader, user_id, why)

    def _fault(
        self, door: str, reader: str, user_id: str | None, why: str = "output_failed"
    ) -> None:
        self.faults += 1
        self.disable_all()
        self._journal("floors_fault", door, reader, user_id, f"floors:{why}")

    def _journal(
        self, reason: str, door: str, reader: str, user_id: str | None, trace: str
    ) -> None:
        event = Event(
            type="door",
            time=self._clock.time(),
            door=door,
            reader=reader,
            user_id=user_id,
            reason=reason,
            trace=trace,
        )
        try:
            self._emit(event)
        except Exception:  # a journal problem must not leave a floor enabled
            log.exception("could not journal %s", reason)

    def status(self) -> dict[str, Any]:
        """Each floor's output (pin, energised), which are enabled, the faults so far."""
        return {
            "enabled": list(self.enabled),
            "enable_s": self._lift.floor_enable_s,
            "default_floors": list(self._lift.default_floors),
            "faults": self.faults,
            "floors": {
                name: {"pin": self._settings[name].pin, "active": line.active}
                for name, line in self._outputs.items()
            },
        }

    def close(self) -> None:
        """Disable every floor and release its line (stop, or a start that failed)."""
        self.disable_all()
        for line in self._outputs.values():
            try:
                line.close()
            except Exception:
                log.exception("could not release a floor output")
        self._outputs.clear()
