"""The ACTAtek user structure (sections 3 and 8): parsing it, laying it over a stored user,
and showing a stored user in it.

How its fields map onto the store:

- userID, firstName, lastName, otherName, message: the same fields of `User`.
- adminLevel: `admin_level`; a word that is not a level means PERSONALUSER (reference).
  It is what the ACTAtek API shows; it opens no door in lockdown.
- lockdownOverride (our addition): `lockdown_override`, true when this user's card, PIN,
  QR code or plate opens a door in lockdown. Only a SUPERADMIN session changes it
  (users.py); absent on add = false.
- scheduleActivation (our addition): `schedule_activation`, the Akuvox "Relay Schedule
  Activation Permission": whether this user's grant starts a door's first-person-in
  unlock schedule; absent on add = true.
- groupID, departmentID: an integer or an array; absent on add = [0].
- status.active: `active` (deactivateUser / activateUser set it too).
- password: the private keypad PIN (2-8 digits, unique on the device), stored as a keyed
  hash, never shown, never a login for this API; "" removes it.
- cardsn: the first card. Hex as canonical (`04A1B2C3`; colons or spaces allowed; an odd
  digit count is a hex number whose leading 0 was dropped, as the reference's "00003",
  stored as `000003`), or the decimal facility-card number printed on 26-bit cards,
  `FFF-CCCCC` (the dash, or a slash, makes it unambiguous). "" removes it.
- keyrecords: keytype 1 = QR code, 2 = licence plate, 3 = a further card (cards 2-5);
  keystring = its value; keyid kept as given (default `kind:value`); keyenabled = the
  credential's enabled flag. When given, it replaces every QR code, plate and further card.
  validfrom / validuntil (our addition, plates only): the Akuvox plate "Duration", the
  window within which the plate opens (xsd:dateTime with Z or an offset; either may be
  left out); a plate with neither is a long-term vehicle.
- expirydate: xsd:dateTime; with Z or an offset as is, without one in the device's time
  zone (as the reference reads log times); 0 = none.
- floorNo (our addition, the Akuvox "Floor No."): `floors`, an array of floor names
  (strings; a whole number is taken as its digits), the `[[floors]]` a grant at a lift
  reader enables; [] removes them. See docs/floors.md.
- webRelayURLs (our addition, the Akuvox "Web Relay"): `web_relay_urls`, an array of up
  to 10 http(s) URLs sent after each grant of the user; [] removes them. Shown with a
  password or a token masked (`****`); a masked URL sent back keeps the stored one. See
  docs/web-relay.md.
- fingerprints, facialrecords, ScoreThreshold, the status flags other than active: stored
  and returned unchanged, because this gateway has no fingerprint or face sensor.

Every field is optional except userID. On update a field left out keeps its value.
Unknown fields are refused, so a typo cannot silently drop a change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.cardnumbers import from_printed
from gateway.model import ADMIN_LEVELS, AdminLevel, PlateWindow, User
from gateway.store.errors import ValidationError
from gateway.store.records import STATUS_FLAGS, CredentialKey, UserProfile, UserRecord
from gateway.store.validate import (
    MAX_CARDS,
    MAX_FLOORS,
    MAX_MESSAGE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PLATES,
    MAX_QR_CODES,
    MAX_QR_LENGTH,
    MAX_USER_ID,
    MAX_WEB_RELAY_URL_LENGTH,
    MAX_WEB_RELAY_URLS,
    canonical_card,
)
from gateway.web.actatek.answers import ActatekError
from gateway.web.actatek.inputs import ID_MAX, boolean, integer, integers, no_unknown_keys, text

USER_FIELDS = frozenset(
    {
        "userID",
        "lastName",
        "firstName",
        "otherName",
        "adminLevel",
        "password",
        "groupID",
        "departmentID",
        "status",
        "fingerprints",
        "keyrecords",
        "facialrecords",
        "cardsn",
        "ScoreThreshold",
        "expirydate",
        "message",
        "lockdownOverride",
        "scheduleActivation",
        "floorNo",
        "webRelayURLs",
    }
)
STATUS_FIELDS = frozenset({"active", *STATUS_FLAGS})
KEY_FIELDS = frozenset({"keytype", "keystring", "keyid", "keyenabled", "validfrom", "validuntil"})
FACE_FIELDS = frozenset({"FacialTemplateType", "FacialTemplate", "FacialPhoto"})
KEY_TYPES: dict[int, str] = {1: "qr", 2: "plate", 3: "card"}
KEY_TYPE_OF = {kind: number for number, kind in KEY_TYPES.items()}
# Store field names -> the API's, for the common error.
NAMES = {
    "user_id": "userID",
    "first_name": "firstName",
    "last_name": "lastName",
    "other_name": "otherName",
    "admin_level": "adminLevel",
    "departments": "departmentID",
    "groups": "groupID",
    "cards": "cardsn",
    "qr_codes": "keyrecords",
    "plates": "keyrecords",
    "plate_windows": "keyrecords",
    "pin": "password",
    "expiry": "expirydate",
    "lockdown_override": "lockdownOverride",
    "floors": "floorNo",
    "web_relay_urls": "webRelayURLs",
}
MAX_PIN_TEXT = 16
MAX_CARD_TEXT = 40
MAX_KEY_ID = 64
MAX_KEYS = MAX_QR_CODES + MAX_PLATES + MAX_CARDS - 1
MAX_FINGERPRINTS = 256 * 1024
MAX_TEMPLATE = 256 * 1024
MAX_PHOTO = 3 * 1024 * 1024  # a 2 MB JPEG in base64
MAX_FACES = 5
MAX_SCORE = 9999
MAX_EXPIRY_TEXT = 40
_FACILITY_CARD = re.compile(r"[0-9]{1,3}\s*[-/]\s*[0-9]{1,5}")
_HEX_TEXT = re.compile(r"[0-9A-Fa-f\s:]+")


@dataclass(frozen=True)
class KeyRecord:
    """One keyrecords entry, its value canonical."""

    kind: str
    value: str
    key_id: str
    enabled: bool
    valid_from: str | None = None  # a plate's window (checked by the store)
    valid_until: str | None = None


@dataclass(frozen=True)
class UserInput:
    """A user structure as sent; None = left out ("" = remove, for pin, card, fingerprints;
    for expiry "" = no expiry)."""

    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    other_name: str | None = None
    admin_level: AdminLevel | None = None
    pin: str | None = None
    groups: list[int] | None = None
    departments: list[int] | None = None
    active: bool | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)
    fingerprints: str | None = None
    faces: tuple[Mapping[str, Any], ...] | None = None
    card: str | None = None
    keys: tuple[KeyRecord, ...] | None = None
    score: int | None = None
    expiry: str | None = None
    message: str | None = None
    lockdown_override: bool | None = None
    schedule_activation: bool | None = None
    floors: list[str] | None = None
    web_relay_urls: list[str] | None = field(default=None, repr=False)


# -- parsing ----------------------------------------------------------------------------


def parse_card(value: str, name: str) -> str:
    """A card number as typed (see the module table) in canonical hex."""
    stripped = value.strip()
    try:
        if _FACILITY_CARD.fullmatch(stripped):
            return from_printed(stripped.replace("/", "-"), "W26")
        if _HEX_TEXT.fullmatch(stripped):
            digits = re.sub(r"[\s:]", "", stripped)
            return canonical_card(digits if len(digits) % 2 == 0 else "0" + digits)
        raise ValueError("expected hex digits, or FFF-CCCCC for a facility-card number")
    except ValidationError as exc:
        raise ActatekError(f"{name}: {exc.message}") from exc
    except ValueError as exc:
        raise ActatekError(f"{name}: {exc}") from exc


def _objects(value: Any, name: str, limit: int) -> list[Mapping[str, Any]]:
    """A single object or an array of objects (the reference allows both)."""
    items = value if isinstance(value, list) else [value]
    if len(items) > limit:
        raise ActatekError(f"{name}: at most {limit} entries")
    if not all(isinstance(item, dict) for item in items):
        raise ActatekError(f"{name}: expected an object or an array of objects")
    return items


def _key(obj: Mapping[str, Any]) -> KeyRecord:
    no_unknown_keys(obj, KEY_FIELDS, "keyrecords")
    key_type = integer(obj, "keytype", 1, max(KEY_TYPES), required=True)
    raw = text(obj, "keystring", MAX_QR_LENGTH, required=True)
    assert key_type is not None and raw is not None
    kind = KEY_TYPES[key_type]
    value = parse_card(raw, "keyrecords") if kind == "card" else raw
    key_id = text(obj, "keyid", MAX_KEY_ID)
    enabled = boolean(obj, "keyenabled")
    start = text(obj, "validfrom", MAX_EXPIRY_TEXT) or None
    end = text(obj, "validuntil", MAX_EXPIRY_TEXT) or None
    if kind != "plate" and (start or end):
        raise ActatekError("keyrecords: validfrom and validuntil are for a plate (keytype 2)")
    key = key_id or f"{kind}:{value}"
    return KeyRecord(kind, value, key, enabled is not False, start, end)


def _keys(value: Any) -> tuple[KeyRecord, ...] | None:
    if value is None:
        return None
    keys = tuple(_key(obj) for obj in _objects(value, "keyrecords", MAX_KEYS))
    key_ids = [key.key_id for key in keys]
    if len(set(key_ids)) != len(key_ids):
        raise ActatekError("keyrecords: every keyid must be different")
    return keys


def _face(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    no_unknown_keys(obj, FACE_FIELDS, "facialrecords")
    face: dict[str, Any] = {
        "FacialTemplateType": integer(obj, "FacialTemplateType", 0, 65535, required=True),
        "FacialTemplate": text(obj, "FacialTemplate", MAX_TEMPLATE, required=True),
    }
    photo = text(obj, "FacialPhoto", MAX_PHOTO)
    if photo is not None:
        face["FacialPhoto"] = photo
    return face


def _faces(value: Any) -> tuple[Mapping[str, Any], ...] | None:
    if value is None:
        return None
    return tuple(_face(obj) for obj in _objects(value, "facialrecords", MAX_FACES))


def _status(value: Any) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ActatekError("status: expected an object of true/false flags")
    no_unknown_keys(value, STATUS_FIELDS, "status")
    flags: dict[str, bool] = {}
    for name in value:
        flag = boolean(value, name)
        if flag is not None:
            flags[name] = flag
    return flags


def _admin_level(obj: Mapping[str, Any]) -> AdminLevel | None:
    level = text(obj, "adminLevel", 32)
    if level is None:
        return None
    return level if level in ADMIN_LEVELS else "PERSONALUSER"


def parse_expiry(value: Any, tz: ZoneInfo) -> str | None:
    """expirydate as UTC `...Z`; "" for 0 (no expiry); None when left out."""
    if value is None:
        return None
    if (value == 0 and not isinstance(value, bool)) or value in ("", "0"):
        return ""
    message = "expirydate: expected an xsd:dateTime such as 2027-01-31T00:00:00Z, or 0 for none"
    if not isinstance(value, str) or len(value) > MAX_EXPIRY_TEXT:
        raise ActatekError(message)
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz)
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError):
        raise ActatekError(message) from None


def _card(obj: Mapping[str, Any]) -> str | None:
    value = text(obj, "cardsn", MAX_CARD_TEXT)
    if value is None or value == "":
        return value
    return parse_card(value, "cardsn")


def parse_user(obj: Mapping[str, Any], tz: ZoneInfo) -> UserInput:
    """A user structure, every length and range checked; ActatekError if refused."""
    no_unknown_keys(obj, USER_FIELDS, "user")
    user_id = text(obj, "userID", MAX_USER_ID, required=True)
    assert user_id is not None
    status = _status(obj.get("status"))
    active = status.pop("active", None)
    return UserInput(
        user_id=user_id,
        first_name=text(obj, "firstName", MAX_NAME_LENGTH),
        last_name=text(obj, "lastName", MAX_NAME_LENGTH),
        other_name=text(obj, "otherName", MAX_NAME_LENGTH),
        admin_level=_admin_level(obj),
        pin=text(obj, "password", MAX_PIN_TEXT),
        groups=integers(obj, "groupID", 0, ID_MAX),
        departments=integers(obj, "departmentID", 0, ID_MAX),
        active=active,
        flags=status,
        fingerprints=text(obj, "fingerprints", MAX_FINGERPRINTS),
        faces=_faces(obj.get("facialrecords")),
        card=_card(obj),
        keys=_keys(obj.get("keyrecords")),
        score=integer(obj, "ScoreThreshold", 0, MAX_SCORE),
        expiry=parse_expiry(obj.get("expirydate"), tz),
        message=text(obj, "message", MAX_MESSAGE_LENGTH),
        lockdown_override=boolean(obj, "lockdownOverride"),
        schedule_activation=boolean(obj, "scheduleActivation"),
        floors=_floors(obj.get("floorNo")),
        web_relay_urls=_web_relay_urls(obj.get("webRelayURLs")),
    )


def _floors(value: Any) -> list[str] | None:
    """floorNo: an array of floor names; a whole number stands for its digits."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_FLOORS:
        raise ActatekError(f"floorNo: expected an array of at most {MAX_FLOORS} floor names")
    floors = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            item = str(item)
        if not isinstance(item, str) or not 0 < len(item) <= 64:
            raise ActatekError("floorNo: expected floor names (text or whole numbers)")
        floors.append(item)
    return floors


