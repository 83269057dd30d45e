"""Plain data passed between components: credentials, decisions, events, users.

No I/O here. Everything is a frozen dataclass or an enum-like string literal so it can be
logged, compared in tests and serialised to the journal without surprises.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Literal

CredentialKind = Literal["card", "pin", "qr", "plate"]
CREDENTIAL_KINDS: tuple[CredentialKind, ...] = ("card", "pin", "qr", "plate")

DecisionSource = Literal["cache", "upstream", "policy"]
EventType = Literal["access", "door", "alarm", "reader", "upstream", "api", "system"]
EVENT_TYPES: tuple[EventType, ...] = (
    "access",
    "door",
    "alarm",
    "reader",
    "upstream",
    "api",
    "system",
)
# Retention classes of the journal (docs/forwarding.md, "Retention"): administrative
# events (`api`: logins, user and configuration changes, made by people through the APIs)
# have their own bound, so their noise never pushes evidence (every other type: what the
# door, its readers and the system saw and did) out of the journal.
ADMINISTRATIVE_TYPE: EventType = "api"
Direction = Literal["in", "out"]
AdminLevel = Literal["PERSONALUSER", "USERADMIN", "NETWORKADMIN", "SUPERADMIN"]
ADMIN_LEVELS: tuple[AdminLevel, ...] = ("PERSONALUSER", "USERADMIN", "NETWORKADMIN", "SUPERADMIN")

PIN_MASK = "****"
# Akuvox "public PINs": anonymous PINs that open every door a PIN alone may open.
PUBLIC_PIN_DIGITS = (4, 8)
# Akuvox private PINs: 2-8 digits, one per user.
PRIVATE_PIN_DIGITS = (2, 8)
MAX_PUBLIC_PINS = 3
# A QR code is a bearer credential: whoever has its text opens the door. Logs and events show
# `sha256:` and the first 4 hex digits of the SHA-256 of its text (docs/security.md).
QR_FINGERPRINT_HEX = 4
_QR_FINGERPRINT = re.compile(rf"sha256:[0-9a-f]{{{QR_FINGERPRINT_HEX}}}")


def qr_fingerprint(code: str) -> str:
    """How logs and events show the QR code `code`: `sha256:1f2e`.

    Two codes show differently but for 1 in 65,536; the same code shows the same way on
    every path (reader, OpenDoor, upstream URL), across restarts and gateways. 16 bits say
    too little to rebuild a code: an 8-digit one still has about 1,500 candidates.
    """
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:QR_FINGERPRINT_HEX]}"


def shown_credential(kind: str | None, value: str) -> str:
    """`value` as logs and events may show it: a PIN never, a QR code as its fingerprint
    (a value that already is one is kept), any other credential as it is."""
    if kind == "pin":
        return PIN_MASK
    if kind == "qr" and not _QR_FINGERPRINT.fullmatch(value):
        return qr_fingerprint(value)
    return value


@dataclass(frozen=True)
class Credential:
    """One thing presented at a reader, already decoded to its canonical value.

    `value` is the canonical form: uppercase hex for cards, the digits for a PIN, the text
    for QR codes and plates. PINs and QR codes are secrets, kept in memory only and never
    logged as they are: see `display_value`.
    `timestamp` is wall-clock UTC seconds (time.time()) when the reader saw it.
    `refusal`: the reader saw a card but could not read a credential from it (a secure card
    that failed its authentication, e.g. a copied UID): the decision is that refusal, and
    `value` is empty.
    """

    kind: CredentialKind
    value: str
    reader: str
    timestamp: float
    raw: str = ""
    refusal: str = ""

    @property
    def display_value(self) -> str:
        """The value as it may appear in logs and events: a PIN is always masked, a QR code
        shown as its fingerprint."""
        return shown_credential(self.kind, self.value)

    def __repr__(self) -> str:
        raw = PIN_MASK if self.kind in ("pin", "qr") else self.raw
        refusal = f", refusal={self.refusal!r}" if self.refusal else ""
        return (
            f"Credential(kind={self.kind!r}, value={self.display_value!r}, "
            f"reader={self.reader!r}, timestamp={self.timestamp!r}, raw={raw!r}{refusal})"
        )


@dataclass(frozen=True)
class UnlockClaim:
    """Who the sending device recognised, and which way they go (the OpenDoor user fields)."""

    direction: Direction | None  # from AntiPassbackMode; None: no anti-passback check
    name: str = ""
    unlock_type: str = ""
    code: str = ""

    @property
    def names_a_user(self) -> bool:
        """Any user field given: an identified passage, not a plain remote unlock."""
        return bool(self.direction or self.name or self.unlock_type or self.code)


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one credential at one door.

    `final` is False while a two-factor door waits for the second factor: nothing opens and
    the reader prompts. `trace` lists, in order, the rules that were consulted.
    `lockdown_override`: the grant may open a door in lockdown (the user's own privilege).
    """

    granted: bool
    reason: str
    user_id: str | None
    source: DecisionSource
    trace: tuple[str, ...] = ()
    final: bool = True
    notes: tuple[str, ...] = ()
    lockdown_override: bool = False
    schedule_activation: bool = True  # the grant may start a first-person-in schedule

    def refused_by_door(self, refusal: str) -> Decision:
        """This grant as the denial it becomes when the door refuses it ("lockdown",
        "shutdown"): the door's reason, traced `door:REASON` after the rules."""
        return replace(self, granted=False, reason=refusal, trace=(*self.trace, f"door:{refusal}"))

    @property
    def journal_trace(self) -> str:
        """The trace as the journal keeps it: the rules in order, then the notes."""
        return " > ".join([*self.trace, *(f"note:{note}" for note in self.notes)])


