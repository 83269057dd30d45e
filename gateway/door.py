"""One door's controller: the only code that moves a lock.

The relay is driven to the locked state when the controller is built (before readers or
the web server exist) and again on stop. Contact, exit button and tamper edges become
door and alarm events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.clock import Clock
from gateway.hw.lines import InputLine, OutputLine
from gateway.model import Event, EventType
from gateway.settings import DoorSettings

EventSink = Callable[[Event], None]


class DoorController:
    """Unlock pulses, relock on close, exit button, forced-open and tamper alarms."""

    def __init__(
        self,
        settings: DoorSettings,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        emit: EventSink,
        relay: OutputLine,
        contact: InputLine | None = None,
        rex: InputLine | None = None,
        tamper: InputLine | None = None,
        alarm: OutputLine | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._loop, self._clock, self._emit = loop, clock, emit
        self._relay = relay
        self._relay.set(False)  # relay active = unlocked: lock first of all
        self._alarm = alarm
        if alarm is not None:
            alarm.set(False)
        self._contact, self._rex, self._tamper = contact, rex, tamper
        self._relock: asyncio.TimerHandle | None = None
        self._opened_during_unlock = False
        self.alarms: set[str] = set()
        if contact is not None:
            contact.on_change(self._threadsafe(self._contact_changed))
        if rex is not None:
            rex.on_change(self._threadsafe(self._rex_changed))
        if tamper is not None:
            tamper.on_change(self._threadsafe(self._tamper_changed))

    def _threadsafe(self, handler: Callable[[bool], None]) -> Callable[[float, bool], None]:
        """Edges may arrive on a GPIO library thread; handle them on the loop."""

        def callback(_ticks: float, active: bool) -> None:
            self._loop.call_soon_threadsafe(handler, active)

        return callback

    @property
    def unlocked(self) -> bool:
        return self._relay.active

    @property
    def is_open(self) -> bool | None:
        return None if self._contact is None else self._contact.active

    def grant(self, user_id: str | None, reason: str = "granted") -> None:
        """Unlock for the door's pulse time (a repeat grant restarts the pulse)."""
        self._unlock(self.settings.relay_pulse_s, user_id, reason)

    def _unlock(self, seconds: float, user_id: str | None, reason: str) -> None:
        was_unlocked = self._relay.active
        self._relay.set(True)
        if self._relock is not None:
            self._relock.cancel()
        self._relock = self._loop.call_later(seconds, self.lock, "pulse_ended")
        if not was_unlocked:
            self._opened_during_unlock = False
            self._event("door", "unlocked", user_id=user_id, trace=reason)

    def lock(self, reason: str = "locked") -> None:
        """Lock now (idempotent)."""
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        if self._relay.active:
            self._relay.set(False)
            self._event("door", "locked", trace=reason)

    def _contact_changed(self, is_open: bool) -> None:
        if is_open:
            self._event("door", "door_opened")
            if self._relay.active:
                self._opened_during_unlock = True
            else:
                self._raise_alarm("forced_open")
        else:
            self._event("door", "door_closed")
            if self._relay.active and self._opened_during_unlock:
                self.lock("relock_on_close")

    def _rex_changed(self, pressed: bool) -> None:
        if pressed:
            self._event("door", "exit_button")
            self._unlock(self.settings.relay_pulse_s, None, "exit_button")

    def _tamper_changed(self, tripped: bool) -> None:
        if tripped:
            self._raise_alarm("tamper")
        else:
            self._event("alarm", "tamper_cleared")

    def _raise_alarm(self, name: str) -> None:
        self.alarms.add(name)
        if self._alarm is not None:
            self._alarm.set(True)
        self._event("alarm", name)

    def acknowledge(self) -> None:
        """Clear latched alarms and switch the alarm output off."""
        if self.alarms:
            self.alarms.clear()
            if self._alarm is not None:
                self._alarm.set(False)
            self._event("alarm", "alarm_acknowledged")

    @property
    def alarm_output(self) -> bool:
        return self._alarm.active if self._alarm is not None else bool(self.alarms)

    def _event(
        self, kind: EventType, reason: str, user_id: str | None = None, trace: str = ""
    ) -> None:
        self._emit(
            Event(
                type=kind,
                time=self._clock.time(),
                door=self.name,
                user_id=user_id,
                reason=reason,
                trace=trace,
            )
        )

    def status(self) -> dict[str, Any]:
        return {
            "lock": "unlocked" if self.unlocked else "locked",
            "contact": {None: "not_wired", True: "open", False: "closed"}[self.is_open],
            "alarms": sorted(self.alarms),
            "alarm_output": self.alarm_output,
            "relay_pulse_s": self.settings.relay_pulse_s,
            "auth_mode": self.settings.auth_mode,
        }

    def stop(self) -> None:
        """Lock and stop listening: the last thing the daemon does to a door."""
        for line in (self._contact, self._rex, self._tamper):
            if line is not None:
                line.on_change(None)
        self.lock("stopping")
