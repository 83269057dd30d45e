"""Helpers to build rules snapshots and engines for the access tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.access.snapshot import (
    ALWAYS_PATTERN,
    PATTERN_DAYS,
    SLOTS_PER_DAY,
    AccessRightRule,
    CredentialRef,
    GroupRule,
    RulesSnapshot,
    UserRule,
)
from gateway.clock import Instant, Stamp
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings

HASHER = PinHasher(b"k" * 32)
UTC = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")
# 2026-03-02 is a Monday; 10:00 UTC is inside any office-hours schedule.
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()
MONO_AT_MONDAY_10AM = 1_000.0


def when(wall: float) -> Instant:
    """The moment the wall clock shows `wall`, the clocks having moved together since
    MONDAY_10AM (no step of the wall clock)."""
    return Instant(wall, MONO_AT_MONDAY_10AM + wall - MONDAY_10AM)


def stamp(now: Instant, boot: str = "boot-1") -> Stamp:
    """`now` as a state save or restore in kernel boot `boot` sees it."""
    return Stamp(now.wall, now.mono, boot)


def slots(*on: int) -> str:
    """A 48-char day pattern with only the given slots switched on."""
    return "".join("1" if i in on else "0" for i in range(SLOTS_PER_DAY))


def hours(start: int, end: int) -> str:
    """A day pattern open from `start`:00 to `end`:00 local time."""
    return slots(*range(start * 2, end * 2))


ALWAYS = AccessRightRule(id=0, name="Always", patterns=dict.fromkeys(PATTERN_DAYS, ALWAYS_PATTERN))


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: ZoneInfo = UTC) -> float:
    """Epoch seconds of a local wall time in `tz`."""
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def snapshot(
    users: Iterable[UserRule] = (UserRule("u1"),),
    cards: Mapping[str, str | CredentialRef] | None = None,
    pins: Mapping[str, str | CredentialRef] | None = None,
    qr: Mapping[str, str] | None = None,
    plates: Mapping[str, str] | None = None,
    public_pins: Iterable[str] = (),
    groups: Iterable[GroupRule] = (GroupRule(id=0, rights=(0,)),),
    rights: Iterable[AccessRightRule] = (ALWAYS,),
    holidays: Iterable[date] = (),
    totp: Mapping[str, str] | None = None,
) -> RulesSnapshot:
    """A snapshot from readable inputs: credentials map value (or clear PIN) -> owner."""

    def refs(table: Mapping[str, str | CredentialRef] | None) -> dict[str, CredentialRef]:
        return {
            k: v if isinstance(v, CredentialRef) else CredentialRef(v)
            for k, v in (table or {}).items()
        }

    return RulesSnapshot(
        users={u.user_id: u for u in users},
        cards=refs(cards if cards is not None else {"CAFE01": "u1"}),
        pins={HASHER.hash(pin): ref for pin, ref in refs(pins).items()},
        qr_codes=refs(qr),
        plates=refs(plates),
        public_pins=frozenset(HASHER.hash(p) for p in public_pins),
        groups={g.id: g for g in groups},
        rights={r.id: r for r in rights},
        holidays=frozenset(holidays),
        totp=totp,
    )


def engine(
    snap: RulesSnapshot | None = None,
    access: AccessSettings | None = None,
    doors: Iterable[DoorSettings] = (DoorSettings("front"),),
    readers: Iterable[ReaderSettings] | None = None,
    tz: ZoneInfo = UTC,
) -> AccessEngine:
    """An engine with one door `front`, an IN reader `r-in` and an OUT reader `r-out`."""
    door_list = list(doors)
    if readers is None:
        readers = [
            ReaderSettings("r-in", "wiegand_keypad", door_list[0].name, direction="in"),
            ReaderSettings("r-out", "wiegand_keypad", door_list[0].name, direction="out"),
        ]
    return AccessEngine(
        access=access or AccessSettings(),
        doors={d.name: d for d in door_list},
        readers={r.name: r for r in readers},
        tz=tz,
        hasher=HASHER,
        snapshot=snap if snap is not None else snapshot(),
    )
