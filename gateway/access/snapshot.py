"""The in-memory index the decision path reads: the access rules, compact and kept current.

A snapshot is built in full from the store (`gateway.store.rules.load_snapshot`) at start-up
and after a large change; smaller changes arrive as a `RulesDelta` (the users and credentials
the store's change log names, re-read) and are applied on the event loop in one synchronous
`apply`, so a decision never sees half of one user's update and never touches disk.

Compact, because a Pi holds a million cardholders in it (docs/performance.md):
- a user is its id and the index of a `UserPolicy` (active, expiry, groups, doors, lockdown
  override) shared by every user with the same rules, its name packed in (`UserTable`);
- a credential maps its key to its owner's user-id string: no object per credential. Card
  numbers (uppercase hex) are keyed by an int that reads back to the same text, PIN hashes
  (64 lowercase hex) by the int of their first 88 bits; anything else keeps its text
  (iterating `pins` gives those 22-digit prefixes: look a PIN up by its full hash);
- every dict holds only str and int, which the garbage collector never tracks, so a full
  collection does not walk a million entries (no loop freeze).
The readers keep the mappings they had (`users`, `cards`, `pins`, ...): read-only views that
build a `UserRule` or `CredentialRef` when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.model import CREDENTIAL_KINDS, CredentialKind

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
    # starts a first-person-in unlock schedule (`User.schedule_activation`)
    schedule_activation: bool = True


@dataclass(frozen=True)
class CredentialRef:
    """Who owns a credential and whether it may be used."""

    user_id: str
    enabled: bool = True
    # A licence plate's validity window (the Akuvox plate "Duration"), UTC epoch seconds;
    # None = unbounded (a long-term plate, and every other credential).
    valid_from: float | None = None
    valid_until: float | None = None

    @property
    def window(self) -> Window | None:
        """(valid_from, valid_until), or None when the credential has no window."""
        if self.valid_from is None and self.valid_until is None:
            return None
        return (self.valid_from, self.valid_until)


Window = tuple[float | None, float | None]


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
class UserPolicy:
    """A user's rules without who they are: one object shared by every user with the same."""

    active: bool = True
    expiry: float | None = None
    groups: tuple[int, ...] = (0,)
    doors: frozenset[str] | None = None
    lockdown_override: bool = False
    schedule_activation: bool = True

    @classmethod
    def of(cls, user: UserRule) -> UserPolicy:
        """The policy part of `user`."""
        return cls(
            user.active,
            user.expiry,
            user.groups,
            user.doors,
            user.lockdown_override,
            user.schedule_activation,
        )


# A credential's key in the cache: an int for canonical card numbers and PIN hashes (about
# half the memory of their text), the text itself for anything else.
CredentialKey = int | str
PIN_HASH_LENGTH = 64
# A PIN hash is keyed by its first 88 bits: a 36-byte int instead of 60 for all 256 (24 MB
# at a million PINs). The hash is a keyed HMAC: the chance that a wrong PIN's key equals
# one of a million stored is 1e6 / 2**88, about 3e-21 an attempt.
PIN_KEY_HEX_DIGITS = 22


def credential_key(kind: CredentialKind, value: str) -> CredentialKey:
    """The cache key of `value` (the canonical value, or a PIN's keyed hash). A card key
    reads back to exactly `value` (`credential_value`), so two texts never share one; a
    PIN hash's key is its first 88 bits (the 22 hex digits `credential_value` gives back
    find it too)."""
    if not value.isascii() or not value.isalnum():
        return value
    if kind == "card":
        if len(value) <= 64 and (value.isupper() or value.isdigit()):
            try:
                return int("1" + value, 16)  # the leading 1 keeps leading zeros
            except ValueError:
                return value
    elif kind == "pin" and _pin_hash_like(value):
        try:
            int(value, 16)  # the whole hash is hex, not only its first digits
            return int(value[:PIN_KEY_HEX_DIGITS], 16)
        except ValueError:
            return value
    return value


def _pin_hash_like(value: str) -> bool:
    """Lowercase alphanumerics of a hash's length (or of its key's)."""
    lengths = (PIN_HASH_LENGTH, PIN_KEY_HEX_DIGITS)
    return len(value) in lengths and (value.islower() or value.isdigit())


def credential_value(kind: CredentialKind, key: CredentialKey) -> str:
    """The text a cache key stands for: the card number, or a PIN hash's first 22 hex
    digits (what is kept of it)."""
    if isinstance(key, str):
        return key
    if kind == "card":
        return format(key, "X")[1:]
    return format(key, f"0{PIN_KEY_HEX_DIGITS}x")


