"""What an agent receives: journal rows as ACTAtek getFullLogs entries (pure, no I/O).

Field names follow the reference's getFullLogs table (section 2.2); docs/forwarding.md
has the mapping and the fields we add (`seq`, `time`, `type`, `door`, `reader`, `reason`,
`granted`). The credential itself (card number, QR text, plate) is not sent: a card
number is enough to clone a card, and an agent URL may be plain http.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.model import StoredEvent

ACCESS_METHODS: dict[str, str] = {"card": "CARD", "pin": "PIN", "qr": "QR", "plate": "PLATE"}
DENIED_TRIGGER = "ACCESS DENIED"
LOCAL_SECONDS = len("2025-07-16T10:24:13")

UserLabels = Mapping[str, tuple[str, str]]  # user id -> (userName, departmentName)


@dataclass(frozen=True)
class TerminalIdentity:
    """This gateway as the logs name it: `terminalSN` and `terminalName`."""

    serial: str  # [device] id
    name: str  # [device] name


def trigger(event: StoredEvent, directions: Mapping[str, str]) -> str:
    """The ACTAtek "event name": IN/OUT for a grant (the direction recorded with it, else
    its reader's), ACCESS DENIED for a refusal, the alarm's name for an alarm, the reason
    otherwise."""
    if event.type == "access" and event.granted is not None:
        if not event.granted:
            return DENIED_TRIGGER
        return (event.direction or directions.get(event.reader or "", "in")).upper()
    return event.reason or event.type


def remarks(event: StoredEvent) -> str:
    """ "#CARD# granted" for a credential event (the reference writes "#FACE#"); the
    trace (what happened, in words) for everything else."""
    method = ACCESS_METHODS.get(event.credential_kind or "")
    if method is not None:
        return f"#{method}# {event.reason}".rstrip()
    return event.trace


def log_entry(
    event: StoredEvent,
    labels: UserLabels,
    terminal: TerminalIdentity,
    directions: Mapping[str, str],
) -> dict[str, Any]:
    """One journal row as one pushed log entry."""
    name, department = labels.get(event.user_id or "", ("", ""))
    return {
        "logID": event.seq,
        "seq": event.seq,
        "userID": event.user_id or "",
        "userName": name,
        "departmentName": department,
        # Local time without an offset, as the reference shows it; `time` is UTC.
        "timestamp": event.local_time[:LOCAL_SECONDS],
        "time": event.time,
        "trigger": trigger(event, directions),
        "terminalSN": terminal.serial,
        "terminalName": terminal.name,
        "accessMethod": ACCESS_METHODS.get(event.credential_kind or "", ""),
        "remarks": remarks(event),
        "type": event.type,
        "door": event.door,
        "reader": event.reader,
        "reason": event.reason,
        "granted": event.granted,
    }


def batch_body(
    events: Sequence[StoredEvent],
    labels: UserLabels,
    terminal: TerminalIdentity,
    directions: Mapping[str, str],
) -> bytes:
    """The POST body: a JSON array of log entries in seq order, UTF-8."""
    entries = [log_entry(event, labels, terminal, directions) for event in events]
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()
