"""Users import/export as CSV or XML (chosen by the file extension).

The columns (CSV) and elements (XML) are documented in docs/import-export.md. An import
reads the file as a stream, checks and writes it in batches inside one transaction, so a
file is imported completely or not at all and memory does not grow with the file; it
reports each bad row as `path:line N: field: message`.
An export carries each PIN as its keyed hash: re-importing it into the same device (same
device key) is lossless, and export -> import -> export gives an identical file. A web
relay URL's password or token is exported masked (`****`): imported into the same device
the masked URL keeps the stored one; anywhere else it is refused (give the URL in full).
"""

from __future__ import annotations

import csv
import gc
import io
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from xml.parsers import expat

from gateway.atomicfile import write_atomically
from gateway.model import ADMIN_LEVELS, AdminLevel, PlateWindow, User
from gateway.store.errors import StoreError, ValidationError
from gateway.store.records import CredentialFlags, ExportedUser
from gateway.store.users import ImportRow, UserImport, UserStore
from gateway.store.validate import (
    LIST_SEPARATOR,
    canonical_card,
    check_pin_hash,
    check_user,
    normalise_plate_windows,
)

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
    "plate_windows",
    "schedule_activation",
    # Elevator floors and web relay URLs (docs/floors.md, docs/web-relay.md).
    "floors",
    "web_relay_urls",
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
    "plate_windows": "plate_window",
    "floors": "floor",
    "web_relay_urls": "web_relay_url",
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
_FLAG_FIELDS = frozenset(FLAG_FIELDS)
_LEVELS: dict[str, AdminLevel] = {level: level for level in ADMIN_LEVELS}
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

    def __init__(self, path: Path, errors: list[RowError], more: int = 0) -> None:
        self.path = path
        self.errors = errors
        self.more = more  # problems found beyond those listed in `errors`
        super().__init__(self._describe())

    def _describe(self) -> str:
        lines = [_format_error(self.path, error) for error in self.errors[:MAX_REPORTED_ERRORS]]
        hidden = len(self.errors) + self.more - MAX_REPORTED_ERRORS
        if hidden > 0:
            lines.append(f"{self.path}: ... and {hidden} more")
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

# Rows validated and written per step: memory is bounded by one batch, not by the file.
BATCH_SIZE = 5_000
# What a reader yields: a user, or a problem with one element that does not stop the reading.
FileItem = RawUser | RowError
# Told after each batch: bytes of the file read so far, and users read so far.
Progress = Callable[[int, int], None]