@dataclass
class CredentialTable:
    """One kind of credential: key -> owner's user id, enabled and disabled apart."""

    kind: CredentialKind
    enabled: dict[CredentialKey, str] = field(default_factory=dict)
    disabled: dict[CredentialKey, str] = field(default_factory=dict)
    # Only the credentials with a validity window (a few plates): no entry per credential.
    windows: dict[CredentialKey, Window] = field(default_factory=dict)

    def put(self, value: str, user_id: str, enabled: bool, window: Window | None = None) -> None:
        """Record `value` as `user_id`'s credential (valid within `window`, if given)."""
        key = credential_key(self.kind, value)
        (self.enabled if enabled else self.disabled)[key] = user_id
        (self.disabled if enabled else self.enabled).pop(key, None)
        if window is not None:
            self.windows[key] = window
        elif self.windows:
            self.windows.pop(key, None)

    def remove(self, value: str) -> None:
        """Forget `value` (no error when absent)."""
        key = credential_key(self.kind, value)
        self.enabled.pop(key, None)
        self.disabled.pop(key, None)
        self.windows.pop(key, None)

    def get(self, value: str) -> CredentialRef | None:
        """Who owns `value`, whether it is enabled and its window, or None."""
        key = credential_key(self.kind, value)
        user_id = self.enabled.get(key)
        enabled = user_id is not None
        if user_id is None:
            user_id = self.disabled.get(key)
            if user_id is None:
                return None
        window = self.windows.get(key) if self.windows else None
        if window is None:
            return CredentialRef(user_id, enabled)
        return CredentialRef(user_id, enabled, window[0], window[1])

    def __len__(self) -> int:
        return len(self.enabled) + len(self.disabled)


class CredentialsView(Mapping[str, CredentialRef]):
    """A read-only mapping value -> `CredentialRef` over a `CredentialTable`."""

    def __init__(self, table: CredentialTable) -> None:
        self._table = table

    def get(self, value: str, default: object = None) -> CredentialRef | None:  # type: ignore[override]
        """The owner of `value`, or `default`."""
        ref = self._table.get(value)
        return ref if ref is not None else default  # type: ignore[return-value]

    def __getitem__(self, value: str) -> CredentialRef:
        ref = self._table.get(value)
        if ref is None:
            raise KeyError(value)
        return ref

    def __iter__(self) -> Iterator[str]:
        kind = self._table.kind
        for table in (self._table.enabled, self._table.disabled):
            for key in list(table):
                yield credential_value(kind, key)

    def __len__(self) -> int:
        return len(self._table)


# A packed name ends with the policy index in this many bytes (big-endian).
INDEX_BYTES = 3
# The highest policy index a packed name can carry.
MAX_PACKED_INDEX = 2 ** (8 * INDEX_BYTES) - 1


@dataclass
class UserTable:
    """Every user: id -> the index of a shared `UserPolicy`, with the name packed in.

    A user with a name maps to one bytes object, the name in UTF-8 then the policy index in
    INDEX_BYTES bytes (`pack`); a user without one maps to the index itself. One dict
    entry and one small object per user (bytes cost 16 bytes less than a str of the same
    text): a million names cost their text and no second dict. Past MAX_PACKED_INDEX
    policies a name moves to `overflow_names`.
    """

    entries: dict[str, int | bytes] = field(default_factory=dict)
    overflow_names: dict[str, str] = field(default_factory=dict)
    policies: list[UserPolicy] = field(default_factory=list)
    policy_index: dict[UserPolicy, int] = field(default_factory=dict)

    def intern(self, policy: UserPolicy) -> int:
        """The index of `policy`, added to the shared list the first time it is seen."""
        index = self.policy_index.get(policy)
        if index is None:
            index = self.policy_index[policy] = len(self.policies)
            self.policies.append(policy)
        return index

    def pack(self, user_id: str, name: str, index: int) -> int | bytes:
        """The entry of a user with `name` and policy `index` (see the class docstring)."""
        if not name:
            self.overflow_names.pop(user_id, None)
            return index
        if index <= MAX_PACKED_INDEX:
            self.overflow_names.pop(user_id, None)
            return name.encode() + index.to_bytes(INDEX_BYTES, "big")
        self.overflow_names[user_id] = name
        return index

    def unpack(self, user_id: str, entry: int | bytes) -> tuple[str, int]:
        """The name and policy index an entry stands for."""
        if isinstance(entry, int):
            return self.overflow_names.get(user_id, ""), entry
        return entry[:-INDEX_BYTES].decode(), int.from_bytes(entry[-INDEX_BYTES:], "big")

    def put(self, user: UserRule) -> None:
        """Add or replace `user`."""
        index = self.intern(UserPolicy.of(user))
        self.entries[user.user_id] = self.pack(user.user_id, user.name, index)

    def remove(self, user_id: str) -> None:
        """Forget `user_id` (no error when absent)."""
        self.entries.pop(user_id, None)
        self.overflow_names.pop(user_id, None)

    def get(self, user_id: str) -> UserRule | None:
        """The user's rules, or None."""
        entry = self.entries.get(user_id)
        if entry is None:
            return None
        name, index = self.unpack(user_id, entry)
        p = self.policies[index]
        return UserRule(
            user_id,
            name,
            p.active,
            p.expiry,
            p.groups,
            p.doors,
            p.lockdown_override,
            p.schedule_activation,
        )

    def name(self, user_id: str) -> str:
        """The user's name ("" when unknown or unnamed)."""
        entry = self.entries.get(user_id)
        return "" if entry is None else self.unpack(user_id, entry)[0]

    def names(self) -> Iterator[tuple[str, str]]:
        """(user id, name) of every user with a name."""
        for user_id, entry in self.entries.items():
            name = self.unpack(user_id, entry)[0]
            if name:
                yield user_id, name


