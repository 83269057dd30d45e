"""The main daemon's side of Super Mode (docs/rescue.md): it keeps the rescue list the
rescue unit reads, and takes back what the rescue unit logged.

- The list: `[rescue] users` names up to 20 users; the cards of those who are active,
  unexpired and allowed at the rescue reader's door become keyed hashes (the device key,
  `gateway.rescue.files.card_hash`), written atomically (0600) with the door's wiring when
  they differ from the file: at start and then every `REFRESH_S`, so a card removed through
  the API stops opening in Super Mode within that time. Without `[rescue] reader` the file
  is removed: an old list never outlives the setting.
- The log: at start, before the list is rewritten, every opening and refusal the rescue
  logged becomes one journal event, each Super Mode session one `rescue_ended` event with
  its time span; once they are durable the log is removed (a crash in between journals
  them twice at the next start, never loses them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from gateway.atomicfile import state_file_owner, write_atomically
from gateway.clock import Clock
from gateway.model import Event, User
from gateway.rescue.files import (
    LIST_FILE,
    LOG_FILE,
    MAX_RESCUE_CARDS,
    CustomFormat,
    LogEntry,
    RescuePlan,
    card_hash,
    encode_plan,
    parse_log,
)
from gateway.settings import Settings
from gateway.store.errors import StoreError
from gateway.store.secrets import load_or_create_device_key

log = logging.getLogger(__name__)

REFRESH_S = 30.0  # how soon a change to a listed user's cards reaches the rescue list
RESCUE_TRACE = "Super Mode: the rescue unit decided while the main service was down"


class UserLookup(Protocol):
    """The one store call the list needs (`gateway.store.users.UserStore`)."""

    def get_user(self, user_id: str) -> User | None: ...


class EventSink(Protocol):
    """Where the imported log goes (`gateway.recorder.Recorder`)."""

    def emit(self, event: Event) -> None: ...

    async def durable(self) -> None: ...


def _usable(user: User, door: str, now: float) -> bool:
    if not user.active or (user.doors and door not in user.doors):
        return False
    if user.expiry is None:
        return True
    expiry = datetime.fromisoformat(user.expiry.replace("Z", "+00:00"))
    return expiry.timestamp() > now


def rescue_cards(settings: Settings, users: UserLookup, door: str, now: float) -> list[str]:
    """The listed users' cards that may open `door` now, in the order of `[rescue] users`,
    at most `MAX_RESCUE_CARDS` (the rest is left out, with a warning)."""
    cards: list[str] = []
    for user_id in settings.rescue.users:
        user = users.get_user(user_id)
        if user is None:
            log.warning("[rescue] users: no user %s", user_id)
        elif _usable(user, door, now):
            cards.extend(card.upper() for card in user.cards if card.upper() not in cards)
    if len(cards) > MAX_RESCUE_CARDS:
        log.warning("[rescue]: %d cards, only the first %d are kept", len(cards), MAX_RESCUE_CARDS)
    return cards[:MAX_RESCUE_CARDS]


def rescue_plan(settings: Settings, cards: Iterable[str], key: bytes) -> RescuePlan | None:
    """The rescue list for `settings` and the admitted `cards`; None without Super Mode."""
    if not settings.rescue.reader:
        return None
    reader = next(r for r in settings.readers if r.name == settings.rescue.reader)
    door = settings.door(reader.door)
    customs = tuple(
        CustomFormat(
            f.name,
            f.length,
            tuple(f.data_bits),
            tuple(f.card_bits),
            tuple(f.facility_bits),
            tuple((r.bit, r.mask, r.parity) for r in f.parity_rules),
        )
        for f in settings.wiegand_formats
        if f.name in reader.formats
    )
    return RescuePlan(
        door=door.name,
        reader=reader.name,
        simulated=settings.simulated,
        d0_pin=reader.d0_pin,
        d1_pin=reader.d1_pin,
        formats=tuple(reader.formats),
        relay_pin=door.relay_pin,
        relay_active_high=door.relay_active_high,
        lock_type=door.lock_type,
        pulse_s=min(door.relay_pulse_s, 60.0),
        swap_d0_d1=reader.swap_d0_d1,
        custom_formats=customs,
        cards=frozenset(card_hash(key, card) for card in cards),
    )


class RescueList:
    """Keeps the state directory's rescue list in step with the settings and the store."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        users: UserLookup,
        key: bytes,
        state_dir: Path,
        clock: Clock,
    ) -> None:
        self._settings, self._users, self._key = settings, users, key
        self._path = state_dir / LIST_FILE
        self._clock = clock
        self._written: bytes | None = None

    def refresh(self) -> bool:
        """Write the list if it changed (or remove it without Super Mode); True if the
        file changed."""
        settings = self._settings()
        if not settings.rescue.reader:
            return self._remove()
        door = next(r.door for r in settings.readers if r.name == settings.rescue.reader)
        cards = rescue_cards(settings, self._users, door, self._clock.time())
        plan = rescue_plan(settings, cards, self._key)
        assert plan is not None  # a reader is set
        data = encode_plan(plan)
        if data == self._written:
            return False
        write_atomically(self._path, data, 0o600, owner=state_file_owner(self._path.parent))
        self._written = data
        log.info("rescue list: %d cards for door %s", len(plan.cards), plan.door)
        return True

    def _remove(self) -> bool:
        try:
            self._path.unlink()
        except FileNotFoundError:
            return False
        self._written = None
        return True

    def try_refresh(self) -> bool:
        """`refresh`, with a failure logged instead of raised: the rescue list must never
        stop the daemon (the rescue keeps the last list that was written)."""
        try:
            return self.refresh()
        except Exception:
            log.exception("rescue list not written")
            return False

    async def keep(self, every_s: float = REFRESH_S) -> None:
        """Refresh every `every_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            self.try_refresh()


@dataclass(frozen=True)
class Session:
    """One run of the rescue unit, as its log tells it."""

    started: float
    ended: float
    openings: int = 0
    refusals: int = 0
    door: str = ""


def log_events(entries: list[LogEntry], card_owner: Callable[[str], str | None]) -> list[Event]:
    """The journal events for a rescue log: one per opening and refusal, and one
    `rescue_ended` per session (a session without its "stopped" line ends at its last
    entry: the rescue was killed or lost power)."""
    events: list[Event] = []
    session: Session | None = None
    for entry in entries:
        if entry.kind == "started":
            if session is not None:
                events.append(_ended(session))
            session = Session(entry.time, entry.time)
            continue
        session = session or Session(entry.time, entry.time)  # a log cut at its start
        session = Session(
            session.started,
            max(session.ended, entry.time),
            session.openings + (entry.kind == "granted"),
            session.refusals + (entry.kind == "denied"),
            entry.door or session.door,
        )
        if entry.kind == "stopped":
            events.append(_ended(session))
            session = None
        else:
            events.append(_access(entry, card_owner))
    if session is not None:
        events.append(_ended(session))
    return events


def _access(entry: LogEntry, card_owner: Callable[[str], str | None]) -> Event:
    granted = entry.kind == "granted"
    return Event(
        "access",
        entry.time,
        door=entry.door or None,
        reader=entry.reader or None,
        user_id=card_owner(entry.card),
        credential_kind="card",
        credential=entry.card,
        granted=granted,
        reason="rescue_granted" if granted else "rescue_denied",
        trace=RESCUE_TRACE,
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _ended(session: Session) -> Event:
    span = f"{_iso(session.started)} to {_iso(session.ended)}"
    counts = f"{session.openings} openings, {session.refusals} refusals"
    return Event(
        "system",
        session.ended,
        door=session.door or None,
        reason="rescue_ended",
        trace=f"Super Mode from {span} ({session.ended - session.started:.0f} s): {counts}",
    )


async def import_rescue_log(
    state_dir: Path, sink: EventSink, card_owner: Callable[[str], str | None]
) -> int:
    """Journal what the rescue logged, then remove its log; how many events were added.
    Called at start, while the rescue unit is stopped (the units conflict)."""
    path = state_dir / LOG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0
    entries, unreadable = parse_log(raw)
    if unreadable:
        log.warning("rescue log: %d unreadable lines skipped", unreadable)
    events = log_events(entries, card_owner)
    for event in events:
        sink.emit(event)
    try:
        await sink.durable()  # only then may the log go
    except StoreError as exc:
        # The journal refuses for now (a full disk): the log stays for the next start.
        log.error("rescue log kept, its events are not durable yet: %s", exc)
        return len(events)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return len(events)


async def start_rescue_list(
    settings: Callable[[], Settings],
    users: UserLookup,
    sink: EventSink,
    clock: Clock,
    stack: AsyncExitStack,
) -> RescueList:
    """At start (the store open): journal the rescue's log, write the list, and keep it up
    to date (the task is cancelled on `stack`'s unwind)."""
    state_dir = Path(settings().device.state_dir)
    key = load_or_create_device_key(state_dir)  # made by the store's opening already
    rescue = RescueList(settings, users, key, state_dir, clock)

    def owner(card: str) -> str | None:
        for user_id in settings().rescue.users:
            user = users.get_user(user_id)
            if user is not None and card.upper() in (c.upper() for c in user.cards):
                return user_id
        return None

    try:
        imported = await import_rescue_log(state_dir, sink, owner)
    except OSError as exc:  # unreadable: kept for a later start, never a reason not to start
        log.error("rescue log not read: %s", exc)
        imported = 0
    if imported:
        log.warning("rescue log: %d events journaled", imported)
    rescue.try_refresh()
    task = asyncio.get_running_loop().create_task(rescue.keep())
    stack.callback(task.cancel)
    return rescue
