"""What a notification mail says: one event in full, or a summary of many.

Plain text, in the status page's words (`gateway.web.page.reasons`): what happened, what to
do, the door, the gateway's local time. Never a secret: a PIN is never shown, a QR code
only as its fingerprint (the journal keeps no more), and a card number only by its last
digits, since a mailbox is no place for a number an H10301 card can be cloned from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from gateway.model import StoredEvent
from gateway.web.page.reasons import explain_event

__all__ = ["Digest", "MailHeader", "compose"]

FULL_EVENTS = 50  # a summary lists this many events in full, then counts the rest
CARD_DIGITS_SHOWN = 4
LINE = "-" * 60


@dataclass
class Digest:
    """The events waiting for one mail, in journal order, in bounded memory: the first
    `FULL_EVENTS` kept whole, every one counted by reason and by door."""

    events: list[StoredEvent] = field(default_factory=list)
    count: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_door: Counter[str] = field(default_factory=Counter)
    first_seq: int = 0
    last_seq: int = 0
    last_time: str = ""
    lost_rows: int = 0  # journal rows removed before they were read (retention, deletion)

    def add(self, event: StoredEvent) -> None:
        """One more event to mail."""
        if self.count == 0:
            self.first_seq = event.seq
        self.count += 1
        self.last_seq, self.last_time = event.seq, event.local_time
        self.by_reason[event.reason or event.type] += 1
        self.by_door[event.door or "(no door)"] += 1
        if len(self.events) < FULL_EVENTS:
            self.events.append(event)


@dataclass(frozen=True)
class MailHeader:
    """Who sends, to whom, and how the gateway names itself."""

    sender: str
    to: tuple[str, ...]
    device_id: str
    device_name: str
    subject_prefix: str  # "" = "[<device name>]"

    @property
    def prefix(self) -> str:
        return self.subject_prefix or f"[{self.device_name}]"


def compose(
    digest: Digest, header: MailHeader, now: float, delayed_since: str = ""
) -> EmailMessage:
    """The mail for `digest` (one event: that event in full; more: a summary), dated `now`
    (UTC epoch seconds). `delayed_since` says when the mail server started failing."""
    if digest.count == 1:
        subject, body = _single(digest.events[0], header)
    else:
        subject, body = _summary(digest, header)
    lines = (
        [f"Mail delayed: the mail server failed from {delayed_since} on.", ""]
        if delayed_since
        else []
    )
    if digest.lost_rows:
        lines += [
            f"Note: {digest.lost_rows} journal rows were removed (journal full, or logs "
            "deleted) before they could be looked at: an event to mail may be missing.",
            "",
        ]
    message = EmailMessage()
    message["From"] = header.sender
    message["To"] = ", ".join(header.to)
    message["Subject"] = _one_line(f"{header.prefix} {subject}")
    message["Date"] = formatdate(now, localtime=False, usegmt=True)
    # The same rows give the same id: a mail sent twice (a crash right after the server
    # accepted it) can be recognised as one.
    domain = header.sender.rpartition("@")[2] or "door-gateway.invalid"
    message["Message-ID"] = f"<{header.device_id}.{digest.first_seq}-{digest.last_seq}@{domain}>"
    message.set_content("\n".join([*lines, *body, "", LINE, _footer(header)]) + "\n")
    return message


def _single(event: StoredEvent, header: MailHeader) -> tuple[str, list[str]]:
    said = explain_event(event)
    where = f" at door {event.door}" if event.door else ""
    subject = f"{_title(event)}{where}"
    body = [said.what]
    if said.todo:
        body.append(f"What to do: {said.todo}")
    body += ["", *_details(event)]
    return subject, body


def _summary(digest: Digest, header: MailHeader) -> tuple[str, list[str]]:
    reasons = ", ".join(f"{reason} x{n}" for reason, n in digest.by_reason.most_common(3))
    more = ", ..." if len(digest.by_reason) > 3 else ""
    subject = f"{digest.count} events: {reasons}{more}"
    body = [
        f"{digest.count} events to report (journal rows {digest.first_seq} to "
        f"{digest.last_seq}; the last at {_shown_time(digest.last_time)}).",
        "",
        "By reason:",
        *(f"  {n:6d}  {reason}" for reason, n in digest.by_reason.most_common()),
        "By door:",
        *(f"  {n:6d}  {door}" for door, n in digest.by_door.most_common()),
        "",
    ]
    shown = len(digest.events)
    body.append("The events:" if shown == digest.count else f"The first {shown} events:")
    for event in digest.events:
        said = explain_event(event)
        body.append(
            f"  #{event.seq}  {_shown_time(event.local_time)}  {_title(event)}: {said.what}"
        )
    if shown < digest.count:
        body.append(f"  ... and {digest.count - shown} more (the journal has them all).")
    return subject, body


def _details(event: StoredEvent) -> list[str]:
    rows = [
        ("Door", event.door),
        ("Time", _shown_time(event.local_time)),
        ("Event", f"{event.reason or event.type} ({event.type}), journal seq {event.seq}"),
        ("Reader", event.reader),
        ("User", event.user_id),
        ("Credential", shown_credential(event.credential_kind, event.credential)),
        ("Details", event.trace if event.type != "access" else ""),
    ]
    return [f"{name + ':':<12}{_one_line(value)}" for name, value in rows if value]


def _footer(header: MailHeader) -> str:
    return (
        f"Sent by the door gateway {header.device_name} ({header.device_id}). Its status "
        "page and journal have every event."
    )


def _title(event: StoredEvent) -> str:
    reason = event.reason or event.type
    if reason == "input_action_email" and event.trace:
        return f"Input {_one_line(event.trace)}"  # "Input contact after 120 s, still active"
    words = reason.replace("_", " ")
    return f"ALARM {words}" if event.type == "alarm" else words[:1].upper() + words[1:]


def shown_credential(kind: str | None, value: str | None) -> str:
    """A credential as a mail may show it: a PIN never, a card by its last digits."""
    if kind is None:
        return ""
    if kind == "pin":
        return "PIN (never shown)"
    if not value:
        return kind
    if kind == "card":
        return f"card ...{value[-CARD_DIGITS_SHOWN:]}"
    return f"{kind} {value}"  # a QR code is stored as its fingerprint only


def _shown_time(local_iso: str) -> str:
    """`2027-01-15T10:00:00.123+01:00` as `2027-01-15 10:00:00 +01:00`."""
    if len(local_iso) < 19:
        return local_iso
    offset = local_iso[23:] if len(local_iso) > 23 and local_iso[19] == "." else local_iso[19:]
    return f"{local_iso[:10]} {local_iso[11:19]} {offset}".rstrip()


def _one_line(text: str | None) -> str:
    """No line breaks in a header or a detail row (the journal escapes them already)."""
    return " ".join((text or "").split())
