"""One door's state machine: the only code that moves a lock.

Inputs are the door contact, the exit button (REX) and the tamper switch (debounced edges,
watched for chatter and, for buttons, for being stuck), grants and denies from the access
pipeline, technician commands (pulse, lockdown, acknowledge) and the unlock/bell schedules.
Outputs are the lock relay, the alarm output, the second relay, reader feedback (pre-alarm)
and events.

Time is an input: every wait is a timer on the `Timers` seam, so tests move a manual clock.
Fail closed: the relay is locked before anything else happens, on stop, whenever a
schedule cannot be evaluated, and nothing but a grant, the exit button or an active
schedule ever unlocks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.doors.actions import FtpPut, HttpGet, InputActions, safe_url
from gateway.doors.debounce import Debouncer
from gateway.doors.events import DOOR_EVENTS, LATCHED_ALARMS
from gateway.doors.health import FaultReport, InputFault, InputHealth
from gateway.doors.outputs import LockRelay, PulsedOutput
from gateway.doors.schedule import ScheduleCheck, next_boundary
from gateway.doors.state import DoorState
from gateway.doors.timers import Later, Timers
from gateway.hw.lines import InputLine, MemoryOutput, OutputLine
from gateway.model import Event
from gateway.settings import DoorSettings, InputActionSettings

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]
NEVER = float("-inf")
# Push buttons: ignored while chattering or stuck (fail closed). A contact or tamper switch
# in fault keeps raising its alarms (ignoring it would hide a break-in), and a tamper switch
# that chatters counts as tripped: it is broken or being tampered with.
BUTTONS = frozenset({"rex", "doorbell"})


class RelayTarget(Protocol):
    """A door whose relays an input action may pulse (`DoorController.pulse_from_input`)."""

    def pulse_from_input(self, relay: str, source: str) -> str: ...


class PrealarmSink(Protocol):
    """A reader that can sound the held-open pre-alarm (see `ReaderFeedback`)."""

    def set_prealarm(self, on: bool) -> None: ...


@dataclass(frozen=True)
class DoorLinks:
    """What a door is connected to besides its own lines; all optional.

    `schedule_active`/`bell_active` are built by the app (`right_schedule`), `http_get`
    sends input actions (`gateway.doors.actions.http_get`), `state_changed` saves the
    `DoorState` so lockdown and latched alarms survive a restart.
    """

    second_relay: OutputLine | None = None
    schedule_active: ScheduleCheck | None = None
    bell_active: ScheduleCheck | None = None
    http_get: HttpGet | None = None
    ftp_put: FtpPut | None = None  # stores input actions' FTP notifications
    state_changed: Callable[[DoorState], None] | None = None
    # every door of the gateway by name, for input actions that pulse another door's
    # relay (read when the action fires, so it may be filled after this door is built)
    doors: Mapping[str, RelayTarget] | None = None


@dataclass
class _Pulse:
    """One timed unlock: who or what caused it, and whether the door opened during it."""

    reason: str  # "granted", "exit_button", "remote"
    user_id: str | None
    is_grant: bool
    opened: bool


class DoorController:
    """Unlock pulses, schedules, lockdown, exit button, held-open/forced-open/tamper alarms."""

    def __init__(
        self,
        settings: DoorSettings,
        timers: Timers,
        clock: Clock,
        emit: EventSink,
        relay: OutputLine,
        links: DoorLinks | None = None,
        /,  # positional: a `**lines` mapping of input lines can never fill it by mistake
        contact: InputLine | None = None,
        rex: InputLine | None = None,
        tamper: InputLine | None = None,
        alarm: OutputLine | None = None,
        doorbell: InputLine | None = None,
    ) -> None:
        self._relay = LockRelay(relay, settings.lock_type)
        self._relay.lock()  # before anything else: a crash may have left it unlocked
        self.settings = settings
        self.name = settings.name
        self._timers = timers
        links = links or DoorLinks()
        self._clock, self._sink, self._state_changed = clock, emit, links.state_changed
        self._alarm_line = alarm
        if alarm is not None:
            alarm.set(False)
        self._second_line = links.second_relay  # kept: a runtime setting may enable it
        self._second = self._build_second_relay(links.second_relay)
        self._unlock_check, self._bell_check = links.schedule_active, links.bell_active
        self._init_state()
        # After a crash the journal may end with `unlocked`: the lock above follows it there.
        self._event("locked", trace="startup")
        self._actions = InputActions(
            settings.input_actions,
            self._timers,
            links.http_get,
            self._input_active,
            self._action_failed,
            self._execute_relay,
            None if links.ftp_put is None else (links.ftp_put, self._ftp_notification),
            email=self._action_email,
        )
        self._doors = links.doors
        self._lines = {"contact": contact, "rex": rex, "tamper": tamper, "doorbell": doorbell}
        self._health: dict[str, InputHealth] = {}
        self._inputs = self._build_inputs()
        self._check_inputs_at_startup()

    def _init_state(self) -> None:
        timers = self._timers
        self._stopped = False
        self._pulse: _Pulse | None = None
        self._pulse_timer, self._rex_timer = Later(timers), Later(timers)
        self._prealarm_timer, self._held_timer = Later(timers), Later(timers)
        self._boundary, self._deferred_timer = Later(timers), Later(timers)
        self._deferred_since: float | None = None  # an opening waiting for a REX to settle
        self._shunt_until = NEVER  # the exit button authorises openings until then
        self._locked_at = NEVER  # when the relay last locked
        self._recent_cause = ""  # what last unlocked (or restarted) the door
        self._last_unlock_cause = ""  # ... as it was when the relay last locked
        self._open_authorised = False
        self._prealarm = False
        self._alarms: set[str] = set()
        self._tamper_trip_journaled = False  # a tamper_cleared is owed for this latch
        self._lockdown = False
        self._lockdown_by: str | None = None
        self._schedule_on, self._first_in = False, False
        self._bell_on = False
        self._feedback: list[PrealarmSink] = []
        self._action_second: PulsedOutput | None = None  # second relay kept for actions

    def _build_second_relay(self, line: OutputLine | None) -> PulsedOutput | None:
        if self.settings.second_relay_mode == "disable":
            return None
        # Unwired (simulation): keep the logical state so the status page can show it.
        return PulsedOutput(line if line is not None else MemoryOutput(), self._timers)

    def _build_inputs(self) -> dict[str, Debouncer]:
        settings = self.settings
        handlers = {
            "contact": self._contact_settled,
            "rex": self._rex_settled,
            "tamper": self._tamper_settled,
            "doorbell": self._doorbell_settled,
        }
        inputs: dict[str, Debouncer] = {}
        for name, line in self._lines.items():
            if line is None:
                continue
            is_button = name in BUTTONS
            settle = (
                settings.contact_debounce_s if name == "contact" else settings.button_debounce_s
            )
            stuck_s = settings.button_stuck_s if is_button else None
            report = self._fault_reporter(name)
            self._health[name] = InputHealth(self._timers, stuck_s, line.active, report)
            commit = self._settled_handler(name, handlers[name])
            inputs[name] = Debouncer(self._timers, settle, line.active, commit)
            line.on_change(self._threadsafe(name))
        return inputs

    def _settled_handler(
        self, name: str, handler: Callable[[bool, float], None]
    ) -> Callable[[bool, float], None]:
        """Tell the input's health first; a button in fault does nothing (fail closed)."""
        health = self._health[name]

        def settled(active: bool, first_edge_at: float) -> None:
            health.settled(active)
            if name in BUTTONS and health.fault is not None:
                return
            handler(active, first_edge_at)

        return settled

    def _fault_reporter(self, name: str) -> FaultReport:
        """Journal an input's fault once, and its end; a chattering tamper switch alarms."""

        def report(fault: InputFault | None, ended: InputFault | None, detail: str) -> None:
            if fault is not None:
                self._event("input_fault", trace=f"{name} {fault}: {detail}")
                if name == "tamper":
                    self._raise_latched("tamper", fault)
            else:
                self._event("input_ok", trace=f"{name} {ended} ended: {detail}")

        return report

    def _threadsafe(self, name: str) -> Callable[[float, bool], None]:
        """Edges may arrive on a GPIO library thread: they enter the loop here."""

        def callback(timestamp: float, active: bool) -> None:
            self._timers.call_soon_threadsafe(self.input_edge, name, timestamp, active)

        return callback

    def _check_inputs_at_startup(self) -> None:
        """A door already open is treated as held open; a tripped tamper alarms at once."""
        if self.is_open:
            self._event("door_open_at_startup")
            self._open_authorised = True  # unknown how it opened: give it the held-open time
            self._update_held_open("")
        if self._input_active("tamper"):
            self._raise_latched("tamper", "at_startup")

    # -- inputs ------------------------------------------------------------------------

    def input_edge(self, name: str, timestamp: float, active: bool) -> None:
        """A raw edge of input `name` ("contact", "rex", "tamper", "doorbell"), on the loop."""
        debouncer = self._inputs.get(name)
        if debouncer is not None and not self._stopped and debouncer.edge(timestamp, active):
            self._health[name].edge(timestamp)

    def _input_active(self, name: str) -> bool:
        """The settled level; in fault a button counts as released and a tamper switch as
        tripped (both fail closed: no unlock, no acknowledging the tamper alarm)."""
        debouncer = self._inputs.get(name)
        if debouncer is None:
            return False
        faulty = self._input_fault(name) is not None
        if name in BUTTONS:
            return debouncer.level and not faulty
        return debouncer.level or (faulty and name == "tamper")

    def _input_fault(self, name: str) -> InputFault | None:
        health = self._health.get(name)
        return None if health is None else health.fault

    @property
    def is_open(self) -> bool | None:
        """The settled contact state; None when no contact is wired."""
        contact = self._inputs.get("contact")
        return None if contact is None else contact.level

    def _contact_settled(self, is_open: bool, first_edge_at: float) -> None:
        if is_open:
            self._judge_opening(first_edge_at, may_wait=True)
        else:
            self._door_closed()
        self._actions.input_changed("contact", is_open)

    def _judge_opening(self, since: float, may_wait: bool) -> None:
        """Was this opening authorised? A REX still settling gets to answer first."""
        cause = self._authorisation(since)
        if cause is None and may_wait and self._rex_settling_to_pressed():
            self._deferred_since = since
            self._deferred_timer.after(2 * self.settings.button_debounce_s, self._judge_deferred)
            return
        if self._pulse is not None:
            self._pulse.opened = True
        self._event("door_opened", trace=cause or "forced")
        if cause is None:
            self._raise_latched("forced_open", "opened without a grant, exit button or schedule")
            return
        self._open_authorised = True
        self._update_held_open("", opened_at=since)  # counted from the first edge

    def _judge_deferred(self) -> None:
        since, self._deferred_since = self._deferred_since, None
        self._deferred_timer.cancel()
        if since is not None:
            self._judge_opening(since, may_wait=False)

    def _rex_settling_to_pressed(self) -> bool:
        rex = self._inputs.get("rex")
        healthy = self._input_fault("rex") is None
        return rex is not None and healthy and rex.settling and not rex.level

    def _authorisation(self, since: float) -> str | None:
        """What authorised an opening whose first edge came at `since`, or None (forced).

        Authorisation at any moment since the first edge counts: the debounce delay must
        not turn an opening made just before the relock into a forced opening.
        """
        if self._relay.unlocked:
            return self._unlock_cause()
        if self._shunt_until >= since:
            return "exit_button"
        if self._locked_at >= since:
            return self._last_unlock_cause
        return None

    def _door_closed(self) -> None:
        if self._deferred_since is not None:
            self._judge_deferred()  # decide the opening before recording the closing
        self._event("door_closed")
        self._open_authorised = False
        self._update_held_open("door_closed")
        pulse = self._pulse
        if self.settings.relock_on_close and pulse is not None and pulse.opened:
            self._pulse_timer.cancel()
            self._pulse = None
            self._drive("relock_on_close")

    def _rex_settled(self, pressed: bool, _first_edge_at: float) -> None:
        self._actions.input_changed("rex", pressed)
        if not pressed:
            return
        settings = self.settings
        window = settings.rex_action_delay_s + settings.relay_pulse_s
        self._shunt_until = max(self._shunt_until, self._timers.now() + window)
        if self._deferred_since is not None:
            self._judge_deferred()
        if self._lockdown or not settings.rex_unlocks:
            self._event("exit_button", trace="lockdown" if self._lockdown else "shunt_only")
        elif settings.rex_action_delay_s > 0:
            self._event("exit_button", trace="delayed")
            self._rex_timer.after(settings.rex_action_delay_s, self._rex_action)
        else:
            self._event("exit_button", trace="unlock")
            self._rex_action()

    def _rex_action(self) -> None:
        if self._lockdown or self._stopped:
            return
        if self.settings.rex_only_if_still_pressed and not self._input_active("rex"):
            self._event("exit_button_cancelled", trace="released before the action delay")
            return
        self._start_pulse("exit_button", None, is_grant=False)

    def _tamper_settled(self, tripped: bool, _first_edge_at: float) -> None:
        self._actions.input_changed("tamper", tripped)
        if tripped:
            self._raise_latched("tamper", "")
        elif self._tamper_trip_journaled:
            # Once per latch, as the trip: a switch bouncing while latched is not news.
            self._tamper_trip_journaled = False
            self._event("tamper_cleared")

    def _doorbell_settled(self, pressed: bool, _first_edge_at: float) -> None:
        self._actions.input_changed("doorbell", pressed)
        if pressed:
            self.doorbell(trace="button")

    # -- the lock relay ----------------------------------------------------------------

    @property
    def unlocked(self) -> bool:
        return self._relay.unlocked

    def grant_refusal(self, override_lockdown: bool = False) -> str | None:
        """Why `grant` would refuse now: "shutdown" while stopping, "lockdown" in lockdown
        for anyone without the lockdown override; None when it would unlock."""
        if self._stopped:
            return "shutdown"
        if self._lockdown and not override_lockdown:
            return "lockdown"
        return None

    def grant(
        self,
        user_id: str | None,
        override_lockdown: bool = False,
        reason: str = "granted",
        starts_schedule: bool = True,
    ) -> bool:
        """Unlock for a granted credential; returns whether the door unlocked.

        In lockdown only `override_lockdown=True` (a user who holds that privilege) unlocks.
        A repeat grant restarts the pulse. Inside a first-person-in schedule the first
        grant of a user with `starts_schedule` (the Akuvox "Relay Schedule Activation
        Permission") starts it; anyone else's only opens for the pulse.
        """
        if self._stopped:
            return False
        if self._lockdown and not override_lockdown:
            self._event("grant_refused", user_id, trace="lockdown")
            return False
        self._second_pulse("access_granted")
        if self._waiting_first_person and not self._lockdown and starts_schedule:
            self._first_in = True
            self._hold_changed("first_person", user_id)
            return True
        if self._schedule_unlocking:
            return True  # already held unlocked by the schedule
        trace = f"{reason}:lockdown_override" if self._lockdown else reason
        self._start_pulse(trace, user_id, is_grant=True)
        return True

    def pulse(self, by: str, override_lockdown: bool = False) -> bool:
        """A technician's remote unlock (the "pulse door" button)."""
        return self.grant(by, override_lockdown=override_lockdown, reason="remote")

    def denied(self) -> None:
        """A credential was denied at this door (drives an access_denied second relay)."""
        self._second_pulse("access_denied")

    def _start_pulse(self, reason: str, user_id: str | None, is_grant: bool) -> None:
        # A door already standing open counts as opened: its closing relocks.
        self._pulse = _Pulse(reason, user_id, is_grant, opened=bool(self.is_open))
        self._recent_cause = reason
        self._pulse_timer.after(self.settings.relay_pulse_s, self._pulse_ended)
        self._drive("", user_id)

    def _pulse_ended(self) -> None:
        pulse, self._pulse = self._pulse, None
        # A door still settling open was opened in time: not a "granted, not opened".
        opened = pulse is not None and (pulse.opened or self._contact_settling_open())
        if pulse is not None and pulse.is_grant and not opened:
            self._event("granted_not_opened", pulse.user_id)
        self._drive("pulse_ended")

    def _contact_settling_open(self) -> bool:
        contact = self._inputs.get("contact")
        return contact is not None and contact.settling and not contact.level

    def lock(self, reason: str = "locked") -> None:
        """End any pulse now (a schedule or lockdown keeps deciding)."""
        self._pulse_timer.cancel()
        self._pulse = None
        self._drive(reason)

    @property
    def _schedule_unlocking(self) -> bool:
        """The schedule holds the door unlocked and no lockdown masks it."""
        return self._holding and not self._lockdown

    def _unlock_cause(self) -> str:
        return self._pulse.reason if self._pulse is not None else "schedule"

    def _drive(self, lock_trace: str, user_id: str | None = None) -> None:
        """Move the relay to what the pulse, schedule and lockdown want, with one event."""
        want = not self._stopped and (self._pulse is not None or self._schedule_unlocking)
        if want == self._relay.unlocked:
            return
        if want:
            self._relay.unlock()
            self._event("unlocked", user_id, trace=self._unlock_cause())
        else:
            self._last_unlock_cause = self._recent_cause
            self._relay.lock()
            self._locked_at = self._timers.now()
            self._event("locked", trace=lock_trace)
        self._update_held_open("")

    # -- held open ---------------------------------------------------------------------

    def _update_held_open(self, why: str, opened_at: float | None = None) -> None:
        """Watch an authorised open door unless a schedule holds it unlocked.

        The time counts from `opened_at`, or from now (start-up, or the moment a schedule
        stopped holding the door unlocked).
        """
        if self._stopped:
            return
        watch = bool(self.is_open) and self._open_authorised and not self._schedule_unlocking
        if watch:
            if not self._held_timer.pending and "held_open" not in self._alarms:
                self._arm_held_open(self._timers.now() if opened_at is None else opened_at)
            return
        self._held_timer.cancel()
        self._prealarm_timer.cancel()
        self._set_prealarm(False)
        if "held_open" in self._alarms:
            self._alarms.discard("held_open")
            self._event("held_open_cleared", trace=why or "schedule")
            self._sync_alarm_output()

    def _arm_held_open(self, start: float) -> None:
        timeout = self.settings.door_open_timeout_s
        lead = min(self.settings.held_open_prealarm_s, timeout)
        if lead > 0:
            self._prealarm_timer.at(start + timeout - lead, self._start_prealarm)
        self._held_timer.at(start + timeout, self._held_open)

    def _start_prealarm(self) -> None:
        when = self._held_timer.when
        left = 0.0 if when is None else when - self._timers.now()
        self._event("held_open_prealarm", trace=f"{left:.0f}s left")
        self._set_prealarm(True)

    def _held_open(self) -> None:
        self._alarms.add("held_open")
        self._event("held_open", trace=f"open longer than {self.settings.door_open_timeout_s:g}s")
        self._sync_alarm_output()

    def attach_feedback(self, feedback: PrealarmSink) -> None:
        """A reader at this door that sounds the held-open pre-alarm."""
        self._feedback.append(feedback)
        if self._prealarm:
            feedback.set_prealarm(True)

    def _set_prealarm(self, on: bool) -> None:
        if on == self._prealarm:
            return
        self._prealarm = on
        for feedback in self._feedback:
            try:
                feedback.set_prealarm(on)
            except Exception:  # a broken reader must not stop the door
                log.exception("door %s: pre-alarm feedback failed", self.name)

    # -- alarms ------------------------------------------------------------------------

    @property
    def alarms(self) -> frozenset[str]:
        return frozenset(self._alarms)

    @property
    def alarm_output(self) -> bool:
        return self._alarm_line.active if self._alarm_line is not None else bool(self._alarms)

    def _raise_latched(self, name: str, trace: str) -> None:
        """Latch alarm `name`: journaled once per latch, not at every bounce while latched."""
        if name in self._alarms:
            return
        if name == "tamper":  # a restored latch with the switch back to normal owes nothing
            self._tamper_trip_journaled = self._input_active("tamper")
        self._alarms.add(name)
        self._event(name, trace=trace)
        self._sync_alarm_output()
        self._notify_state()

    def _sync_alarm_output(self) -> None:
        if self._alarm_line is not None:
            self._alarm_line.set(bool(self._alarms))

    def acknowledge(self, by: str | None = None) -> bool:
        """Clear the latched alarms (forced open, tamper); True when one was cleared.

        A tamper switch that is still tripped stays in alarm; held-open clears on close.
        """
        cleared = sorted(
            name
            for name in self._alarms & LATCHED_ALARMS
            if not (name == "tamper" and self._input_active("tamper"))
        )
        if not cleared:
            return False
        self._alarms.difference_update(cleared)
        self._event("alarm_acknowledged", by, trace=",".join(cleared))
        self._sync_alarm_output()
        self._notify_state()
        return True

    # -- lockdown ----------------------------------------------------------------------

    @property
    def lockdown(self) -> bool:
        return self._lockdown

    def set_lockdown(self, on: bool, by: str | None = None, trace: str = "") -> bool:
        """Lock down (or release) this door; True when the state changed.

        In lockdown the relay stays locked: schedules and the exit button do not unlock
        and only a grant with the lockdown override does. The exit button still shunts the
        forced-open alarm, since a person leaving through a mechanical handle is an exit,
        not a break-in.
        """
        if on == self._lockdown or self._stopped:
            return False
        self._lockdown, self._lockdown_by = on, (by if on else None)
        if on:
            self._pulse_timer.cancel()
            self._rex_timer.cancel()
            self._pulse = None
        self._event("lockdown_on" if on else "lockdown_off", by, trace)
        self._drive("lockdown")
        self._update_held_open("")
        self._notify_state()
        return True

    # -- schedules ---------------------------------------------------------------------

    def start(self) -> None:
        """Start evaluating the unlock and bell schedules (once the rules are loaded)."""
        self._evaluate_schedules()

    def schedules_changed(self) -> None:
        """Re-evaluate now (the rules or holidays were reloaded)."""
        self._evaluate_schedules()

    def _evaluate_schedules(self) -> None:
        if self._stopped:
            return
        now = self._clock.time()
        if self._unlock_check is not None:
            self._set_schedule(self._check(self._unlock_check, now, "unlock"))
        if self._bell_check is not None:
            self._set_bell(self._check(self._bell_check, now, "bell"))
        if self._unlock_check is not None or self._bell_check is not None:
            # Wake at the next slot boundary instead of polling.
            self._boundary.after(next_boundary(now) - now, self._evaluate_schedules)

    def _check(self, check: ScheduleCheck, now: float, what: str) -> bool:
        try:
            return bool(check(now))
        except Exception:  # fail closed: a schedule that cannot be read is off
            log.exception("door %s: %s schedule could not be evaluated", self.name, what)
            return False

    def _set_schedule(self, active: bool) -> None:
        if active == self._schedule_on:
            return
        was_holding = self._holding
        self._schedule_on, self._first_in = active, False
        if active and self._holding:
            self._hold_changed("schedule", None)
        elif not active and was_holding:
            self._hold_changed("schedule_ended", None)

    @property
    def _waiting_first_person(self) -> bool:
        first_person = self.settings.unlock_schedule_first_person
        return self._schedule_on and first_person and not self._first_in

    @property
    def _holding(self) -> bool:
        """The schedule wants the door unlocked (whether or not lockdown masks it)."""
        first_person = self.settings.unlock_schedule_first_person
        return self._schedule_on and (self._first_in or not first_person)

    def _hold_changed(self, trace: str, user_id: str | None) -> None:
        masked = ",masked_by_lockdown" if self._lockdown else ""
        reason = "schedule_unlocked" if self._holding else "schedule_locked"
        if self._holding:
            self._recent_cause = "schedule"
        self._event(reason, user_id, trace=trace + masked)
        self._drive("schedule_ended", user_id)
        self._update_held_open("schedule")

    def _set_bell(self, on: bool) -> None:
        if on == self._bell_on or self._second is None:
            return
        self._bell_on = on
        self._second.hold(on)
        self._event("bell_on" if on else "bell_off")

    # -- second relay ------------------------------------------------------------------

    def doorbell(self, by: str | None = None, trace: str = "") -> None:
        """The doorbell was pressed (drives a doorbell second relay); the doorbell input
        calls it with trace "button"."""
        if self._stopped:
            return
        self._event("doorbell", by, trace)
        self._second_pulse("doorbell")

    def _second_pulse(self, mode: str) -> None:
        if self._second is not None and self.settings.second_relay_mode == mode:
            self._second.pulse(self.settings.second_relay_pulse_s)

    def set_relay_settings(self, settings: DoorSettings) -> None:
        """Runtime relay settings (ACTAtek relaysetting): pulse lengths and the second
        relay's mode, from the next pulse on; a pulse under way keeps its length.

        The caller keeps `bell_schedule` as configured: the bell schedule is wired at
        start-up, so it cannot be switched on or off here.
        """
        old_mode = self.settings.second_relay_mode
        self.settings = settings
        if settings.second_relay_mode != old_mode:
            for output in (self._second, self._action_second):
                if output is not None:
                    output.off()
            self._action_second = None
            self._second = self._build_second_relay(self._second_line)

    def pulse_second_relay(self) -> bool:
        """Switch the second relay on for its pulse length (ACTAtek relay open TWO);
        False when it is disabled."""
        if self._second is None or self._stopped:
            return False
        self._second.pulse(self.settings.second_relay_pulse_s)
        return True

    def second_relay_off(self) -> bool:
        """Switch the second relay off now (ACTAtek relay close TWO); a bell schedule
        switches it on again at its next slot. False when it is disabled."""
        if self._second is None:
            return False
        self._second.off()
        self._bell_on = False
        return True

    # -- "Execute Relay" input actions -------------------------------------------------

    def _execute_relay(self, action: InputActionSettings) -> None:
        """Pulse the relay an input action names, on this door or another; journaled here
        with what came of it."""
        name = action.relay_door or self.name
        target = self if name == self.name else (self._doors or {}).get(name)
        source = f"{self.name}:{action.input}"
        result = "unknown door" if target is None else target.pulse_from_input(action.relay, source)
        self._event("input_relay", trace=f"{action.input} > {name}:{action.relay} {result}")

    def pulse_from_input(self, relay: str, source: str) -> str:
        """Pulse this door's `relay` ("lock" or "second") for an input action of `source`
        ("door:input"); what happened: "pulsed", or why not ("lockdown", "shutdown",
        "no second relay"). Like the exit button, it never unlocks in lockdown."""
        if self._stopped:
            return "shutdown"
        if self._lockdown:
            return "lockdown"
        if relay == "lock":
            self._start_pulse(f"input_action:{source}", None, is_grant=False)
            return "pulsed"
        second = self._second or self._second_for_actions()
        if second is None:
            return "no second relay"
        second.pulse(self.settings.second_relay_pulse_s)
        return "pulsed"

    def _second_for_actions(self) -> PulsedOutput | None:
        """A wired second relay whose mode is "disable" is driven by input actions only."""
        if self._action_second is None and self._second_line is not None:
            self._action_second = PulsedOutput(self._second_line, self._timers)
        return self._action_second

    # -- events, state, status ---------------------------------------------------------

    def _action_failed(self, action: InputActionSettings, url: str, why: str) -> None:
        self._event("input_action_failed", trace=f"{action.input} {safe_url(url)}: {why}")

    def _ftp_notification(self, action: InputActionSettings) -> tuple[str, bytes]:
        """The file an FTP input action stores: named after the door, the input and the
        UTC time, so that a server keeps one file per event."""
        when = datetime.fromtimestamp(self._clock.time(), UTC)
        name = f"{self.name}-{action.input}-{when:%Y%m%dT%H%M%SZ}.txt"
        body = f"door={self.name}\ninput={action.input}\ntime={when:%Y-%m-%dT%H:%M:%SZ}\n"
        return name, body.encode()

    def _action_email(self, action: InputActionSettings) -> None:
        still = ", still active" if action.only_if_still_active else ""
        self._event("input_action_email", trace=f"{action.input} after {action.delay_s:g} s{still}")

    def _event(self, reason: str, user_id: str | None = None, trace: str = "") -> None:
        event = Event(
            type=DOOR_EVENTS[reason],
            time=self._clock.time(),
            door=self.name,
            user_id=user_id,
            reason=reason,
            trace=trace,
        )
        try:
            self._sink(event)
        except Exception:  # the journal failing must not stop the door
            log.exception("door %s: could not record %s", self.name, reason)

    def state(self) -> DoorState:
        """What must survive a restart: lockdown and the latched alarms."""
        latched = tuple(sorted(self._alarms & LATCHED_ALARMS))
        return DoorState(self._lockdown, self._lockdown_by, latched)

    def restore(self, state: DoorState) -> None:
        """Re-apply a saved state at start-up: lockdown and latched alarms come back."""
        if state.lockdown:
            self.set_lockdown(True, state.lockdown_by, trace="restored")
        for name in state.alarms:
            if name in LATCHED_ALARMS:
                self._raise_latched(name, "restored")

    def _notify_state(self) -> None:
        if self._state_changed is None:
            return
        try:
            self._state_changed(self.state())
        except Exception:
            log.exception("door %s: could not save its state", self.name)

    def status(self) -> dict[str, Any]:
        """The door as the status page and the API show it."""
        return {
            "lock": "unlocked" if self.unlocked else "locked",
            "lock_type": self.settings.lock_type,
            "relay_energised": self._relay.energised,
            "unlocked_by": self._unlock_cause() if self.unlocked else None,
            "contact": {None: "not_wired", True: "open", False: "closed"}[self.is_open],
            "rex": self._input_status("rex", "pressed", "released"),
            "tamper": self._input_status("tamper", "tripped", "normal"),
            "doorbell": self._input_status("doorbell", "pressed", "released"),
            "input_faults": {
                name: health.fault for name, health in self._health.items() if health.fault
            },
            "alarms": sorted(self._alarms),
            "alarm_output": self.alarm_output,
            "prealarm": self._prealarm,
            "schedule": self._schedule_status(),
            "lockdown": self._lockdown,
            "lockdown_by": self._lockdown_by,
            "relay_pulse_s": self.settings.relay_pulse_s,
            "door_open_timeout_s": self.settings.door_open_timeout_s,
            "auth_mode": self.settings.auth_mode,
            # "grant": any unknown credential opens while the upstream server is down
            "offline_policy": self.settings.offline_policy,
            "second_relay": self._second_status(),
        }

    def _input_status(self, name: str, active: str, inactive: str) -> str:
        """The settled level as it is, in fault or not (`input_faults` says which)."""
        debouncer = self._inputs.get(name)
        if debouncer is None:
            return "not_wired"
        return active if debouncer.level else inactive

    def _schedule_status(self) -> str:
        if self._unlock_check is None:
            return "none"
        if not self._schedule_on:
            return "inactive"
        return "active" if self._holding else "waiting_first_person"

    def _second_status(self) -> dict[str, Any]:
        second = self._second or self._action_second
        state = "not_wired" if second is None else ("on" if second.on else "off")
        return {"mode": self.settings.second_relay_mode, "state": state}

    def stop(self) -> None:
        """Lock and stop listening: the last thing the daemon does to a door."""
        self._stopped = True  # from here on nothing may unlock
        for line in self._lines.values():
            if line is not None:
                line.on_change(None)
        for debouncer in self._inputs.values():
            debouncer.cancel()
        for health in self._health.values():
            health.cancel()
        for timer in (
            self._pulse_timer,
            self._rex_timer,
            self._prealarm_timer,
            self._held_timer,
            self._boundary,
            self._deferred_timer,
        ):
            timer.cancel()
        self._actions.cancel()
        self._pulse = None
        self._drive("stopping")
        self._relay.lock()  # idempotent: the locked level even if it was never unlocked
        self._set_prealarm(False)
        for output in (self._second, self._action_second):
            if output is not None:
                output.off()
