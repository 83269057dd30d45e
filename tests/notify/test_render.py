"""What a notification mail shows of a credential: never a PIN, a QR code only as the
journal's fingerprint, a card only by its last digits (the mail leaves the gateway)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.model import Event, StoredEvent
from gateway.notify.render import Digest, MailHeader, compose
from gateway.store.journal import EventJournal

HEADER = MailHeader("gw@example.com", ("a@example.com",), "gw-1", "Lobby", "[Lobby door]")


def stored(tmp_path: Path, event: Event) -> StoredEvent:
    """`event` as the journal keeps it (masked on the way in), read back."""
    journal = EventJournal(tmp_path / "gateway.db", ZoneInfo("UTC"), max_events=10_000)
    try:
        journal.append(event)
        (row,) = journal.read(0, 10)
        return row
    finally:
        journal.close()


def mail_of(event: StoredEvent) -> str:
    digest = Digest()
    digest.add(event)
    return str(compose(digest, HEADER, 1_800_000_000.0))


def access(kind: str, value: str) -> Event:
    return Event(
        "access", 1_800_000_000.0, door="lobby", reader="lobby-in", user_id="1001",
        credential_kind=kind, credential=value, granted=True, reason="granted",
        trace=f"{kind} {value} > user 1001",
    )  # fmt: skip


def test_a_card_shows_only_its_last_digits(tmp_path: Path) -> None:
    text = mail_of(stored(tmp_path, access("card", "0C8707")))
    assert "card ...8707" in text and "0C8707" not in text
    assert "Subject: [Lobby door] Granted at door lobby" in text


def test_a_qr_code_shows_only_its_fingerprint(tmp_path: Path) -> None:
    text = mail_of(stored(tmp_path, access("qr", "12345678")))
    assert "qr sha256:" in text and "12345678" not in text


def test_a_pin_never_shows(tmp_path: Path) -> None:
    text = mail_of(stored(tmp_path, access("pin", "4711")))
    assert "PIN (never shown)" in text and "4711" not in text
