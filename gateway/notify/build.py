"""Building the notification mailer from the settings, when notifications are enabled."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from gateway.clock import Clock
from gateway.model import Event
from gateway.notify.mailer import Mailer
from gateway.notify.render import MailHeader
from gateway.notify.smtp import SmtpTransport, tls_context
from gateway.settings import Settings
from gateway.store.journal import EventJournal
from gateway.store.mail_cursor import MailCursorStore

__all__ = ["open_mailer"]


def open_mailer(
    settings: Settings,
    journal: EventJournal,
    db_path: Path,
    emit: Callable[[Event], None],
    clock: Clock,
    stack: AsyncExitStack,
) -> Mailer | None:
    """The mailer (built, not started), its cursor store open; None when notifications
    are off. Its stop and the store's close go on `stack` (the stop first on unwind)."""
    notifications = settings.notifications
    if not notifications.enabled:
        return None
    cursors = MailCursorStore.open(db_path)
    stack.callback(cursors.close)
    transport = SmtpTransport(settings.smtp, tls_context(settings.smtp))  # reads ca_file once
    header = MailHeader(
        sender=notifications.sender,
        to=notifications.to,
        device_id=settings.device.id,
        device_name=settings.device.name,
        subject_prefix=notifications.subject_prefix,
    )
    mailer = Mailer(
        journal, cursors, notifications, header, transport, transport.server, emit, clock
    )
    stack.push_async_callback(mailer.stop)  # bounded; before the journal and store close
    return mailer