def _web_relay_urls(value: Any) -> list[str] | None:
    """webRelayURLs: an array of URLs (their form is checked by the store, which never
    quotes one back)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_WEB_RELAY_URLS:
        raise ActatekError(f"webRelayURLs: expected an array of at most {MAX_WEB_RELAY_URLS} URLs")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_WEB_RELAY_URL_LENGTH:
            raise ActatekError(
                f"webRelayURLs: expected URLs of at most {MAX_WEB_RELAY_URL_LENGTH} characters"
            )
    return list(value)


# -- laying a user structure over a stored user ---------------------------------------------


def _cards(current: list[str], new: UserInput) -> list[str]:
    primary = current[:1] if new.card is None else [new.card] if new.card else []
    if new.keys is None:
        return primary + current[1:]
    return primary + [key.value for key in new.keys if key.kind == "card"]


def _key_values(new: UserInput, kind: str, current: list[str]) -> list[str]:
    if new.keys is None:
        return list(current)
    return [key.value for key in new.keys if key.kind == kind]


def _plate_windows(new: UserInput, user: User) -> dict[str, PlateWindow]:
    if new.keys is None:
        return dict(user.plate_windows)
    return {
        key.value: (key.valid_from, key.valid_until)
        for key in new.keys
        if key.kind == "plate" and (key.valid_from or key.valid_until)
    }


def _merge_user(user: User, new: UserInput) -> User:
    return replace(
        user,
        first_name=user.first_name if new.first_name is None else new.first_name,
        last_name=user.last_name if new.last_name is None else new.last_name,
        other_name=user.other_name if new.other_name is None else new.other_name,
        admin_level=new.admin_level or user.admin_level,
        departments=list(user.departments if new.departments is None else new.departments),
        groups=list(user.groups if new.groups is None else new.groups),
        active=user.active if new.active is None else new.active,
        expiry=user.expiry if new.expiry is None else new.expiry or None,
        message=user.message if new.message is None else new.message,
        cards=_cards(user.cards, new),
        qr_codes=_key_values(new, "qr", user.qr_codes),
        plates=_key_values(new, "plate", user.plates),
        plate_windows=_plate_windows(new, user),
        pin=new.pin or None,  # None keeps the stored PIN while has_pin is set
        has_pin=user.has_pin and new.pin != "",
        lockdown_override=(
            user.lockdown_override if new.lockdown_override is None else new.lockdown_override
        ),
        schedule_activation=(
            user.schedule_activation if new.schedule_activation is None else new.schedule_activation
        ),
        floors=list(user.floors if new.floors is None else new.floors),
        web_relay_urls=list(
            user.web_relay_urls if new.web_relay_urls is None else new.web_relay_urls
        ),
    )


def _merge_profile(profile: UserProfile, new: UserInput) -> UserProfile:
    keys = new.keys
    fingerprints = profile.fingerprints if new.fingerprints is None else new.fingerprints or None
    return UserProfile(
        flags={**profile.flags, **new.flags},
        fingerprints=fingerprints,
        facial_records=profile.facial_records if new.faces is None else new.faces,
        score_threshold=profile.score_threshold if new.score is None else new.score,
        key_ids=profile.key_ids if keys is None else {(k.kind, k.value): k.key_id for k in keys},
        enabled={} if keys is None else {(k.kind, k.value): k.enabled for k in keys},
    )


def new_record(user_id: str, active: bool = True) -> UserRecord:
    """What an added user starts from: the store's defaults (groups and departments [0])."""
    return User(user_id=user_id, active=active), UserProfile()