class UsersView(Mapping[str, UserRule]):
    """A read-only mapping user id -> `UserRule` over a `UserTable`."""

    def __init__(self, table: UserTable) -> None:
        self._table = table

    def get(self, user_id: str, default: object = None) -> UserRule | None:  # type: ignore[override]
        """The user's rules, or `default`."""
        user = self._table.get(user_id)
        return user if user is not None else default  # type: ignore[return-value]

    def __getitem__(self, user_id: str) -> UserRule:
        user = self._table.get(user_id)
        if user is None:
            raise KeyError(user_id)
        return user

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._table.entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._table.entries))

    def __len__(self) -> int:
        return len(self._table.entries)


@dataclass(frozen=True)
class SharedRules:
    """The small tables every user shares, reloaded whole when one of them changed."""

    public_pins: frozenset[str] = frozenset()
    groups: Mapping[int, GroupRule] = field(default_factory=dict)
    rights: Mapping[int, AccessRightRule] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class UserChange:
    """One user as the store has it now: `user` None when the user is gone."""

    user_id: str
    user: UserRule | None
    totp: str | None  # the sealed TOTP secret, None when there is none


@dataclass(frozen=True)
class CredentialChange:
    """One credential as the store has it now: `owner` None when it is gone."""

    kind: CredentialKind
    value: str
    owner: CredentialRef | None


@dataclass(frozen=True)
class RulesDelta:
    """What changed in the store from one change-log position to `change_seq`."""

    version: int
    change_seq: int
    users: tuple[UserChange, ...] = ()
    credentials: tuple[CredentialChange, ...] = ()
    shared: SharedRules | None = None  # None: the small tables did not change


