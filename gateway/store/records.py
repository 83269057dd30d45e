"""Records the store hands back besides `User`: departments, access rights, groups, ..."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from gateway.model import User


@dataclass(frozen=True)
class Department:
    """An ACTAtek department."""

    id: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class AccessRight:
    """A weekly schedule: day name (MONDAY..SUNDAY, HOLIDAY) -> 48 half-hour slots.

    A day missing from `patterns` has no access at all.
    """

    id: int
    name: str
    description: str = ""
    patterns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessGroup:
    """An access group: its access rights, and the doors it covers (None = every door)."""

    id: int
    name: str
    department_id: int = 0
    rights: tuple[int, ...] = ()
    doors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Technician:
    """A person allowed on the status page and the management API (no password here)."""

    username: str
    level: str
    must_change: bool = False
    disabled: bool = False  # kept, but logs in nowhere
    # Moves with every change of password, level or state: sessions opened under an older
    # version end (gateway/web/auth.py).
    credential_version: int = 1


@dataclass(frozen=True)
class HolidayChange:
    """What an add/remove of holidays did: the dates changed, and the inputs refused.

    `invalid` holds the inputs as given (ACTAtek reports them back as `invalid_dates`):
    unparseable dates, and for a removal also dates that were not holidays.
    """

    changed: tuple[date, ...] = ()
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialFlags:
    """Which of one user's credentials are disabled, as an import/export file says.

    Values are as stored (cards in canonical form); a credential not listed is enabled.
    """

    disabled_cards: frozenset[str] = frozenset()
    disabled_qr_codes: frozenset[str] = frozenset()
    disabled_plates: frozenset[str] = frozenset()
    pin_enabled: bool = True

    def enabled(self, kind: str, value: str) -> bool:
        """Whether the credential `kind`/`value` (the PIN: any value) is enabled."""
        if kind == "pin":
            return self.pin_enabled
        disabled = {
            "card": self.disabled_cards,
            "qr": self.disabled_qr_codes,
            "plate": self.disabled_plates,
        }[kind]
        return value not in disabled


@dataclass(frozen=True)
class ExportedUser:
    """One user as an export file carries them: the PIN as its keyed hash (None without a
    PIN), and which credentials are disabled."""

    user: User
    pin_hash: str | None
    flags: CredentialFlags = field(default_factory=CredentialFlags)
