"""Administrative noise, summarised before it reaches the journal.

Anyone who can log in (and, for failed logins, anyone who can reach the port) can make an
administrative (`api`) event as fast as the server answers. So, per window of
`WINDOW_S` on the monotonic clock:

- one **source** (the account and the reason, e.g. `pat` + `myself_updated`) is journaled
  at most `PER_SOURCE` times;
- all sources together at most `PER_WINDOW` times (the name in a failed login is the
  caller's choice: a per-name allowance alone would bound nothing);
- the rest are counted, and when the window ends an `events_summarised` event per source
  says how many more there were and from when to when: the `MAX_SUMMARIES` largest
  sources one event each, all the others together in one more. At most `MAX_SOURCES`
  sources are counted one by one; beyond that they are counted together, so memory stays
  bounded and no count is ever reset to make room.

Evidence (access, door, alarm, reader, upstream and system events) is never summarised:
it is what the journal is for. Nor are added logs (ACTAtek addLog): they are records a
client asked to store, and their API answers only once they are durable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gateway.model import ADMINISTRATIVE_TYPE, Event
from gateway.store.journal import utc_iso
from gateway.store.log_records import ADDED_LOG_REASON

WINDOW_S = 60.0
PER_SOURCE = 20  # events of one account and reason journaled per window
PER_WINDOW = 100  # administrative events journaled per window, all sources together
MAX_SOURCES = 1_000  # sources counted one by one per window
MAX_SUMMARIES = 10  # sources summarised one by one per window; the rest in one event
SUMMARY_REASON = "events_summarised"
NEVER_SUMMARISED = frozenset({ADDED_LOG_REASON})


@dataclass(frozen=True)
class NoiseLimits:
    """The allowances above (tests and small sites may pass others)."""

    window_s: float = WINDOW_S
    per_source: int = PER_SOURCE
    per_window: int = PER_WINDOW
    max_sources: int = MAX_SOURCES
    max_summaries: int = MAX_SUMMARIES


@dataclass
class _Tally:
    """What one source (or every uncounted source) did in the current window."""

    journaled: int = 0
    summarised: int = 0
    first: float = 0.0  # wall time of the first and last event summarised
    last: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def summarise(self, event: Event) -> None:
        if not self.summarised:
            self.first = event.time
        self.summarised += 1
        self.last = max(self.last, event.time)
        self.reasons[event.reason] += 1


class NoiseFilter:
    """Decides which administrative events are journaled; makes the summary events.

    Call `due` before `admit` (the writer does), so that a window that has ended is
    summarised before the next one starts.
    """

    def __init__(self, limits: NoiseLimits | None = None) -> None:
        self.limits = limits or NoiseLimits()
        self._started: float | None = None  # monotonic start of the current window
        self._journaled = 0
        self._sources: dict[tuple[str, str], _Tally] = {}
        self._uncounted = _Tally()  # sources beyond max_sources, together
        self.summarised = 0  # events summarised instead of journaled, since start

    def admit(self, event: Event, now: float) -> bool:
        """True when `event` is to be journaled; False when it is counted for a summary."""
        if not event.administrative or event.reason in NEVER_SUMMARISED:
            return True
        if self._started is None:
            self._started = now
        tally = self._tally((event.user_id or "", event.reason))
        if tally.journaled < self.limits.per_source and self._journaled < self.limits.per_window:
            tally.journaled += 1
            self._journaled += 1
            return True
        tally.summarise(event)
        self.summarised += 1
        return False

    def _tally(self, key: tuple[str, str]) -> _Tally:
        tally = self._sources.get(key)
        if tally is not None:
            return tally
        if len(self._sources) >= self.limits.max_sources:
            return self._uncounted
        tally = self._sources[key] = _Tally()
        return tally

    def pending_until(self) -> float | None:
        """The monotonic end of the current window when it has something to summarise."""
        if self._started is None or not self.summarised_in_window():
            return None
        return self._started + self.limits.window_s

    def summarised_in_window(self) -> int:
        """Events counted for a summary in the current window."""
        tallies = [*self._sources.values(), self._uncounted]
        return sum(tally.summarised for tally in tallies)

    def due(self, now: float, wall: float) -> list[Event]:
        """The summaries of the window if it ended by `now` (it is then closed), else []."""
        if self._started is None or now < self._started + self.limits.window_s:
            return []
        return self.close(wall)

    def close(self, wall: float) -> list[Event]:
        """Close the current window now: its summary events, stamped `wall`."""
        named = sorted(
            ((key, tally) for key, tally in self._sources.items() if tally.summarised),
            key=lambda item: -item[1].summarised,
        )
        shown, rest = named[: self.limits.max_summaries], named[self.limits.max_summaries :]
        events = [self._summary(who, reason, tally, wall) for (who, reason), tally in shown]
        others = self._others(rest, wall)
        if others is not None:
            events.append(others)
        self._started, self._journaled = None, 0
        self._sources, self._uncounted = {}, _Tally()
        return events

    def _summary(self, who: str, reason: str, tally: _Tally, wall: float) -> Event:
        # The count comes first so a machine can read it: "<n> more <reason> by <who> ...".
        trace = (
            f"{tally.summarised} more {reason} by {who or '-'} from {utc_iso(tally.first)} "
            f"to {utc_iso(tally.last)}, not journaled one by one: {self._why()}"
        )
        return Event(
            ADMINISTRATIVE_TYPE, wall, user_id=who or None, reason=SUMMARY_REASON, trace=trace
        )

    def _others(self, rest: list[tuple[tuple[str, str], _Tally]], wall: float) -> Event | None:
        busy = [tally for _, tally in rest] + [self._uncounted]
        busy = [tally for tally in busy if tally.summarised]
        if not busy:
            return None
        reasons: Counter[str] = Counter()
        for tally in busy:
            reasons.update(tally.reasons)
        sources = f"more than {len(rest)}" if self._uncounted.summarised else f"{len(rest)}"
        trace = (
            f"{sum(tally.summarised for tally in busy)} more administrative events by "
            f"{sources} other sources from {utc_iso(min(tally.first for tally in busy))} to "
            f"{utc_iso(max(tally.last for tally in busy))}, not journaled one by one: "
            + ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
        )
        return Event(ADMINISTRATIVE_TYPE, wall, reason=SUMMARY_REASON, trace=trace)

    def _why(self) -> str:
        limits = self.limits
        return (
            f"more than {limits.per_source} a window of {limits.window_s:g} s from one "
            f"account, or {limits.per_window} from all"
        )