def import_users_file(
    store: UserStore,
    path: Path,
    replace: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Import users from a .csv or .xml file, all or nothing; return how many.

    The file is read and written in batches of `batch_size` rows inside one transaction,
    so memory does not grow with the file and a refused row anywhere leaves nothing stored.
    Existing users with the same id are replaced; `replace=True` also deletes every user
    the file does not list. Raises `ImportFileError` (nothing imported) on any problem.
    """
    reader = _reader_for(path)
    try:
        with (
            _collector_paused(),
            _threads_switch_often(),
            path.open("rb") as handle,
            store.importing(replace) as session,
            _ImportBatches(path, session, batch_size) as batches,
        ):
            for item in reader(path, handle):
                if batches.add(item) and progress is not None:
                    progress(handle.tell(), batches.count)
            return batches.finish()
    except OSError as exc:
        raise ImportFileError(path, [RowError(0, "", f"cannot read the file: {exc}")]) from exc


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the import, as it was afterwards.

    An import makes millions of short-lived containers (rows, users, tuples for SQLite)
    and no reference cycles; the collector would scan each batch's objects again and
    again, about 15% of the import's CPU. Memory stays bounded: everything a batch makes
    is freed by reference counting when the batch is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# A row's line in the file and the lines of its fields (`RawUser.line`, `.field_lines`).
_RowLines = tuple[int, dict[str, int]]
# Python's thread switch interval during an import (its default is 5 ms): see below.
_IMPORT_SWITCH_INTERVAL = 0.000_5


@contextmanager
def _threads_switch_often() -> Iterator[None]:
    """A shorter thread switch interval for the import, the usual one afterwards.

    The writer thread comes back from each SQLite statement (which runs without Python's
    lock) needing the lock for a moment; with the default interval it waits up to 5 ms for
    the reading thread to let go of it, several times per batch. The interval is the
    whole process's: `users import` runs in a process of its own.
    """
    usual = sys.getswitchinterval()
    sys.setswitchinterval(_IMPORT_SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(usual)


class _ImportBatches:
    """Checks rows as they come and writes them a batch at a time. After the first bad row
    nothing more is written (the transaction will be rolled back) but every row is still
    checked, so that one run reports every problem in the file.

    A batch is written on a thread of its own while this one reads, checks and prepares
    the next (SQLite lets go of Python's lock while a statement runs, so the two use two
    cores). At most one batch is in flight: the next waits for it, and so does leaving the
    `with` block, so the transaction is only ever ended with no write running. The outcome
    is that of writing each batch before reading on: a batch the database refuses is the
    import's one error, reported before any problem found in the rows after it.
    """

    def __init__(self, path: Path, session: UserImport, batch_size: int) -> None:
        self._path = path
        self._session = session
        self._batch_size = batch_size
        # Where each row of the batch is in the file (its line, and its fields' lines in
        # XML), to report a refused row: not the whole `RawUser`, which is done with.
        self._lines: list[_RowLines] = []
        self._rows: list[ImportRow] = []
        self._errors: list[RowError] = []
        self._more_errors = 0
        # The only thing kept per row: the line each user id was first seen on.
        self._first_line: dict[str, int] = {}
        self.count = 0
        # The import's connection can be used from any thread (LockedConnection); the
        # import's transaction holds its lock, and only the writer uses it meanwhile.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self._in_flight: tuple[Future[None], list[_RowLines]] | None = None

    def __enter__(self) -> _ImportBatches:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if isinstance(exc, Exception):
                # The batch in flight came first in the file: its refusal is the error
                # writing batch by batch would have stopped at.
                self._wait_for_write()
            elif self._in_flight is not None:
                wait([self._in_flight[0]])  # interrupted: let the statement end, then undo
        finally:
            self._writer.shutdown(wait=True)

    def add(self, item: FileItem) -> bool:
        """Take one item from the file; True when a batch of rows has been handled."""
        if isinstance(item, RowError):
            self._error(item)
        else:
            self._add_raw(item)
        self.count += 1
        return self.count % self._batch_size == 0

    def finish(self) -> int:
        """Write the last batch; `ImportFileError` if any row was bad. How many users."""
        if not self._errors:
            self._flush()
        self._wait_for_write()
        if self._errors:
            raise ImportFileError(self._path, self._errors, self._more_errors)
        return len(self._first_line)

    def _add_raw(self, raw: RawUser) -> None:
        try:
            user, pin_hash, flags = raw_to_user(raw)
        except ValidationError as exc:
            self._error(RowError(raw.line_of(exc.field), exc.field, exc.message))
            return
        first = self._first_line.get(user.user_id)
        if first is not None:
            message = f"user {user.user_id} is already on line {first}"
            self._error(RowError(raw.line_of("user_id"), "user_id", message))
            return
        self._first_line[user.user_id] = raw.line
        if self._errors:
            return  # the file is refused already: check the rest, write nothing
        self._lines.append((raw.line, raw.field_lines))
        self._rows.append(ImportRow(user, pin_hash, flags))
        if len(self._rows) >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        """Prepare the batch read, then hand it to the writer once the one before is in."""
        if not self._rows:
            return
        try:
            prepared = self._session.prepare(self._rows)
        except ValidationError as exc:
            self._wait_for_write()
            raise self._refused(exc, self._lines) from exc
        self._wait_for_write()
        future = self._writer.submit(self._session.write_prepared, prepared)
        self._in_flight = (future, self._lines)
        self._rows, self._lines = [], []

    def _wait_for_write(self) -> None:
        """Wait for the batch in flight; `ImportFileError` naming the line if refused."""
        if self._in_flight is None:
            return
        future, lines = self._in_flight
        self._in_flight = None
        try:
            future.result()
        except ValidationError as exc:
            raise self._refused(exc, lines) from exc

    def _refused(self, exc: ValidationError, lines: list[_RowLines]) -> ImportFileError:
        line = 0
        if exc.index is not None:
            first, field_lines = lines[exc.index]
            line = field_lines.get(exc.field, first)
        return ImportFileError(self._path, [RowError(line, exc.field, exc.message)])

    def _error(self, error: RowError) -> None:
        if not self._errors:
            # The rows before this one come first: a batch of them refused is the error.
            self._wait_for_write()
        # A garbage file may have a problem on every line: keep only what is reported.
        if len(self._errors) < MAX_REPORTED_ERRORS:
            self._errors.append(error)
        else:
            self._more_errors += 1


def export_users_file(store: UserStore, path: Path) -> int:
    """Write every user to a .csv or .xml file (replacing it atomically); return how many."""
    writer = _writer_for(path)
    rows = store.users_for_export()
    # Private (PIN hashes), and never a truncated file where a good one was.
    write_atomically(path, writer(rows), 0o600)
    return len(rows)


def _reader_for(path: Path) -> Callable[[Path, BinaryIO], Iterator[FileItem]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return iter_csv
    if suffix == ".xml":
        return iter_xml
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


def raw_to_user(raw: RawUser) -> tuple[User, str | None, CredentialFlags | None]:
    """Turn a file row into a checked `User`, its exported PIN hash and its credentials'
    flags; `ValidationError` if bad.

    Absent fields take their defaults (groups and departments: [0]); absent `pin` and
    `pin_hash` keep the PIN an existing user already has; a row with none of the flag
    fields (None) keeps the flags an existing user's credentials have. The `User` is
    built once and checked in place (it shares the row's lists).
    """
    values, lists = raw.values, raw.lists
    user_id = values.get("user_id", "")
    if not user_id:
        raise ValidationError("user_id", "is required")
    pin, pin_hash, has_pin = _pin_fields(values)
    # Codes typed into a spreadsheet often carry stray spaces; names keep theirs.
    user = User(
        user_id=user_id,
        first_name=values.get("first_name", ""),
        last_name=values.get("last_name", ""),
        other_name=values.get("other_name", ""),
        active=_parse_bool("active", values.get("active", "").strip()),
        schedule_activation=_parse_bool(
            "schedule_activation", values.get("schedule_activation", "").strip()
        ),
        expiry=values.get("expiry", "").strip() or None,
        admin_level=_parse_level(values.get("admin_level", "").strip()),
        departments=_parse_ids("departments", lists.get("departments")),
        groups=_parse_ids("groups", lists.get("groups")),
        doors=lists.get("doors", []),
        message=values.get("message", ""),
        cards=lists.get("cards", []),
        qr_codes=lists.get("qr_codes", []),
        plates=lists.get("plates", []),
        pin=pin,
        has_pin=has_pin,
        floors=lists.get("floors", []),
        web_relay_urls=lists.get("web_relay_urls", []),
    )
    user.cards, user.expiry = check_user(user)
    user.plate_windows = _parse_windows(lists.get("plate_windows", []))
    user.plate_windows = normalise_plate_windows(user)
    return user, pin_hash, _flags(raw, user)


def _parse_windows(items: list[str]) -> dict[str, PlateWindow]:
    """`PLATE/FROM/UNTIL` items (either time may be empty) as plate -> window. A plate may
    hold a '/': the times never do, so the last two separate them."""
    windows: dict[str, PlateWindow] = {}
    for item in items:
        parts = item.rsplit("/", 2)
        if len(parts) != 3 or not parts[0]:
            raise ValidationError(
                "plate_windows", f"{item!r} is not PLATE/FROM/UNTIL (either time may be empty)"
            )
        plate, start, end = parts
        if plate in windows:
            raise ValidationError("plate_windows", f"{plate!r} has two windows")
        windows[plate] = (start.strip() or None, end.strip() or None)
    return windows


def window_item(plate: str, window: PlateWindow) -> str:
    """A plate's window as a `plate_windows` item: `PLATE/FROM/UNTIL`."""
    start, end = window
    return f"{plate}/{start or ''}/{end or ''}"


def _flags(raw: RawUser, user: User) -> CredentialFlags | None:
    if _FLAG_FIELDS.isdisjoint(raw.values) and _FLAG_FIELDS.isdisjoint(raw.lists):
        return None  # a file from before the flags: what is stored stays
    pin_enabled = _parse_bool("pin_enabled", raw.values.get("pin_enabled", "").strip())
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
    pin = values.get("pin", "").strip() or None
    if pin is not None:
        return pin, None, True
    pin_hash = values.get("pin_hash", "").strip() or None
    if pin_hash is not None:
        check_pin_hash(pin_hash)
        return None, pin_hash, True
    # Neither field in the file: keep the stored PIN. Present but empty: no PIN.
    keep = "pin" not in values and "pin_hash" not in values
    return None, None, keep


def _parse_bool(name: str, text: str) -> bool:
    value = text.lower()
    if value == "" or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(name, f"{text!r} is not true or false")


def _parse_level(text: str) -> AdminLevel:
    level = _LEVELS.get(text.upper() or "PERSONALUSER")
    if level is None:
        raise ValidationError("admin_level", f"{text!r} is not one of {', '.join(ADMIN_LEVELS)}")
    return level


def _parse_ids(name: str, items: list[str] | None) -> list[int]:
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
        "plate_windows": [window_item(p, w) for p, w in user.plate_windows.items()],
        "schedule_activation": "true" if user.schedule_activation else "false",
        "floors": list(user.floors),
        "web_relay_urls": list(user.web_relay_urls),  # masked as the store reads them back
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
    # Only a cell starting with "'" was escaped (the cheap test first: it is every cell).
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def read_csv(path: Path) -> list[RawUser]:
    """Parse a whole CSV users file; `ImportFileError` on any problem in its structure."""
    with path.open("rb") as handle:
        return _collect(path, iter_csv(path, handle))


def iter_csv(path: Path, handle: BinaryIO) -> Iterator[FileItem]:
    """The users of a CSV file (header row required), one at a time, as they are read;
    `ImportFileError` on a problem with the file's structure."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        yield from _parse_csv(path, text)
    except csv.Error as exc:
        raise ImportFileError(path, [RowError(0, "", f"not a valid CSV file: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(path, [RowError(0, "", f"not UTF-8 text: {exc}")]) from exc
    finally:
        text.detach()  # the caller owns the file


def _collect(path: Path, items: Iterable[FileItem]) -> list[RawUser]:
    raws: list[RawUser] = []
    errors: list[RowError] = []
    for item in items:
        if isinstance(item, RowError):
            errors.append(item)
        else:
            raws.append(item)
    if errors:
        raise ImportFileError(path, errors)
    return raws


def _parse_csv(path: Path, handle: Iterable[str]) -> Iterator[RawUser]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise ImportFileError(path, [RowError(1, "", "the file is empty: no header row")])
    columns = _check_header(path, header)
    listed = [name in LIST_FIELDS for name in columns]
    previous_end = reader.line_num
    for record in reader:
        # A quoted cell may span lines: a record starts just after the previous one ended.
        line, previous_end = previous_end + 1, reader.line_num
        if not "".join(record).strip():
            continue  # a blank row (every cell empty or spaces)
        if len(record) > len(columns):
            message = f"has {len(record)} cells but the header has {len(columns)} columns"
            raise ImportFileError(path, [RowError(line, "", message)])
        yield _csv_record(line, columns, listed, record)


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


def _csv_record(line: int, columns: list[str], listed: list[bool], record: list[str]) -> RawUser:
    """One record as a `RawUser`; `listed[i]` tells whether column i is a list field."""
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    if len(record) < len(columns):
        # Spreadsheets drop trailing empty cells: a short row has empty values at its end.
        record = record + [""] * (len(columns) - len(record))
    for name, is_list, cell in zip(columns, listed, record, strict=True):
        if cell.startswith("'"):
            cell = _csv_uncell(cell)
        if not is_list:
            values[name] = cell
        elif cell:
            lists[name] = [item for item in map(str.strip, cell.split(LIST_SEPARATOR)) if item]
        else:
            lists[name] = []
    return RawUser(line, values, lists)


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


# Bytes handed to the XML parser at a time.
_XML_CHUNK = 64 * 1024


def read_xml(path: Path) -> list[RawUser]:
    """Parse a whole XML users file; `ImportFileError` on any problem in its structure."""
    with path.open("rb") as handle:
        return _collect(path, iter_xml(path, handle))


def iter_xml(path: Path, handle: BinaryIO) -> Iterator[FileItem]:
    """The users of an XML file, one at a time, as they are read. DTDs and entities are
    refused (no entity expansion at all); `ImportFileError` if the file is not a users file.

    Expat is fed the file a chunk at a time and each <user> is dropped once handed on,
    so memory does not grow with the file. (ElementTree's iterparse cannot refuse a DTD.)
    """
    parser, finished = _xml_user_parser()
    try:
        while chunk := handle.read(_XML_CHUNK):
            parser.Parse(chunk, False)
            yield from _xml_users(finished)
        parser.Parse(b"", True)
        yield from _xml_users(finished)
    except _Refused as exc:
        raise ImportFileError(path, [RowError(exc.line, "", exc.message)]) from None
    except expat.ExpatError as exc:
        message = f"not well-formed XML: {expat.ErrorString(exc.code)}"
        raise ImportFileError(path, [RowError(exc.lineno, "", message)]) from None


def _xml_users(finished: list[_Node]) -> Iterator[FileItem]:
    for node in finished:
        try:
            yield _xml_user(node)
        except _Refused as exc:
            yield RowError(exc.line, "", exc.message)
    finished.clear()


def _xml_user_parser() -> tuple[expat.XMLParserType, list[_Node]]:
    """An expat parser that appends each complete child of <users> to the list returned."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    finished: list[_Node] = []

    def refuse(*_: object) -> None:
        # A DTD is where entity bombs and external entities come from: users files
        # never need one, so refuse it outright.
        raise _Refused(parser.CurrentLineNumber, "DTDs and entity declarations are not allowed")

    def start(tag: str, _attrs: dict[str, str]) -> None:
        line = parser.CurrentLineNumber
        if not stack and tag != "users":
            raise _Refused(line, "the root element must be <users>")
        if len(stack) == 3:  # users > user > field: a field holds text only
            raise _Refused(stack[-1].line, f"<{stack[-1].tag}> must contain text only")
        node = _Node(tag, line)
        if len(stack) >= 2:
            stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        node = stack.pop()
        if len(stack) == 1:
            finished.append(node)  # a whole <user>: handed on, then dropped

    def text(data: str) -> None:
        if len(stack) >= 2:
            stack[-1].text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    return parser, finished


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
