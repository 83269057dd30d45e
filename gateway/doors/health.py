"""Input faults: a line that chatters, a button that is stuck; each reported once.

Debouncing absorbs the few milliseconds a healthy switch bounces. A worn button, a reed
contact with a loose magnet or a bad cable keeps changing for seconds: debouncing alone
would either never settle or settle again at every bounce. `InputHealth` watches the raw
edges and the settled level and reports, once each:

- **chattering**: `CHATTER_CHANGES` level changes within `CHATTER_WINDOW_S`. Edges less
  than `BOUNCE_S` apart count as one change (contact bounce), so a busy door or a person
  pressing a button a few times never reaches it; a line flipping every 15-100 ms does
  within a second or two. It ends when the line has been stable for `CHATTER_WINDOW_S`.
- **stuck** (buttons only): active for longer than the door's `button_stuck_s`. It ends
  when the button is released.

What a fault does to the door is the controller's choice (a faulty button is ignored, a
faulty contact or tamper switch still raises its alarms).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Literal

from gateway.doors.timers import Later, Timers

CHATTER_CHANGES = 20
CHATTER_WINDOW_S = 5.0
BOUNCE_S = 0.01
InputFault = Literal["chattering", "stuck"]
# Called with (the fault now, or None when it ended; the fault that ended, or None; detail).
FaultReport = Callable[[InputFault | None, InputFault | None, str], None]


class InputHealth:
    """Chatter and stuck detection for one input, on the timer seam."""

    def __init__(
        self, timers: Timers, stuck_s: float | None, active: bool, report: FaultReport
    ) -> None:
        """`stuck_s` None: the input cannot be stuck (a contact or a tamper switch may
        stay active for as long as the door is open or the cover off)."""
        self._stuck_s = stuck_s
        self._report = report
        self.fault: InputFault | None = None
        self._changes: deque[float] = deque()  # edge times of the changes in the window
        self._last_edge: float | None = None
        self._quiet = Later(timers)
        self._stuck = Later(timers)
        self._active = False
        self.settled(active)

    def edge(self, timestamp: float) -> None:
        """A raw edge (already known to be in order), in the pin factory's seconds."""
        if self._last_edge is None or timestamp - self._last_edge >= BOUNCE_S:
            self._changes.append(timestamp)
        self._last_edge = timestamp
        while self._changes and self._changes[0] <= timestamp - CHATTER_WINDOW_S:
            self._changes.popleft()
        if self.fault != "chattering" and len(self._changes) >= CHATTER_CHANGES:
            self._stuck.cancel()
            self._set("chattering", f"{CHATTER_CHANGES} changes in {CHATTER_WINDOW_S:g} s")
        if self.fault == "chattering":
            self._quiet.after(CHATTER_WINDOW_S, self._stable_again)

    def settled(self, active: bool) -> None:
        """The debounced level changed (or is known at start-up)."""
        self._active = active
        if self._stuck_s is None:
            return
        if not active:
            self._stuck.cancel()
            if self.fault == "stuck":
                self._set(None, "released")
        elif self.fault is None:
            self._stuck.after(self._stuck_s, self._stuck_now)

    def _stuck_now(self) -> None:
        assert self._stuck_s is not None
        self._set("stuck", f"active for {self._stuck_s:g} s")

    def _stable_again(self) -> None:
        self._changes.clear()
        self._set(None, f"stable for {CHATTER_WINDOW_S:g} s")
        self.settled(self._active)  # a button still pressed starts its stuck time now

    def _set(self, fault: InputFault | None, detail: str) -> None:
        ended, self.fault = self.fault, fault
        self._report(fault, ended, detail)

    def cancel(self) -> None:
        self._quiet.cancel()
        self._stuck.cancel()
