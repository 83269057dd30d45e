"""The values the ACTAtek log listing speaks in: what a listing asks (`LogQuery`), what the
log settings hide (`LogView`), one log as read (`LogRow`), an added log's trace.

Plain values with no I/O (a contract module, `scripts/check_layers.py`): the journal's
queries (`gateway.store.log_query`) produce them and the ACTAtek log endpoints read them.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCESS_METHODS: dict[str, str] = {"card": "CARD", "pin": "PIN", "qr": "QR", "plate": "PLATE"}
ADDED_LOG_REASON = "log_added"
ADDED_LOG_MARK = ";trigger="  # an added log's trace: "by=<technician>;trigger=<name>"


@dataclass(frozen=True)
class LogView:
    """What the log settings hide from the listing (the journal always keeps everything)."""

    user_events: bool = True  # access decisions and added logs
    audit_events: bool = True  # door and alarm events
    unauthorized: bool = True  # refused access attempts
    unregistered_cards: bool = True  # refused cards nobody owns
    case_events: bool = True  # tamper switch (enclosure open/closed)


@dataclass(frozen=True)
class LogQuery:
    """The getLogs filters; times are journal UTC times (`2027-01-15T09:00:00.000Z`)."""

    start: str | None = None  # inclusive
    end: str | None = None  # exclusive
    employee_name: str | None = None  # case-insensitive part of "first last"
    employee_id: str | None = None
    department_id: int | None = None  # the user belongs to it (any position)
    trigger: str | None = None  # event name, case-insensitive
    limit: int | None = None
    full: bool = False  # also read userName and departmentName
    view: LogView = LogView()


@dataclass(frozen=True)
class LogRow:
    """One log as read: the journal columns it needs plus the computed event name."""

    seq: int
    time: str
    local_time: str
    user_id: str | None
    trigger: str
    door: str | None
    credential_kind: str | None
    reason: str
    trace: str
    type: str
    user_name: str = ""
    department_name: str = ""

    @property
    def access_method(self) -> str:
        return ACCESS_METHODS.get(self.credential_kind or "", "")

    @property
    def remarks(self) -> str:
        """ "#CARD# granted" for a credential (the reference writes "#FACE#"), who added an
        added log, the trace (what happened) for a door or alarm event."""
        if self.type == "api":
            return "added by " + self.trace.split(ADDED_LOG_MARK, 1)[0].removeprefix("by=")
        method = self.access_method
        if method:
            return f"#{method}# {self.reason}"
        return self.trace


def added_log_trace(by: str, trigger: str) -> str:
    """The trace of a log added through the API: who added it, and its event name."""
    return f"by={by}{ADDED_LOG_MARK}{trigger}"
