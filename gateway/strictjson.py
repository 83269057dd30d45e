"""Strict JSON: the one parser for JSON that decides something (API bodies, the upstream's
verify answer).

UTF-8 only, no NaN or Infinity (not JSON), and no duplicate keys at any depth:
`{"isvalid": false, "isvalid": true}` means different things to different parsers (the
first wins in some, the last in others), so it means nothing here. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """An object names the same key twice."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def loads_strict(raw: bytes) -> Any:
    """Parse `raw`; ValueError (UnicodeDecodeError and DuplicateKey included) on anything
    not strict JSON."""
    return json.loads(
        raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
    )
