"""The in-memory index the decision path reads: one immutable snapshot of the access rules.

A snapshot is built from the store (`gateway.store.rules.load_snapshot`) at start-up and
after every write; the engine holds a reference to the current one and swapping it is a single
assignment, so a decision never sees half an update and never touches disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from gateway.model import CredentialKind

WEEKDAYS: tuple[str, ...] = (
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
)
HOLIDAY = "HOLIDAY"
PATTERN_DAYS: tuple[str, ...] = (*WEEKDAYS, HOLIDAY)
SLOTS_PER_DAY = 48
ALWAYS_PATTERN = "1" * SLOTS_PER_DAY


@dataclass(frozen=True)
class UserRule:
    """What the engine needs to know about one user."""

    user_id: str
    name: str = ""
    active: bool = True
    expiry: float | None = None  # UTC epoch seconds; None = never expires
    groups: tuple[int, ...] = (0,)
    doors: frozenset[str] | None = None  # None = every door
    lockdown_override: bool = False  # opens a door in lockdown (`User.lockdown_override`)


@dataclass(frozen=True)
class CredentialRef:
    """Who owns a credential and whether it may be used."""

    user_id: str
    enabled: bool = True


@dataclass(frozen=True)
class GroupRule:
    """An access group: its access rights, and the doors it applies to (None = every door)."""

    id: int
    name: str = ""
    rights: tuple[int, ...] = ()
    doors: frozenset[str] | None = None


@dataclass(frozen=True)
class AccessRightRule:
    """A weekly pattern: day name (MONDAY..SUNDAY, HOLIDAY) -> 48 chars of '0'/'1'.

    A day that is absent has no access. Slot k covers minutes [30k, 30k + 30) of the day.
    """

    id: int
    name: str = ""
    patterns: Mapping[str, str] = field(default_factory=dict)

    def allows(self, day: str, slot: int) -> bool:
        """True when `day`'s pattern has slot `slot` switched on."""
        pattern = self.patterns.get(day)
        return pattern is not None and pattern[slot] == "1"


@dataclass(frozen=True)
class RulesSnapshot:
    """Every access rule of the store, indexed for O(1) credential lookups.

    PINs (private and public) are keyed by their keyed hash (see `PinHasher`), never by the
    digits. Cards are keyed by their canonical uppercase hex.
    """

    users: Mapping[str, UserRule] = field(default_factory=dict)
    cards: Mapping[str, CredentialRef] = field(default_factory=dict)
    pins: Mapping[str, CredentialRef] = field(default_factory=dict)
    qr_codes: Mapping[str, CredentialRef] = field(default_factory=dict)
    plates: Mapping[str, CredentialRef] = field(default_factory=dict)
    public_pins: frozenset[str] = frozenset()
    groups: Mapping[int, GroupRule] = field(default_factory=dict)
    rights: Mapping[int, AccessRightRule] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    version: int = 0
    # user id -> sealed TOTP secret (gateway/access/totp.py): a TOTP QR payload names its
    # user, so checking it is one lookup and one unseal, whatever the number of users.
    totp: Mapping[str, str] = field(default_factory=dict)

    def owner(self, kind: CredentialKind, key: str) -> CredentialRef | None:
        """The owner of a credential; `key` is the canonical value, or the PIN's keyed hash."""
        table: Mapping[str, CredentialRef]
        if kind == "card":
            table = self.cards
        elif kind == "pin":
            table = self.pins
        elif kind == "qr":
            table = self.qr_codes
        else:
            table = self.plates
        return table.get(key)

    def counts(self) -> dict[str, int]:
        """Sizes for status pages."""
        return {
            "users": len(self.users),
            "cards": len(self.cards),
            "pins": len(self.pins),
            "qr_codes": len(self.qr_codes),
            "plates": len(self.plates),
            "public_pins": len(self.public_pins),
            "groups": len(self.groups),
            "access_rights": len(self.rights),
            "holidays": len(self.holidays),
        }