def merge(existing: UserRecord | None, new: UserInput) -> UserRecord:
    """`new` laid over `existing` (or a fresh user): fields left out keep their value."""
    user, profile = existing or new_record(new.user_id)
    return _merge_user(user, new), _merge_profile(profile, new)


# -- showing a user -------------------------------------------------------------------------


def _status_out(user: User, profile: UserProfile) -> dict[str, bool]:
    derived = {
        "active": user.active,
        "autoMatch": False,
        "smartCard": bool(user.cards),
        "fingerprint": profile.fingerprints is not None,
        "password": user.has_pin,
        "facial": bool(profile.facial_records),
        "facialAutoMatch": False,
    }
    return derived | {k: v for k, v in profile.flags.items() if k in STATUS_FLAGS}


def _key_out(kind: str, value: str, profile: UserProfile) -> dict[str, Any]:
    key: CredentialKey = (kind, value)
    return {
        "keytype": KEY_TYPE_OF[kind],
        "keystring": value,
        "keyid": profile.key_ids.get(key, f"{kind}:{value}"),
        "keyenabled": profile.enabled.get(key, True),
    }


def _plate_out(plate: str, user: User, profile: UserProfile) -> dict[str, Any]:
    key = _key_out("plate", plate, profile)
    start, end = user.plate_windows.get(plate, (None, None))
    if start is not None:
        key["validfrom"] = start
    if end is not None:
        key["validuntil"] = end
    return key