@dataclass(frozen=True)
class Event:
    """One journal row before it is stored (the journal assigns `seq`)."""

    type: EventType
    time: float
    door: str | None = None
    reader: str | None = None
    user_id: str | None = None
    credential_kind: str | None = None
    credential: str | None = None
    granted: bool | None = None
    reason: str = ""
    source: str | None = None
    trace: str = ""
    latency_ms: float | None = None
    # Which way someone passed (an access decision): the reader's direction, or the
    # AntiPassbackMode of an OpenDoor request. None when nobody said.
    direction: Direction | None = None
    # The frame as the reader sent it (Wiegand bits, a serial frame, a UID), for the
    # decision trace; never kept for a PIN or a QR code (their frame is the secret).
    raw: str | None = None

    @property
    def administrative(self) -> bool:
        """In the journal's administrative retention class (else: evidence)."""
        return self.type == ADMINISTRATIVE_TYPE


@dataclass(frozen=True)
class StoredEvent:
    """A journal row as read back, with its sequence number and both time forms."""

    seq: int
    time: str
    local_time: str
    type: str
    door: str | None
    reader: str | None
    user_id: str | None
    credential_kind: str | None
    credential: str | None
    granted: bool | None
    reason: str
    source: str | None
    trace: str
    latency_ms: float | None
    direction: str | None = None  # "in", "out", or None (not said, or an older row)
    raw: str | None = None  # the reader's frame (None: not a frame, a secret, an older row)

    def as_dict(self) -> dict[str, object]:
        """The public field names of the journal (API, exports, forwarders rely on them)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "local_time": self.local_time,
            "type": self.type,
            "door": self.door,
            "reader": self.reader,
            "user_id": self.user_id,
            "credential_kind": self.credential_kind,
            "credential": self.credential,
            "granted": self.granted,
            "reason": self.reason,
            "source": self.source,
            "trace": self.trace,
            "latency_ms": self.latency_ms,
            "direction": self.direction,
            "raw": self.raw,
        }


# (valid from, valid until) of a licence plate: ISO 8601 UTC texts, None = unbounded.
PlateWindow = tuple[str | None, str | None]


@dataclass
class User:
    """A person as the store and the import/export files know them.

    `pin` is only ever set on the way in (from an import or the API) and is hashed before
    it is stored; a user read back from the store has `pin=None` and `has_pin` set.
    """

    user_id: str
    first_name: str = ""
    last_name: str = ""
    other_name: str = ""
    active: bool = True
    expiry: str | None = None  # ISO 8601 UTC ("2027-01-31T00:00:00Z") or None
    admin_level: AdminLevel = "PERSONALUSER"
    departments: list[int] = field(default_factory=lambda: [0])
    groups: list[int] = field(default_factory=lambda: [0])
    doors: list[str] = field(default_factory=list)  # empty = every door
    message: str = ""
    cards: list[str] = field(default_factory=list)
    qr_codes: list[str] = field(default_factory=list)
    plates: list[str] = field(default_factory=list)
    # The Akuvox plate "Duration": a plate listed here is valid only from its first time
    # (None: no start) until its second (None: no end), ISO 8601 UTC like `expiry`; a plate
    # not listed is a long-term vehicle.
    plate_windows: dict[str, PlateWindow] = field(default_factory=dict)
    pin: str | None = None
    has_pin: bool = False
    # Opens a door in lockdown (card, PIN, QR, plate, or OpenDoor by Code). Its own
    # privilege, not implied by `admin_level`; only a SUPERADMIN session grants it, and an
    # import file never carries it (docs/security.md).
    lockdown_override: bool = False
    # The Akuvox "Relay Schedule Activation Permission": this user's grant starts a door's
    # first-person-in unlock schedule (`unlock_schedule_first_person`); false: it only
    # opens the door for its pulse.
    schedule_activation: bool = True
    # Elevator floors this user may select after a grant at a lift reader (the Akuvox
    # "Floor No."): names of `[[floors]]` entries (docs/floors.md).
    floors: list[str] = field(default_factory=list)
    # HTTP URLs sent after each grant of this user (the Akuvox "Web Relay"; docs/web-relay.md).
    # A password or token in one is a secret: read back, it is shown masked (and never in
    # a repr).
    web_relay_urls: list[str] = field(default_factory=list, repr=False)

    @property
    def display_name(self) -> str:
        """First and last name, as the ACTAtek `userName` combines them."""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class GrantActions:
    """What a user's grant sets off besides the door: the elevator floors it enables (at a
    lift reader) and the web relay URLs it sends, as stored (a URL may hold a password:
    never log one as it is)."""

    floors: tuple[str, ...] = ()
    web_relay_urls: tuple[str, ...] = field(default=(), repr=False)
