"""Text from outside, made safe to write down: the one helper for the journal and the log.

A value a client chose (a basic-auth user name, a QR code, an upstream's message) must not
be able to start a new line in the service log or the event journal (a forged record), move
the cursor of a terminal showing the log (ANSI escapes), or reverse the text around it
(Unicode bidirectional overrides). Every character that is not printable is written as its
Python escape instead: `\\n`, `\\x1b`, `\\u202e`, `\\udc80` for a lone surrogate (which
SQLite could not even store). Printable text, letters of any script and spaces included,
is unchanged; backslashes are left as they are, so a value that was safe stays readable.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.model import Event

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(Event))  # once, not per event


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """`text` with every non-printable character written as its escape (see the module)."""
    if text.isprintable():  # nearly always: no copy
        return text
    return "".join(_escape(char) for char in text)


def escaped_event(event: Event) -> Event:
    """`event` with every text field passed through `escape_controls` (the same object when
    nothing needed escaping)."""
    changes: dict[str, Any] = {
        name: escape_controls(value)
        for name in _EVENT_FIELDS
        if isinstance(value := getattr(event, name), str) and not value.isprintable()
    }
    return dataclasses.replace(event, **changes) if changes else event
