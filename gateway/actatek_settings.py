"""ACTAtek terminal functions on the running gateway (sections 2, 10, 11): relays, relay
settings, autoInOut, log settings, consent, terminal status.

Settings changed through the API are persisted in `TerminalStore` and override the
configuration file, at once and after every restart (`start`). A stored override that no
longer fits the configuration (a door renamed, its unlock schedule removed) is skipped
with an error in the log, never allowed to stop the daemon.

ACTAtek relays are per terminal; a gateway has several doors. Relay `ONE` is a door's
lock relay ("door strike 1"), `TWO` its second relay ("door strike 2": the reference's
options for it are exactly our `second_relay_mode`s), `ALL` both. Which door: the `door`
given, else the first configured one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from gateway import __version__
from gateway.access.autoinout import parse_hhmm
from gateway.actatek_records import (
    AUTO_RESET_KEY,
    LOG_SIZES,
    SCHEDULE_MAX_DELAY_S,
    TWO_OPTIONS,
    Consent,
    LogSettings,
    RelaySetting,
    TerminalError,
    check_log_settings,
)
from gateway.clock import Clock, Instant
from gateway.device_time import SystemTime
from gateway.model import Event
from gateway.settings import (
    AUTO_IN_OUT_MODES,
    RELAY_PULSE_NORMAL_MAX_S,
    AutoInOutSettings,
    DoorSettings,
    Settings,
)
from gateway.store.log_records import ADDED_LOG_REASON, added_log_trace
from gateway.store.terminal_settings import TerminalStore

if TYPE_CHECKING:
    from gateway.access.engine import AccessEngine
    from gateway.doors.commands import DoorCommands
    from gateway.doors.controller import DoorController
    from gateway.recorder import Recorder
    from gateway.store.journal import EventJournal

log = logging.getLogger(__name__)

MAXIMUM_USERS = 20_000  # what the benchmarks show a Pi deciding from in milliseconds
RELAY_FIELDS = ("relay_pulse_s", "second_relay_mode", "second_relay_pulse_s")


def check_auto_in_out(settings: AutoInOutSettings) -> None:
    """`TerminalError` unless the settings are within the reference's ranges."""
    checks = (
        (settings.mode in AUTO_IN_OUT_MODES, "mode: not supported"),
        (settings.anti_passback in ("hard", "soft"), "anti_passback: expected hard or soft"),
        (1 <= settings.reject_repeat_s <= 86_400, "rejectRepeat_time_sec: 1 to 86400"),
        (1 <= settings.lunch_break_min <= 120, "lockout_time_min: 1 to 120"),
        (1 <= settings.crowd_limit <= 65_535, "crowd_limit_count: 1 to 65535"),
    )
    for ok, message in checks:
        if not ok:
            raise TerminalError(message)
    try:
        parse_hhmm(settings.crowd_reset)
    except ValueError:
        raise TerminalError("crowd_reset_hhmm: expected HH:MM from 00:00 to 23:59") from None


class UserCount(Protocol):
    """How many users the store holds (terminalstatus' registeredUsers)."""

    def count_users(self) -> int: ...


