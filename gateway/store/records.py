"""Records the store hands back besides `User`: departments, access rights, groups,
holidays, a user's ACTAtek extras, triggers and job codes. Plain values: the web layer
imports them at run time (a contract module, `scripts/check_layers.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

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


# -- the ACTAtek user structure beyond `User` (kept by `gateway.store.profiles`) ----------

# The ACTAtek status flags besides `active` (which is `User.active`).
STATUS_FLAGS: tuple[str, ...] = (
    "autoMatch",
    "smartCard",
    "fingerprint",
    "password",
    "facial",
    "facialAutoMatch",
)

CredentialKey = tuple[str, str]  # (kind, value) as in the credentials table


@dataclass(frozen=True)
class UserProfile:
    """A user's ACTAtek extras.

    `flags` holds only the flags ever set (an absent one is derived when shown).
    `key_ids` maps a credential to the keyid a client gave it. `enabled`, when read, holds
    every credential's enabled flag; when written, the flags to set.
    """

    flags: Mapping[str, bool] = field(default_factory=dict)
    fingerprints: str | None = None
    facial_records: tuple[Mapping[str, Any], ...] = ()
    score_threshold: int = 0
    key_ids: Mapping[CredentialKey, str] = field(default_factory=dict)
    enabled: Mapping[CredentialKey, bool] = field(default_factory=dict)


UserRecord = tuple[User, UserProfile]


@dataclass(frozen=True)
class UserFilter:
    """getUsers criteria: exact matches, and a substring of the user id."""

    user_id: str | None = None
    partial_user_id: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    other_name: str | None = None


# -- terminal settings (kept by `gateway.store.terminal_settings`) ---------------------

JOB_CODE_ENABLES: tuple[str, ...] = ("enable", "disable", "default")


@dataclass(frozen=True)
class Trigger:
    """A trigger key and its schedule: day name (PATTERN_DAYS) -> 48 half-hour slots."""

    type: str
    name: str
    enabled: bool
    free_jobcode: bool = False
    patterns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobCodeSetting:
    """One of the three job code settings (ACTAtek "jobcode setting" 1, 2, 3)."""

    jobcode: int
    name: str
    enabled: bool


@dataclass(frozen=True)
class JobCode:
    """One job code under a setting; `enable` is "enable", "disable" or "default"."""

    jobcode: int
    id: int
    name: str
    enable: str
