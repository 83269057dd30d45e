"""ACTAtek autoInOut modes: rules that depend on what a user did before, one mode at a time.

- `disable`: nothing is checked or remembered.
- `anti_passback`: each user is IN or OUT after their last granted passage (the reader's
  direction). Entering while IN, or leaving while OUT, is a violation; the first passage
  (state unknown) is allowed. `hard` denies (`anti_passback`), `soft` grants and notes
  `anti_passback_violation`.
- `reject_repeat_login`: the same user granted again within `reject_repeat_s` seconds, at
  any reader, is denied (`repeat_rejected`).
- `lunch_break`: after a user goes OUT, coming back IN is refused for `lunch_break_min`
  minutes (`lunch_break`).
- `crowd_control`: an occupancy count; IN is refused at `crowd_limit` (`crowd_limit`), OUT
  decrements (never below 0), and the count goes back to 0 every day at `crowd_reset`
  local time.

`check` only looks; `commit` records a passage and is called only when the door is really
granted, so a denied or abandoned attempt never changes anyone's state.

The repeat window and the lunch break are durations, measured on the monotonic clock; the
daily crowd reset is about the calendar and follows the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from gateway.clock import Instant, Stamp, restore_offset
from gateway.model import Direction
from gateway.settings import AutoInOutSettings

# 2: passage and grant times relative to the `saved` stamp (1, still read: wall-clock times).
STATE_VERSION = 2
DIRECTIONS: tuple[Direction, ...] = ("in", "out")


class CheckResult(NamedTuple):
    """The answer of `AutoInOut.check`; `note` is set for a tolerated (soft) violation."""

    allowed: bool
    reason: str  # "" when allowed, else the deny reason code
    note: str | None


ALLOW = CheckResult(True, "", None)


@dataclass(frozen=True)
class Passage:
    """A user's last granted passage."""

    direction: Direction
    time: float  # monotonic seconds