def render_user(record: UserRecord, admin_level: str | None = None) -> dict[str, Any]:
    """A stored user in the getUsers structure; never a PIN, never a secret."""
    user, profile = record
    keys = [_key_out("card", card, profile) for card in user.cards[1:]]
    keys += [_key_out("qr", code, profile) for code in user.qr_codes]
    keys += [_plate_out(plate, user, profile) for plate in user.plates]
    body: dict[str, Any] = {
        "userID": user.user_id,
        "lastName": user.last_name,
        "firstName": user.first_name,
        "otherName": user.other_name,
        "adminLevel": admin_level or user.admin_level,
        "groupID": list(user.groups),
        "departmentID": list(user.departments),
        "status": _status_out(user, profile),
        "keyrecords": keys,
        "facialrecords": [dict(face) for face in profile.facial_records],
        "ScoreThreshold": profile.score_threshold,
        "expirydate": user.expiry or 0,
        "message": user.message,
        "lockdownOverride": user.lockdown_override,
        "scheduleActivation": user.schedule_activation,
        "floorNo": list(user.floors),
        "webRelayURLs": list(user.web_relay_urls),  # read back masked by the store
    }
    if profile.fingerprints is not None:
        body["fingerprints"] = profile.fingerprints
    if user.cards:
        body["cardsn"] = user.cards[0]
    return body
