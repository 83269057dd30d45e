"""Users import/export as CSV or XML (chosen by the file extension).

The columns (CSV) and elements (XML) are documented in docs/import-export.md. An import
checks every row first and reports each bad one as `path:line N: field: message`; then
it writes all users in one transaction, so a file is imported completely or not at all.
An export carries each PIN as its keyed hash: re-importing it into the same device (same
device key) is lossless, and export -> import -> export gives an identical file.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from gateway.atomicfile import write_atomically
from gateway.model import ADMIN_LEVELS, AdminLevel, User
from gateway.store.errors import StoreError, ValidationError
from gateway.store.records import CredentialFlags, ExportedUser
from gateway.store.users import UserStore
from gateway.store.validate import LIST_SEPARATOR, canonical_card, check_pin_hash, validate_user

# Column order of a CSV export; the same names (singular for repeated ones) in XML.
CSV_COLUMNS: tuple[str, ...] = (
    "user_id",
    "first_name",
    "last_name",
    "other_name",
    "active",
    "expiry",
    "admin_level",
    "departments",
    "groups",
    "doors",
    "message",
    "cards",
    "qr_codes",
    "plates",
    "pin",
    "pin_hash",
    # Last, so that tools reading older exports by position still find every column.
    "disabled_cards",
    "disabled_qr_codes",
    "disabled_plates",
    "pin_enabled",
)
LIST_FIELDS: dict[str, str] = {
    "departments": "department",
    "groups": "group",
    "doors": "door",
    "cards": "card",
    "qr_codes": "qr_code",
    "plates": "plate",
    "disabled_cards": "disabled_card",
    "disabled_qr_codes": "disabled_qr_code",
    "disabled_plates": "disabled_plate",
}
# A row with none of these (a file from before they existed) keeps the stored flags.
FLAG_FIELDS: tuple[str, ...] = (
    "disabled_cards",
    "disabled_qr_codes",
    "disabled_plates",
    "pin_enabled",
)
# Which credential list each disabled_* list must be a part of, and its name in messages.
_DISABLED_OF: dict[str, tuple[str, str]] = {
    "disabled_cards": ("cards", "cards"),
    "disabled_qr_codes": ("qr_codes", "QR codes"),
    "disabled_plates": ("plates", "plates"),
}
_XML_LIST_ELEMENTS = {element: name for name, element in LIST_FIELDS.items()}
_XML_EXPORTED = tuple(c for c in CSV_COLUMNS if c != "pin")  # never a clear PIN out
_TRIMMED = frozenset({"active", "expiry", "admin_level", "pin", "pin_hash", "pin_enabled"})
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}
# Spreadsheets run a cell starting with one of these as a formula (CSV injection): an
# export prefixes such a cell with "'" and an import removes it. Cells already starting
# with "'"s before such a character get one more, so the mapping stays reversible.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class RowError:
    """One problem in an import file; `line` 0 means the file as a whole."""

    line: int
    field: str
    message: str


class ImportFileError(StoreError):
    """An import file was refused; nothing was imported. `errors` lists every problem."""

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(self._describe())

    def _describe(self) -> str:
        lines = [_format_error(self.path, error) for error in self.errors[:MAX_REPORTED_ERRORS]]
        if len(self.errors) > MAX_REPORTED_ERRORS:
            lines.append(f"{self.path}: ... and {len(self.errors) - MAX_REPORTED_ERRORS} more")
        return "\n".join(lines)


def _format_error(path: Path, error: RowError) -> str:
    where = f"{path}:line {error.line}" if error.line else f"{path}"
    if error.field:
        return f"{where}: {error.field}: {error.message}"
    return f"{where}: {error.message}"


@dataclass
class RawUser:
    """One user as read from a file, before conversion: the line it starts on, the
    single-valued fields that were present, the repeated ones, and (XML) the line of each
    field's element so an error can point at it."""

    line: int
    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, name: str) -> int:
        """The line to report for a problem with field `name`."""
        return self.field_lines.get(name, self.line)


# -- entry points ----------------------------------------------------------------------


def import_users_file(store: UserStore, path: Path, replace: bool = False) -> int:
    """Import users from a .csv or .xml file, all or nothing; return how many.

    Existing users with the same id are replaced; `replace=True` also deletes every user
    the file does not list. Raises `ImportFileError` (nothing imported) on any problem.
    """
    reader = _reader_for(path)
    try:
        raws = reader(path)
    except OSError as exc:
        raise ImportFileError(path, [RowError(0, "", f"cannot read the file: {exc}")]) from exc
    users, hashes, flags = _convert_all(path, raws)
    try:
        return store.import_users(users, replace=replace, pin_hashes=hashes, flags=flags)
    except ValidationError as exc:
        line = raws[exc.index].line_of(exc.field) if exc.index is not None else 0
        raise ImportFileError(path, [RowError(line, exc.field, exc.message)]) from exc


