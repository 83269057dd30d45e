"""The schema pass: a TOML document -> settings dataclasses, every key checked against its
declaration in `gateway.settings` and every problem reported.

A field's annotation is its key's whole schema (see `gateway.settings_spec`): this module
unpacks it (`key_specs`) and walks the document with it (`Schema`). A key that fails is
reported and takes its default, so that its table can still be built; a table whose
required key fails is not built. The cross-checks get every table as a `Table` (where it
is in the file, what was written there, the values that passed, the keys that failed),
and a built one as a `Located`, which adds the validated dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from gateway.config.report import NOTHING, Report, hint, join
from gateway.settings_spec import Check, NotAKey, Secret, UsedBy

T = TypeVar("T")

_SCALARS: dict[Any, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
}


class Invalid:
    """Marks a value that failed its check (the problem is already reported)."""


INVALID = Invalid()


@dataclass(frozen=True)
class KeySpec:
    """One key as its field declares it: the annotation unpacked."""

    name: str
    type: Any  # the TOML value's type: a scalar, a Literal, a dataclass or tuple[X, ...]
    check: Check | None
    item_type: Any  # for an array: its items' type (unpacked), else None
    item_check: Check | None
    secret: bool
    used_by: UsedBy | None
    not_a_key: NotAKey | None
    default: Callable[[], Any] | None  # None: the key is required

    @property
    def required(self) -> bool:
        """The file must give this key."""
        return self.default is None and self.not_a_key is None


def unpack(tp: Any) -> tuple[Any, tuple[object, ...]]:
    """`Annotated[X | None, *metadata]` -> (X, metadata), however they are nested."""
    metadata: list[object] = []
    while True:
        if typing.get_origin(tp) is Annotated:
            metadata.extend(tp.__metadata__)
            tp = tp.__origin__
        elif isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
            if len(args) != 1:
                raise TypeError(f"settings type {tp!r}: only `X | None` unions are keys")
            tp = args[0]
        else:
            return tp, tuple(metadata)


def _one_check(owner: str, metadata: tuple[object, ...]) -> Check | None:
    """The single `Check` among `metadata` (two would leave a reader guessing)."""
    checks = [item for item in metadata if isinstance(item, Check)]
    if len(checks) > 1:
        raise TypeError(f"{owner}: more than one Check")
    return checks[0] if checks else None


def _first(kind: type[T], metadata: tuple[object, ...]) -> T | None:
    return next((item for item in metadata if isinstance(item, kind)), None)


def _check_type(owner: str, tp: Any) -> None:
    """Raise TypeError unless the walker can read a TOML value as `tp`."""
    if tp in _SCALARS or dataclasses.is_dataclass(tp):
        return
    if typing.get_origin(tp) is Literal and all(isinstance(a, str) for a in typing.get_args(tp)):
        return
    raise TypeError(f"{owner}: settings type {tp!r} has no TOML form")


def _default(fld: dataclasses.Field[Any]) -> Callable[[], Any] | None:
    if fld.default_factory is not dataclasses.MISSING:
        return fld.default_factory
    if fld.default is not dataclasses.MISSING:
        value = fld.default
        return lambda: value
    return None


@functools.cache
def key_specs(cls: type) -> tuple[KeySpec, ...]:
    """Every field of settings dataclass `cls`, unpacked; TypeError for a bad declaration."""
    # The module's globals as globals: a lambda in a string annotation then finds its names.
    module = vars(sys.modules[cls.__module__])
    hints = typing.get_type_hints(cls, globalns=module, include_extras=True)
    specs = []
    for fld in dataclasses.fields(cls):
        owner = f"{cls.__name__}.{fld.name}"
        tp, metadata = unpack(hints[fld.name])
        item_type: Any = None
        item_check = None
        if typing.get_origin(tp) is tuple:
            args = typing.get_args(tp)
            if len(args) != 2 or args[1] is not Ellipsis:
                raise TypeError(f"{owner}: arrays are tuple[X, ...]")
            item_type, item_metadata = unpack(args[0])
            item_check = _one_check(f"{owner}[]", item_metadata)
            _check_type(f"{owner}[]", item_type)
        else:
            _check_type(owner, tp)
        specs.append(
            KeySpec(
                name=fld.name,
                type=tp,
                check=_one_check(owner, metadata),
                item_type=item_type,
                item_check=item_check,
                secret=_first(Secret, metadata) is not None,
                used_by=_first(UsedBy, metadata),
                not_a_key=_first(NotAKey, metadata),
                default=_default(fld),
            )
        )
    return tuple(specs)


@functools.cache
def file_keys(cls: type) -> tuple[KeySpec, ...]:
    """The keys of `cls` that a file may set."""
    return tuple(spec for spec in key_specs(cls) if spec.not_a_key is None)


# --------------------------------------------------------------------------- messages


def describe(tp: Any, path: str) -> str:
    """What a value of type `tp` looks like, for messages."""
    if dataclasses.is_dataclass(tp):
        return f"a [{path}] section"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return describe_array(unpack(typing.get_args(tp)[0])[0], path)
    return _SCALARS.get(tp, "a value")


def describe_array(item: Any, path: str) -> str:
    """What an array of `item` values looks like, for messages."""
    if dataclasses.is_dataclass(item):
        return f"an array of tables ([[{path}]])"
    return {str: "an array of strings", int: "an array of integers"}.get(item, "an array")


def scalar(tp: Any, raw: object) -> object:
    """`raw` as a value of scalar type `tp`, or INVALID (a boolean is never a number)."""
    if tp is bool:
        return raw if isinstance(raw, bool) else INVALID
    if isinstance(raw, bool):
        return INVALID
    if tp is int:
        return raw if isinstance(raw, int) else INVALID
    if tp is float:
        if isinstance(raw, (int, float)) and math.isfinite(raw):
            return float(raw)
        return INVALID
    if tp is str:
        return raw if isinstance(raw, str) else INVALID
    if typing.get_origin(tp) is Literal:
        return raw if isinstance(raw, str) and raw in typing.get_args(tp) else INVALID
    raise TypeError(f"settings type {tp!r} has no TOML conversion")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Table:
    """A table of the file where a settings class is expected, built or not.

    `values` holds every key that passed its check or was left out (its default);
    `failed`, every key that did not (already reported). `raw` is the table as written,
    for echoing what was found."""

    cls: type
    path: str  # "doors[0]", "upstream", ...
    raw: Mapping[str, Any]
    values: Mapping[str, Any]
    failed: frozenset[str]

    def at(self, key: str) -> str:
        """The key path of `key` in this table."""
        return join(self.path, key)

    def given(self, key: str) -> bool:
        """The file writes `key` in this table (whether or not it passed)."""
        return key in self.raw

    def ok(self, key: str) -> bool:
        """`key` passed its check, or was left out and holds its default."""
        return key not in self.failed

    def found(self, key: str, default: object = NOTHING) -> object:
        """What the file writes for `key`, for a message."""
        return self.raw.get(key, default)


@dataclass(frozen=True)
class Located(Table, Generic[T]):
    """A table the schema pass could build: `value` is the settings dataclass, where a
    key that failed its check holds its default."""

    value: T


@dataclass(frozen=True)
class Checked:
    """What the schema pass accepted: every table of the file, in file order."""

    tables: tuple[Table, ...]

    def of(self, cls: type[T], under: str = "") -> list[Located[T]]:
        """The built tables of settings class `cls` (only those below key path `under`)."""
        prefix = f"{under}." if under else ""
        return [
            typing.cast(Located[T], table)
            for table in self.tables
            if isinstance(table, Located) and table.cls is cls and table.path.startswith(prefix)
        ]

    def tables_of(self, cls: type) -> list[Table]:
        """Every table of settings class `cls`, built or not (a required key failed)."""
        return [table for table in self.tables if table.cls is cls]

    def section(self, cls: type[T]) -> Located[T] | None:
        """The first built table of `cls`: for a [section], the section if it is in the file."""
        found = self.of(cls)
        return found[0] if found else None

    def written(self, cls: type, key: str) -> list[tuple[str, Any]]:
        """(key path, value) of each `key` that a `cls` table writes and that passed, built
        or not: names are worth comparing even in a table with another problem."""
        return [
            (table.at(key), table.values[key])
            for table in self.tables_of(cls)
            if table.given(key) and table.ok(key)
        ]


# --------------------------------------------------------------------------- the walk


class Schema:
    """Walks a document along the declarations, reporting into `report`."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.tables: list[Table] = []

    def checked(self) -> Checked:
        """Every table walked so far."""
        return Checked(tuple(self.tables))

    def table(self, cls: type, raw: object, path: str) -> Any:
        """A TOML table as an instance of dataclass `cls`, or INVALID."""
        if not isinstance(raw, dict):
            self.report.expected(path, describe(cls, path), raw)
            return INVALID
        keys = file_keys(cls)
        self.unknown_keys(raw, [spec.name for spec in keys], path)
        values = {s.name: s.not_a_key.placeholder for s in key_specs(cls) if s.not_a_key}
        failed: set[str] = set()
        for spec in keys:
            value = self.key(spec, raw, join(path, spec.name))
            if value is INVALID:
                failed.add(spec.name)
                if spec.default is None:
                    continue  # a required key: nothing can stand in for it
                value = spec.default()  # stands in, so that the table can still be built
            values[spec.name] = value
        if any(spec.required and spec.name in failed for spec in keys):
            self.tables.append(Table(cls, path, raw, values, frozenset(failed)))
            return INVALID
        instance = cls(**values)
        self.tables.append(Located(cls, path, raw, values, frozenset(failed), instance))
        return instance

    def key(self, spec: KeySpec, raw: dict[str, Any], path: str) -> Any:
        """One key of a table: its checked value, its default, or INVALID."""
        if spec.secret:
            self.report.secret_paths.add(path)
        if spec.name in raw and spec.item_type is not None:
            return self.array(spec, raw[spec.name], path)
        if spec.name in raw:
            return self.value(spec.type, spec.check, raw[spec.name], path)
        if spec.default is not None:
            return spec.default()
        expected = spec.check.expected if spec.check else describe(spec.type, path)
        self.report.expected(path, expected, NOTHING)
        return INVALID

    def value(self, tp: Any, check: Check | None, raw: object, path: str) -> Any:
        """Convert and check one value of type `tp` (a table or a scalar)."""
        if dataclasses.is_dataclass(tp):
            return self.table(typing.cast(type, tp), raw, path)
        value = scalar(tp, raw)
        if value is INVALID or (check is not None and not check.test(value)):
            self.mismatch(tp, check, raw, path)
            return INVALID
        return value

    def array(self, spec: KeySpec, raw: object, path: str) -> Any:
        """A TOML array as a tuple, each item checked; then the check of the whole."""
        check = spec.check
        if not isinstance(raw, list):
            expected = check.expected if check else describe_array(spec.item_type, path)
            tables = isinstance(raw, dict) and dataclasses.is_dataclass(spec.item_type)
            note = f" (write [[{path}]] for each entry, not [{path}])" if tables else ""
            self.report.expected(path, expected, raw, note)
            return INVALID
        items = [
            self.value(spec.item_type, spec.item_check, item, f"{path}[{index}]")
            for index, item in enumerate(raw)
        ]
        if any(item is INVALID for item in items):
            return INVALID
        if check is not None and not check.test(tuple(items)):
            self.report.expected(path, check.expected, raw)
            return INVALID
        return tuple(items)

    def mismatch(self, tp: Any, check: Check | None, raw: object, path: str) -> None:
        """Report a value of the wrong type or outside its check, with a hint if close."""
        if check is not None:
            choices = check.choices() if check.choices else ()
            self.report.expected(path, check.expected, raw, hint(raw, choices))
            return
        choices = typing.get_args(tp) if typing.get_origin(tp) is Literal else ()
        self.report.expected(path, describe(tp, path), raw, hint(raw, choices))

    def unknown_keys(self, raw: dict[str, Any], allowed: list[str], path: str) -> None:
        """Report every key of `raw` that is not in `allowed`, suggesting a close one."""
        for key in raw:
            if key not in allowed:
                close = hint(key, allowed)
                listing = ", ".join(allowed)
                self.report.add(join(path, key), f"unknown key{close}; expected one of: {listing}")
