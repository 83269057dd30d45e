"""Problems in a configuration file, as `FILE: key.path: expected X, found Y` lines.

Both passes of the loader report here. A found value is shown as it would be written in
TOML, shortened when long; a secret key's value is shown only by its type.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from datetime import date, datetime, time

from gateway.urls import masked_text

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


class ConfigError(Exception):
    """The configuration cannot be used; `errors` holds one line per problem found. A line
    quotes what it found, and a URL may carry a password: every URL in it is masked here,
    so the command line, the daemon's log and the status page all show it masked."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = [masked_text(error) for error in errors]
        super().__init__("\n".join(self.errors))


class Nothing:
    """What a message says was found for a key that is not in the file."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING = Nothing()


def join(path: str, key: str) -> str:
    """`doors[0]` + `relay_pin` -> `doors[0].relay_pin`, quoting keys that need it."""
    part = key if _BARE_KEY.match(key) else json.dumps(key)
    return f"{path}.{part}" if path else part


def render(value: object, secret: bool = False) -> str:
    """A found value as it would be written in TOML (a secret only by its type)."""
    if isinstance(value, Nothing):
        return "nothing"
    if isinstance(value, dict):
        return "a table"
    if secret:
        if isinstance(value, (list, tuple)):
            return f"an array of {len(value)} values that are not shown"
        return "a value that is not shown" if isinstance(value, str) else type_name(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 80 else value[:77] + "...", ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        text = "[" + ", ".join(render(item) for item in value) + "]"
        return text if len(text) <= 80 else f"an array of {len(value)} items"
    if isinstance(value, (datetime, date, time)):
        return f"{value.isoformat()} (a date/time)"
    return repr(value)


def type_name(value: object) -> str:
    """ "a string", "an integer", ... for a TOML value."""
    names = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return "an array" if isinstance(value, (list, tuple)) else "a value"


def hint(found: object, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when `found` is close to one of `choices`."""
    if not isinstance(found, str):
        return ""
    close = difflib.get_close_matches(found, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Report:
    """Collects the messages about one file; remembers which key paths have one, and which
    hold secrets (so that no message, from either pass, echoes them)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[str] = []
        self.bad_paths: set[str] = set()
        self.secret_paths: set[str] = set()

    def add(self, path: str, message: str) -> None:
        """Record `FILE: path: message`."""
        self.bad_paths.add(path)
        where = f"{path}: " if path else ""
        self.errors.append(f"{self.label}: {where}{message}")

    def expected(self, path: str, expected: str, found: object, hint: str = "") -> None:
        """Record `FILE: path: expected X, found Y`."""
        self.add(path, f"expected {expected}, found {render(found, self.is_secret(path))}{hint}")

    def is_secret(self, path: str) -> bool:
        """True for a secret key's path, or the path of an item of a secret array."""
        while path.endswith("]"):
            path = path.rsplit("[", 1)[0]
        return path in self.secret_paths

    def has_errors_under(self, path: str) -> bool:
        """True when `path` or a key below it already has a message."""
        return any(p == path or p.startswith((f"{path}.", f"{path}[")) for p in self.bad_paths)
