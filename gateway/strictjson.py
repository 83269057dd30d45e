"""Strict JSON: the one parser for JSON that decides something (API bodies, the upstream's
verify answer).

UTF-8 only, no NaN or Infinity (not JSON), and no duplicate keys at any depth:
`{"isvalid": false, "isvalid": true}` means different things to different parsers (the
first wins in some, the last in others), so it means nothing here. At most `MAX_DEPTH`
levels of arrays and objects: `[[[[...` two thousand deep would otherwise exhaust the
interpreter's recursion limit (a RecursionError, not a ValueError), and a value stored
nearly that deep could not be parsed again from a deeper stack. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # the gateway's own documents nest 4 levels at most


class DuplicateKey(ValueError):
    """An object names the same key twice."""


class TooDeep(ValueError):
    """Arrays and objects nested deeper than `MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"arrays and objects nested deeper than {MAX_DEPTH} levels")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _check_depth(value: Any) -> None:
    """TooDeep when `value` nests deeper than MAX_DEPTH (iterative: no recursion here)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise TooDeep()
        pending.extend((child, depth + 1) for child in children)


# Built once: `json.loads` with hooks would build a decoder for every body.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def loads_strict(raw: bytes) -> Any:
    """Parse `raw`; ValueError (UnicodeDecodeError, DuplicateKey and TooDeep included) on
    anything not strict JSON."""
    text = raw.decode("utf-8")
    if text.startswith("\ufeff"):  # as json.loads refuses it
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise TooDeep() from None
    _check_depth(value)
    return value