class RulesSnapshot:
    """Every access rule of the store, indexed for O(1) credential lookups.

    PINs (private and public) are keyed by their keyed hash (see `PinHasher`), never by the
    digits. Cards are keyed by their canonical uppercase hex. `version` is the store's
    `rules_version` and `change_seq` the last change-log entry the snapshot includes.
    """

    def __init__(
        self,
        users: Mapping[str, UserRule] | None = None,
        cards: Mapping[str, CredentialRef] | None = None,
        pins: Mapping[str, CredentialRef] | None = None,
        qr_codes: Mapping[str, CredentialRef] | None = None,
        plates: Mapping[str, CredentialRef] | None = None,
        public_pins: frozenset[str] = frozenset(),
        groups: Mapping[int, GroupRule] | None = None,
        rights: Mapping[int, AccessRightRule] | None = None,
        holidays: frozenset[date] = frozenset(),
        version: int = 0,
        totp: Mapping[str, str] | None = None,
        change_seq: int = 0,
    ) -> None:
        self._users = UserTable()
        self._credentials = {kind: CredentialTable(kind) for kind in CREDENTIAL_KINDS}
        for user in (users or {}).values():
            self._users.put(user)
        for kind, table in (("card", cards), ("pin", pins), ("qr", qr_codes), ("plate", plates)):
            for value, ref in (table or {}).items():
                self._credentials[kind].put(value, ref.user_id, ref.enabled, ref.window)  # type: ignore[index]
        self.shared = SharedRules(public_pins, dict(groups or {}), dict(rights or {}), holidays)
        self.version = version
        self.change_seq = change_seq
        # True while the first full load runs: only the shared tables are in, and each
        # credential is read from the store before it is decided (`gateway.rules_reload`).
        self.loading = False
        # user id -> sealed TOTP secret (gateway/access/totp.py): a TOTP QR payload names its
        # user, so checking it is one lookup and one unseal, whatever the number of users.
        self.totp: dict[str, str] = dict(totp or {})
        self.users: Mapping[str, UserRule] = UsersView(self._users)
        self.cards: Mapping[str, CredentialRef] = CredentialsView(self._credentials["card"])
        self.pins: Mapping[str, CredentialRef] = CredentialsView(self._credentials["pin"])
        self.qr_codes: Mapping[str, CredentialRef] = CredentialsView(self._credentials["qr"])
        self.plates: Mapping[str, CredentialRef] = CredentialsView(self._credentials["plate"])

    @classmethod
    def from_tables(
        cls,
        users: UserTable,
        credentials: Iterable[CredentialTable],
        shared: SharedRules,
        totp: dict[str, str],
        version: int,
        change_seq: int,
    ) -> RulesSnapshot:
        """A snapshot over tables the loader filled (`gateway.store.rules`), not copied."""
        snapshot = cls(version=version, change_seq=change_seq)
        snapshot._users = users
        snapshot._credentials = {table.kind: table for table in credentials}
        snapshot.shared, snapshot.totp = shared, totp
        snapshot.users = UsersView(users)
        snapshot.cards = CredentialsView(snapshot._credentials["card"])
        snapshot.pins = CredentialsView(snapshot._credentials["pin"])
        snapshot.qr_codes = CredentialsView(snapshot._credentials["qr"])
        snapshot.plates = CredentialsView(snapshot._credentials["plate"])
        return snapshot

    @property
    def public_pins(self) -> frozenset[str]:
        """Keyed hashes of the public PINs."""
        return self.shared.public_pins

    @property
    def groups(self) -> Mapping[int, GroupRule]:
        """Access groups by id."""
        return self.shared.groups

    @property
    def rights(self) -> Mapping[int, AccessRightRule]:
        """Access rights (weekly patterns) by id."""
        return self.shared.rights

    @property
    def holidays(self) -> frozenset[date]:
        """Holiday dates (the HOLIDAY pattern applies on them)."""
        return self.shared.holidays

    def owner(self, kind: CredentialKind, key: str) -> CredentialRef | None:
        """The owner of a credential; `key` is the canonical value, or the PIN's keyed hash."""
        return self._credentials[kind].get(key)

    def user(self, user_id: str) -> UserRule | None:
        """The rules of `user_id`, or None."""
        return self._users.get(user_id)

    def user_name(self, user_id: str) -> str:
        """The user's name ("" when unknown or unnamed)."""
        return self._users.name(user_id)

    def users_called(self, name: str) -> list[UserRule]:
        """The users whose id is `name`, or whose name is `name` (spaces and case aside)."""
        wanted = " ".join(name.split()).casefold()
        ids = [
            user_id
            for user_id, user_name in self._users.names()
            if " ".join(user_name.split()).casefold() == wanted
        ]
        if name in self._users.entries and name not in ids:
            ids.append(name)
        return [user for user in map(self._users.get, ids) if user is not None]

    def apply(self, delta: RulesDelta) -> None:
        """Apply `delta` in one synchronous step (on the event loop: no decision runs
        in between, so none sees half of it)."""
        for change in delta.users:
            if change.user is None:
                self._users.remove(change.user_id)
            else:
                self._users.put(change.user)
            if change.totp is None:
                self.totp.pop(change.user_id, None)
            else:
                self.totp[change.user_id] = change.totp
        for credential in delta.credentials:
            table = self._credentials[credential.kind]
            if credential.owner is None:
                table.remove(credential.value)
            else:
                owner = credential.owner
                table.put(credential.value, owner.user_id, owner.enabled, owner.window)
        if delta.shared is not None:
            self.shared = delta.shared
        self.version, self.change_seq = delta.version, delta.change_seq

    def drain(self) -> None:
        """Empty this snapshot one entry at a time (on a worker thread, once replaced):
        freeing a million entries in one go would hold the interpreter for a tenth of a
        second or more, and with it the event loop."""
        tables: list[dict[Any, Any]] = [self._users.entries, self._users.overflow_names]
        for credentials in self._credentials.values():
            tables += [credentials.enabled, credentials.disabled, credentials.windows]
        for table in tables:
            while table:
                table.popitem()

    def counts(self) -> dict[str, int]:
        """Sizes for status pages."""
        return {
            "users": len(self._users.entries),
            "cards": len(self._credentials["card"]),
            "pins": len(self._credentials["pin"]),
            "qr_codes": len(self._credentials["qr"]),
            "plates": len(self._credentials["plate"]),
            "public_pins": len(self.public_pins),
            "groups": len(self.groups),
            "access_rights": len(self.rights),
            "holidays": len(self.holidays),
        }