def export_users_file(store: UserStore, path: Path) -> int:
    """Write every user to a .csv or .xml file (replacing it atomically); return how many."""
    writer = _writer_for(path)
    rows = store.users_for_export()
    # Private (PIN hashes), and never a truncated file where a good one was.
    write_atomically(path, writer(rows), 0o600)
    return len(rows)


def _reader_for(path: Path) -> Callable[[Path], list[RawUser]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv
    if suffix == ".xml":
        return read_xml
    raise ImportFileError(
        path, [RowError(0, "", f"unknown file type {suffix or '(none)'!r}; use .csv or .xml")]
    )


def _writer_for(path: Path) -> Callable[[list[ExportedUser]], bytes]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return render_csv
    if suffix == ".xml":
        return render_xml
    raise ImportFileError(
        path, [RowError(0, "", f"unknown file type {suffix or '(none)'!r}; use .csv or .xml")]
    )


# -- conversion between files and User ----------------------------------------------------


def _convert_all(
    path: Path, raws: list[RawUser]
) -> tuple[list[User], dict[str, str], dict[str, CredentialFlags]]:
    users: list[User] = []
    hashes: dict[str, str] = {}
    all_flags: dict[str, CredentialFlags] = {}
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for raw in raws:
        try:
            user, pin_hash, flags = raw_to_user(raw)
        except ValidationError as exc:
            errors.append(RowError(raw.line_of(exc.field), exc.field, exc.message))
            continue
        if user.user_id in first_line:
            message = f"user {user.user_id} is already on line {first_line[user.user_id]}"
            errors.append(RowError(raw.line_of("user_id"), "user_id", message))
            continue
        first_line[user.user_id] = raw.line
        users.append(user)
        if pin_hash is not None:
            hashes[user.user_id] = pin_hash
        if flags is not None:
            all_flags[user.user_id] = flags
    if errors:
        raise ImportFileError(path, errors)
    return users, hashes, all_flags


def raw_to_user(raw: RawUser) -> tuple[User, str | None, CredentialFlags | None]:
    """Turn a file row into a checked `User`, its exported PIN hash and its credentials'
    flags; `ValidationError` if bad.

    Absent fields take their defaults (groups and departments: [0]); absent `pin` and
    `pin_hash` keep the PIN an existing user already has; a row with none of the flag
    fields (None) keeps the flags an existing user's credentials have.
    """
    # Codes typed into a spreadsheet often carry stray spaces; names keep theirs.
    values = {k: v.strip() if k in _TRIMMED else v for k, v in raw.values.items()}
    user_id = values.get("user_id", "")
    if not user_id:
        raise ValidationError("user_id", "is required")
    pin, pin_hash, has_pin = _pin_fields(values)
    user = User(
        user_id=user_id,
        first_name=values.get("first_name", ""),
        last_name=values.get("last_name", ""),
        other_name=values.get("other_name", ""),
        active=_parse_bool("active", values.get("active", "")),
        expiry=values.get("expiry") or None,
        admin_level=_parse_level(values.get("admin_level", "")),
        departments=_parse_ids("departments", raw.lists.get("departments", [])),
        groups=_parse_ids("groups", raw.lists.get("groups", [])),
        doors=raw.lists.get("doors", []),
        message=values.get("message", ""),
        cards=raw.lists.get("cards", []),
        qr_codes=raw.lists.get("qr_codes", []),
        plates=raw.lists.get("plates", []),
        pin=pin,
        has_pin=has_pin,
    )
    clean = validate_user(user)
    return clean, pin_hash, _flags(raw, values, clean)


def _flags(raw: RawUser, values: dict[str, str], user: User) -> CredentialFlags | None:
    if not any(name in raw.values or name in raw.lists for name in FLAG_FIELDS):
        return None  # a file from before the flags: what is stored stays
    pin_enabled = _parse_bool("pin_enabled", values.get("pin_enabled", ""))
    if not pin_enabled and user.pin is None and not user.has_pin:
        raise ValidationError("pin_enabled", "false, but this user has no PIN")
    disabled = {name: _disabled(name, raw.lists.get(name, []), user) for name in _DISABLED_OF}
    return CredentialFlags(
        disabled_cards=disabled["disabled_cards"],
        disabled_qr_codes=disabled["disabled_qr_codes"],
        disabled_plates=disabled["disabled_plates"],
        pin_enabled=pin_enabled,
    )


def _disabled(name: str, items: list[str], user: User) -> frozenset[str]:
    """The values of list `name`, each one of the user's credentials of its kind."""
    owned_field, label = _DISABLED_OF[name]
    owned: list[str] = getattr(user, owned_field)
    found: list[str] = []
    for item in items:
        value = _as_card(item) if owned_field == "cards" else item
        if value not in owned:
            raise ValidationError(name, f"{item!r} is not one of this user's {label}")
        if value in found:
            raise ValidationError(name, f"{value!r} is listed twice")
        found.append(value)
    return frozenset(found)


def _as_card(text: str) -> str:
    # A card is matched in canonical form; one that has none matches no card of the user.
    try:
        return canonical_card(text)
    except ValidationError:
        return text


def _pin_fields(values: dict[str, str]) -> tuple[str | None, str | None, bool]:
    # A clear PIN typed into the file wins over the exported hash beside it.
    pin = values.get("pin") or None
    if pin is not None:
        return pin, None, True
    pin_hash = values.get("pin_hash") or None
    if pin_hash is not None:
        check_pin_hash(pin_hash)
        return None, pin_hash, True
    # Neither field in the file: keep the stored PIN. Present but empty: no PIN.
    keep = "pin" not in values and "pin_hash" not in values
    return None, None, keep


def _parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value == "" or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(name, f"{text!r} is not true or false")


def _parse_level(text: str) -> AdminLevel:
    value = text.strip().upper() or "PERSONALUSER"
    for level in ADMIN_LEVELS:
        if level == value:
            return level
    raise ValidationError("admin_level", f"{text!r} is not one of {', '.join(ADMIN_LEVELS)}")


def _parse_ids(name: str, items: list[str]) -> list[int]:
    if not items:
        return [0]
    ids = []
    for item in items:
        if not item.isascii() or not item.isdigit():
            raise ValidationError(name, f"{item!r} is not a number")
        ids.append(int(item))
    return ids


def user_to_fields(row: ExportedUser) -> dict[str, str | list[str]]:
    """A user as file fields, in `CSV_COLUMNS` order; the clear `pin` is always empty."""
    user, pin_hash, flags = row.user, row.pin_hash, row.flags
    return {
        "user_id": user.user_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "other_name": user.other_name,
        "active": "true" if user.active else "false",
        "expiry": user.expiry or "",
        "admin_level": user.admin_level,
        "departments": [str(d) for d in user.departments],
        "groups": [str(g) for g in user.groups],
        "doors": list(user.doors),
        "message": user.message,
        "cards": list(user.cards),
        "qr_codes": list(user.qr_codes),
        "plates": list(user.plates),
        "pin": "",
        "pin_hash": pin_hash or "",
        "disabled_cards": [c for c in user.cards if c in flags.disabled_cards],
        "disabled_qr_codes": [q for q in user.qr_codes if q in flags.disabled_qr_codes],
        "disabled_plates": [p for p in user.plates if p in flags.disabled_plates],
        "pin_enabled": "" if pin_hash is None else "true" if flags.pin_enabled else "false",
    }


# -- CSV --------------------------------------------------------------------------------


def render_csv(rows: list[ExportedUser]) -> bytes:
    """The CSV export: a header row, then one row per user (UTF-8 with BOM for Excel)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        fields = user_to_fields(row)
        writer.writerow([_csv_cell(fields[column]) for column in CSV_COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def _csv_cell(value: str | list[str]) -> str:
    text = value if isinstance(value, str) else LIST_SEPARATOR.join(value)
    return "'" + text if _FORMULA.match(text) else text


def _csv_uncell(text: str) -> str:
    return text[1:] if _FORMULA.match(text) and text.startswith("'") else text


def read_csv(path: Path) -> list[RawUser]:
    """Parse a CSV users file (header row required); `ImportFileError` on structure errors."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            return _parse_csv(path, handle)
        except csv.Error as exc:
            raise ImportFileError(path, [RowError(0, "", f"not a valid CSV file: {exc}")]) from exc
        except UnicodeDecodeError as exc:
            raise ImportFileError(path, [RowError(0, "", f"not UTF-8 text: {exc}")]) from exc


def _parse_csv(path: Path, handle: Iterable[str]) -> list[RawUser]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise ImportFileError(path, [RowError(1, "", "the file is empty: no header row")])
    columns = _check_header(path, header)
    raws: list[RawUser] = []
    previous_end = reader.line_num
    for record in reader:
        # A quoted cell may span lines: a record starts just after the previous one ended.
        line, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(columns):
            message = f"has {len(record)} cells but the header has {len(columns)} columns"
            raise ImportFileError(path, [RowError(line, "", message)])
        raws.append(_csv_record(line, columns, record))
    return raws


def _check_header(path: Path, header: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    problems = [
        RowError(1, name, f"unknown column (known: {', '.join(CSV_COLUMNS)})")
        for name in columns
        if name not in CSV_COLUMNS
    ]
    problems += [
        RowError(1, name, "column appears twice")
        for i, name in enumerate(columns)
        if name in columns[:i]
    ]
    if "user_id" not in columns:
        problems.append(RowError(1, "user_id", "required column is missing"))
    if problems:
        raise ImportFileError(path, problems)
    return columns


def _csv_record(line: int, columns: list[str], record: list[str]) -> RawUser:
    raw = RawUser(line)
    # Spreadsheets drop trailing empty cells: a short row has empty values at its end.
    for name, cell in zip(columns, record + [""] * (len(columns) - len(record)), strict=True):
        text = _csv_uncell(cell)
        if name in LIST_FIELDS:
            raw.lists[name] = [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]
        else:
            raw.values[name] = text
    return raw


# -- XML --------------------------------------------------------------------------------


def render_xml(rows: list[ExportedUser]) -> bytes:
    """The XML export: <users><user><user_id>..</user_id><card>..</card>...</user></users>."""
    root = ET.Element("users")
    for row in rows:
        element = ET.SubElement(root, "user")
        fields = user_to_fields(row)
        for name in _XML_EXPORTED:
            value = fields[name]
            if isinstance(value, str):
                ET.SubElement(element, name).text = value
            else:
                for item in value:
                    ET.SubElement(element, LIST_FIELDS[name]).text = item
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class _Node:
    tag: str
    line: int
    text: list[str] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)


def read_xml(path: Path) -> list[RawUser]:
    """Parse an XML users file; DTDs and entities are refused (no entity expansion at all)."""
    try:
        root = _parse_xml_tree(path)
    except _Refused as exc:
        raise ImportFileError(path, [RowError(exc.line, "", exc.message)]) from None
    except expat.ExpatError as exc:
        message = f"not well-formed XML: {expat.ErrorString(exc.code)}"
        raise ImportFileError(path, [RowError(exc.lineno, "", message)]) from None
    if root.tag != "users":
        raise ImportFileError(path, [RowError(root.line, "", "the root element must be <users>")])
    raws: list[RawUser] = []
    errors: list[RowError] = []
    for node in root.children:
        try:
            raws.append(_xml_user(node))
        except _Refused as exc:
            errors.append(RowError(exc.line, "", exc.message))
    if errors:
        raise ImportFileError(path, errors)
    return raws


def _parse_xml_tree(path: Path) -> _Node:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    done: list[_Node] = []

    def refuse(*_: object) -> None:
        # A DTD is where entity bombs and external entities come from: users files
        # never need one, so refuse it outright.
        raise _Refused(parser.CurrentLineNumber, "DTDs and entity declarations are not allowed")

    def start(tag: str, _attrs: dict[str, str]) -> None:
        node = _Node(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        done.append(stack.pop())

    def text(data: str) -> None:
        if stack:
            stack[-1].text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    with path.open("rb") as handle:
        parser.ParseFile(handle)
    return done[-1]


def _xml_user(node: _Node) -> RawUser:
    if node.tag != "user":
        raise _Refused(node.line, f"unexpected <{node.tag}>; <users> holds only <user> elements")
    raw = RawUser(node.line)
    for child in node.children:
        if child.children:
            raise _Refused(child.line, f"<{child.tag}> must contain text only")
        value = "".join(child.text)
        if child.tag in _XML_LIST_ELEMENTS:
            name = _XML_LIST_ELEMENTS[child.tag]
            item = value.strip()
            if item:
                raw.lists.setdefault(name, []).append(item)
        elif child.tag in CSV_COLUMNS and child.tag not in LIST_FIELDS:
            name = child.tag
            if name in raw.values:
                raise _Refused(child.line, f"<{name}> appears twice in this user")
            raw.values[name] = value
        else:
            raise _Refused(child.line, f"unknown element <{child.tag}>")
        # The first element of a field is where a problem with it is reported.
        raw.field_lines.setdefault(name, child.line)
    return raw