def parse_hhmm(text: str) -> time:
    """'HH:MM' (00:00..23:59) as a time; raises ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"expected HH:MM, got {text!r}")
    return time(int(hours), int(minutes))


class AutoInOut:
    """The state and rules of the configured autoInOut mode."""

    def __init__(self, settings: AutoInOutSettings, tz: ZoneInfo) -> None:
        self._settings = settings
        self._tz = tz
        self._reset_time = parse_hhmm(settings.crowd_reset)
        self._passages: dict[str, Passage] = {}
        self._last_grant: dict[str, float] = {}  # user -> monotonic time of the last grant
        self._occupancy = 0
        self._crowd_reset_at: float | None = None  # the last daily reset boundary applied

    @property
    def mode(self) -> str:
        """The active mode name."""
        return self._settings.mode

    def check(self, user_id: str | None, direction: Direction, now: Instant) -> CheckResult:
        """Whether the active mode lets `user_id` pass in `direction` now (no state change).

        Per-user modes cannot apply to an anonymous passage (`user_id` None: a public PIN),
        so only crowd control, which counts people rather than users, checks those.
        """
        mode = self._settings.mode
        if mode == "crowd_control":
            return self._check_crowd(direction, now.wall)
        if user_id is None:
            return ALLOW
        if mode == "anti_passback":
            return self._check_anti_passback(user_id, direction)
        if mode == "reject_repeat_login":
            last = self._last_grant.get(user_id)
            if last is not None and now.mono - last < self._settings.reject_repeat_s:
                return CheckResult(False, "repeat_rejected", None)
        elif mode == "lunch_break":
            passage = self._passages.get(user_id)
            if (
                direction == "in"
                and passage is not None
                and passage.direction == "out"
                and now.mono - passage.time < self._settings.lunch_break_min * 60
            ):
                return CheckResult(False, "lunch_break", None)
        return ALLOW

    def check_traced(
        self, user_id: str | None, direction: Direction, now: Instant, trace: list[str]
    ) -> CheckResult:
        """`check`, adding its trace line: `autoinout:MODE,DIRECTION,VERDICT`, the verdict
        being `ok`, the deny reason or the note of a tolerated violation."""
        check = self.check(user_id, direction, now)
        verdict = "ok" if check.allowed and check.note is None else (check.note or check.reason)
        trace.append(f"autoinout:{self.mode},{direction},{verdict}")
        return check

    def _check_anti_passback(self, user_id: str, direction: Direction) -> CheckResult:
        passage = self._passages.get(user_id)
        if passage is None or passage.direction != direction:
            return ALLOW
        if self._settings.anti_passback == "soft":
            return CheckResult(True, "", "anti_passback_violation")
        return CheckResult(False, "anti_passback", None)

    def _check_crowd(self, direction: Direction, now: float) -> CheckResult:
        self._apply_daily_reset(now)
        if direction == "in" and self._occupancy >= self._settings.crowd_limit:
            return CheckResult(False, "crowd_limit", None)
        return ALLOW

    def commit(self, user_id: str | None, direction: Direction, now: Instant) -> bool:
        """Record a granted passage; True when that changed the persistent state."""
        mode = self._settings.mode
        if mode == "crowd_control":
            self._apply_daily_reset(now.wall)
            before = self._occupancy
            self._occupancy = before + 1 if direction == "in" else max(0, before - 1)
            return self._occupancy != before
        if user_id is None or mode == "disable":
            return False
        if mode == "reject_repeat_login":
            self._last_grant[user_id] = now.mono
            self._prune_repeats(now.mono)
        else:  # anti_passback and lunch_break both track the last passage
            self._passages[user_id] = Passage(direction, now.mono)
        return True

    def forget_user(self, user_id: str) -> bool:
        """Drop what is known about a user (an admin reset after a missed badge-out)."""
        found = user_id in self._passages or user_id in self._last_grant
        self._passages.pop(user_id, None)
        self._last_grant.pop(user_id, None)
        return found

    def _prune_repeats(self, now: float) -> None:
        """Forget grants too old to matter (`now`: monotonic), so the state does not grow
        with every user."""
        horizon = now - self._settings.reject_repeat_s
        self._last_grant = {u: t for u, t in self._last_grant.items() if t > horizon}

    def _last_reset_boundary(self, now: float) -> float:
        """The most recent daily `crowd_reset` instant at or before `now`.

        Built from the local date, so it follows DST; a reset time that does not exist on a
        spring-forward day resolves through zoneinfo's fold=0 rule to a real instant.
        """
        local = datetime.fromtimestamp(now, self._tz)
        boundary = datetime.combine(local.date(), self._reset_time, tzinfo=self._tz)
        if boundary.timestamp() > now:
            yesterday = local.date() - timedelta(days=1)
            boundary = datetime.combine(yesterday, self._reset_time, tzinfo=self._tz)
        return boundary.timestamp()

    def _apply_daily_reset(self, now: float) -> None:
        """Zero the count when the wall clock `now` has passed a reset time not yet applied.

        A wall clock stepped back behind the last reset applied (it was ahead) moves the
        mark back without a reset, so the next reset the wall clock reaches still happens.
        """
        boundary = self._last_reset_boundary(now)
        if self._crowd_reset_at is not None and boundary > self._crowd_reset_at:
            self._occupancy = 0
        self._crowd_reset_at = boundary

    def occupancy(self, now: float) -> int:
        """The crowd-control count as of wall time `now` (after any daily reset that is due)."""
        if self._settings.mode == "crowd_control":
            self._apply_daily_reset(now)
        return self._occupancy

    def status(self, now: Instant) -> dict[str, Any]:
        """Plain-dict status for the status page."""
        users_in = sum(1 for p in self._passages.values() if p.direction == "in")
        return {
            "mode": self._settings.mode,
            "anti_passback": self._settings.anti_passback,
            "occupancy": self.occupancy(now.wall),
            "crowd_limit": self._settings.crowd_limit,
            "tracked_users": len(self._passages),
            "users_in": users_in,
        }

    def export_state(self, now: Stamp) -> dict[str, Any]:
        """JSON-serialisable state for `import_state` after a restart: passage and grant
        times in seconds relative to the moment of the save, `saved` (negative: before it);
        `crowd_reset_at` is the wall-clock time of the last daily reset."""
        return {
            "version": STATE_VERSION,
            "saved": now.as_dict(),
            "passages": {
                user: [p.direction, p.time - now.mono] for user, p in sorted(self._passages.items())
            },
            "last_grant": {user: t - now.mono for user, t in sorted(self._last_grant.items())},
            "occupancy": self._occupancy,
            "crowd_reset_at": self._crowd_reset_at,
        }

    def import_state(self, state: dict[str, Any], now: Stamp) -> None:
        """Replace the state with an `export_state` result; raises ValueError if malformed.

        The time since the save is `now.elapsed_since(saved)` (monotonic in the same boot,
        wall after a reboot, never negative), so no repeat window or lunch break is longer
        after a restart than it had left to run; a format-1 state holds wall-clock times,
        read as seen from `now.wall`. No restored time lies in the future. A daily crowd
        reset that fell while the daemon was down is applied at once.
        """
        if not isinstance(state, dict):
            raise ValueError("autoInOut state: unsupported or missing version")
        base = restore_offset(state, "autoInOut", now, STATE_VERSION)
        passages = {
            user: Passage(p.direction, min(base + p.time, now.mono))
            for user, p in _parse_passages(state.get("passages", {})).items()
        }
        last_grant = {
            user: min(base + t, now.mono)
            for user, t in _parse_times(state.get("last_grant", {})).items()
        }
        occupancy = state.get("occupancy", 0)
        if not isinstance(occupancy, int) or isinstance(occupancy, bool) or occupancy < 0:
            raise ValueError("autoInOut state: 'occupancy' must be an integer >= 0")
        reset_at = state.get("crowd_reset_at")
        if reset_at is not None and not _is_number(reset_at):
            raise ValueError("autoInOut state: 'crowd_reset_at' must be a number or null")
        self._passages = passages
        self._last_grant = last_grant
        self._occupancy = occupancy
        self._crowd_reset_at = None if reset_at is None else float(reset_at)
        self._prune_repeats(now.mono)
        if self._settings.mode == "crowd_control":
            self._apply_daily_reset(now.wall)

    def with_settings(self, settings: AutoInOutSettings, now: Instant) -> AutoInOut:
        """A copy of this state under new settings (ACTAtek setAutoInOut): repeats older
        than the new window are forgotten, and a crowd reset that is due is applied. Raises
        ValueError for a crowd reset that is not HH:MM."""
        auto = AutoInOut(settings, self._tz)
        auto._passages = dict(self._passages)
        auto._last_grant = dict(self._last_grant)
        auto._occupancy = self._occupancy
        auto._crowd_reset_at = self._crowd_reset_at
        auto._prune_repeats(now.mono)
        if settings.mode == "crowd_control":
            auto._apply_daily_reset(now.wall)
        return auto


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_passages(raw: object) -> dict[str, Passage]:
    if not isinstance(raw, dict):
        raise ValueError("autoInOut state: 'passages' must be an object")
    passages: dict[str, Passage] = {}
    for user, value in raw.items():
        if (
            not isinstance(value, list)
            or len(value) != 2
            or value[0] not in DIRECTIONS
            or not _is_number(value[1])
        ):
            raise ValueError(f"autoInOut state: passage of {user!r} must be [direction, time]")
        direction: Direction = "in" if value[0] == "in" else "out"
        passages[str(user)] = Passage(direction, float(value[1]))
    return passages


def _parse_times(raw: object) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(_is_number(t) for t in raw.values()):
        raise ValueError("autoInOut state: 'last_grant' must map users to numbers")
    return {str(user): float(t) for user, t in raw.items()}