class TerminalFunctions:
    """The terminal functions of one running gateway."""

    def __init__(
        self,
        settings: Settings,
        store: TerminalStore,
        *,
        doors: DoorCommands,
        engine: AccessEngine,
        journal: EventJournal,
        users: UserCount,
        recorder: Recorder,
        system_time: SystemTime,
        is_wired: Callable[[int | None], bool],
        clock: Clock,
        tz: ZoneInfo,
    ) -> None:
        self.store = store
        self._settings = settings
        self._configured = {door.name: door for door in settings.doors}
        self._commands, self._doors = doors, doors.doors
        self._engine, self._journal, self._users = engine, journal, users
        self._recorder, self._is_wired, self._clock = recorder, is_wired, clock
        self.tz = tz  # [device] timezone: local times of the API
        self.system_time = system_time

    # -- start-up ---------------------------------------------------------------------

    def start(self) -> None:
        """Re-apply what the API set before the restart."""
        for name in self._doors:
            self._restore(f"relay:{name}", functools.partial(self._apply_relay, name))
        self._restore("auto_in_out", self._apply_auto_in_out)
        self._restore("log_settings", self._apply_log_size)

    def _restore(self, key: str, apply: Callable[[Any], None]) -> None:
        try:
            saved = self.store.get(key)
            if saved is not None:
                apply(saved)
        except (TerminalError, TypeError, ValueError) as exc:
            log.error("terminal setting %s not applied: %s", key, exc)

    # -- doors and relays ---------------------------------------------------------------

    def door(self, name: str | None) -> str:
        """The door `name`, or the first configured door for None."""
        if name is None:
            return next(iter(self._doors))
        if name not in self._doors:
            raise TerminalError(f"no door named {name!r}")
        return name

    def _controller(self, name: str) -> DoorController:
        return self._doors[self.door(name)]

    def open_door(self, name: str, by: str) -> None:
        """A remote unlock pulse: the same function as the native pulse endpoint."""
        if not self._commands.pulse_door(name, by):
            raise TerminalError(f"door {name} is in lockdown")

    def relay_action(self, name: str, action: str, relay: str, by: str) -> None:
        """open/close relay ONE, TWO or ALL of door `name` (see the module docstring).

        `open` ONE is the remote unlock pulse (relocking after the relay delay, or when the
        door closes), never a hold; `close` ONE ends a pulse now (a schedule or lockdown
        still decides). `open` TWO pulses the second relay; `close` TWO switches it off.
        """
        door = self._controller(name)
        wanted = ("ONE", "TWO") if relay == "ALL" else (relay,)
        if relay == "TWO" and door.settings.second_relay_mode == "disable":
            raise TerminalError(f"relay TWO of door {name} is disabled")
        if action == "open" and "ONE" in wanted and door.lockdown:
            raise TerminalError(f"door {name} is in lockdown")
        self._recorder.record_api("relay_action", by, f"door={name} relay={relay} action={action}")
        if "ONE" in wanted:
            if action == "open":
                self.open_door(name, by)
            else:
                door.lock("remote_close")
        if "TWO" in wanted:
            (door.pulse_second_relay if action == "open" else door.second_relay_off)()

    def relay_setting(self, name: str, relay: str) -> RelaySetting:
        settings = self._controller(name).settings
        if relay == "ONE":
            return RelaySetting("ONE", "disable", settings.relay_pulse_s)
        return RelaySetting("TWO", settings.second_relay_mode, settings.second_relay_pulse_s)

    def max_delay(self, name: str) -> int:
        """1-20 s, or up to 1800 s for a door with an unlock ("door open") schedule."""
        has_schedule = self._controller(name).settings.unlock_schedule is not None
        return SCHEDULE_MAX_DELAY_S if has_schedule else int(RELAY_PULSE_NORMAL_MAX_S)

    def set_relay_setting(self, name: str, setting: RelaySetting) -> None:
        """Apply and persist one relay's setting (`TerminalError`: nothing changed)."""
        saved = dict(self.store.get(f"relay:{name}") or {})
        if setting.id == "ONE":
            saved["relay_pulse_s"] = setting.delay
        else:
            saved["second_relay_mode"] = setting.option
            saved["second_relay_pulse_s"] = setting.delay
        self._apply_relay(name, saved)
        self.store.put(f"relay:{name}", saved)

    def _apply_relay(self, name: str, saved: dict[str, Any]) -> None:
        unknown = set(saved) - set(RELAY_FIELDS)
        if unknown:
            raise TerminalError(f"unknown relay setting {sorted(unknown)[0]!r}")
        configured = self._configured[name]
        wanted = replace(configured, **saved)
        self._check_relay(configured, wanted, saved)
        self._controller(name).set_relay_settings(wanted)

    def _check_relay(
        self, configured: DoorSettings, wanted: DoorSettings, saved: dict[str, Any]
    ) -> None:
        # Only what the API set is checked: the file's own values passed its checks.
        top = self.max_delay(configured.name)
        for key in ("relay_pulse_s", "second_relay_pulse_s"):
            if key in saved and not 1 <= saved[key] <= top:
                raise TerminalError(f"delay: expected 1 to {top} seconds for this door")
        mode, was = wanted.second_relay_mode, configured.second_relay_mode
        if mode not in TWO_OPTIONS:
            raise TerminalError(f"option: expected one of {', '.join(TWO_OPTIONS)}")
        if (mode == "bell_schedule") != (was == "bell_schedule"):
            raise TerminalError(
                "option: bell_schedule is set in the configuration file "
                "(second_relay_mode and second_relay_schedule)"
            )
        wired = self._is_wired(configured.second_relay_pin)
        if mode != "disable" and not wired:
            raise TerminalError(f"relay TWO of door {configured.name} is not wired")
        if mode == "doorbell" and configured.doorbell_pin is None:  # as check-config
            raise TerminalError(f"option: door {configured.name} has no doorbell_pin to ring it")

    # -- autoInOut ----------------------------------------------------------------------

    def auto_in_out(self) -> tuple[AutoInOutSettings, bool]:
        """The settings in force and the ACTAtek `auto_reset` flag (stored only)."""
        saved = self.store.get("auto_in_out") or {}
        return self._engine.auto_in_out, bool(saved.get(AUTO_RESET_KEY, True))

    def set_auto_in_out(self, settings: AutoInOutSettings, auto_reset: bool) -> None:
        """Apply from the next decision on, and persist."""
        saved = {**asdict(settings), AUTO_RESET_KEY: auto_reset}
        self._apply_auto_in_out(saved)
        self.store.put("auto_in_out", saved)

    def check_auto_in_out(self, settings: AutoInOutSettings) -> None:
        """`TerminalError` unless `settings` are within the reference's ranges."""
        check_auto_in_out(settings)

    def _apply_auto_in_out(self, saved: dict[str, Any]) -> None:
        settings = AutoInOutSettings(**_known(AutoInOutSettings, saved))
        check_auto_in_out(settings)
        self._engine.set_auto_in_out(settings, Instant.read(self._clock))

    # -- log settings -------------------------------------------------------------------

    def log_settings(self) -> LogSettings:
        """What was set, with the journal's bound in force as `log_size`."""
        saved = _known(LogSettings, self.store.get("log_settings"))
        return LogSettings(**{**saved, "log_size": self._journal.max_events})

    def set_log_settings(self, settings: LogSettings) -> None:
        """Apply (the journal's bound at once) and persist."""
        check_log_settings(settings)
        self._apply_log_size(asdict(settings))
        self.store.put("log_settings", asdict(settings))

    def set_log_unauthorized(self, enable: bool) -> None:
        """ACTAtek logUnauthorizedEvent: the same flag as log settings' log_unAuth_event."""
        self.set_log_settings(replace(self.log_settings(), log_unAuth_event=enable))

    def _apply_log_size(self, saved: dict[str, Any]) -> None:
        size = saved["log_size"]
        if size not in LOG_SIZES:
            raise TerminalError(f"log_size {size!r} is not one of the allowed sizes")
        self._journal.set_max_events(size)

    def add_log(self, epoch: float, user_id: str, trigger: str, by: str) -> None:
        """ACTAtek addLog: journal a log for `user_id` at `epoch`, saying who added it."""
        event = Event(
            "api",
            epoch,
            user_id=user_id,
            reason=ADDED_LOG_REASON,
            source="api",
            trace=added_log_trace(by, trigger),
        )
        self._recorder.emit(event)

    # -- consent, status ------------------------------------------------------------------

    def consent(self) -> Consent:
        default = Consent(False, self._settings.device.name)
        return replace(default, **_known(Consent, self.store.get("consent")))

    def set_consent(self, consent: Consent) -> None:
        self.store.put("consent", asdict(consent))

    def status(self) -> dict[str, Any]:
        """ACTAtek terminalstatus."""
        device = self._settings.device
        return {
            "serialNumber": device.id,
            "FAMVersion": "NO FAM",
            "description": device.name,
            "registeredUsers": self._users.count_users(),
            "maximumUsers": MAXIMUM_USERS,
            "automatchUsers": 0,
            "maximumAutomatchUsers": 0,
            "currentStatus": self._current_status(),
            "firmwareVersion": f"door-gateway {__version__}",
        }

    def _current_status(self) -> str:
        """ "Online", or what needs a technician: "Lockdown", then "Alarm"."""
        doors = self._doors.values()
        if any(door.lockdown for door in doors):
            return "Lockdown"
        if any(door.alarms for door in doors):
            return "Alarm"
        return "Online"


def _known(cls: Any, saved: Any) -> dict[str, Any]:
    """The fields of dataclass `cls` found in a stored object (other keys are ignored)."""
    if not isinstance(saved, dict):
        return {}
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in saved.items() if key in names}
