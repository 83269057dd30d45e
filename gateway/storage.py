"""Opening what the daemon keeps and sends on: the state directory and its device key, the
stores, the event journal with its writer, the forwarder that sends the journal to the
agents, and the mailer that mails its alarms (when notifications are on).

Each close is registered on the caller's `AsyncExitStack` as its part opens, so a stop
(and an open that fails half-way, e.g. a damaged database) unwinds in reverse: the
forwarder stops (bounded) while the journal is still open, the writer writes what is
queued, then the journal and the stores close.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.access.pins import PinHasher
from gateway.clock import Clock
from gateway.recorder import Recorder
from gateway.settings import Settings
from gateway.store.journal import EventJournal
from gateway.store.secrets import load_or_create_device_key
from gateway.store.statedir import make_state_dir
from gateway.store.stores import Stores
from gateway.store.validate import PinLengths
from gateway.store.writer import JournalWriter
from gateway.upstream.forward import Forwarder, TerminalIdentity

if TYPE_CHECKING:
    from gateway.notify.mailer import Mailer

DB_FILE = "gateway.db"


@dataclass(frozen=True)
class Storage:
    """The open stores and journal, and what writes and forwards the journal."""

    hasher: PinHasher  # keyed with the device key of the state directory
    db_path: Path
    stores: Stores
    journal: EventJournal
    writer: JournalWriter
    forwarder: Forwarder  # built, not started: it starts once the web server is up
    mailer: Mailer | None = None  # built, not started; None with notifications off


def pin_lengths(settings: Settings) -> PinLengths:
    """The PIN lengths `[access]` allows, for the user store."""
    access = settings.access
    return PinLengths(
        private=(access.pin_min_digits, access.pin_max_digits),
        public=(access.public_pin_min_digits, access.public_pin_max_digits),
    )


def open_storage(
    settings: Settings, clock: Clock, tz: ZoneInfo, recorder: Recorder, stack: AsyncExitStack
) -> Storage:
    """Open the state directory's stores and journal, attach `recorder` to the journal (the
    events it held are written first) and build the forwarder; every close goes on `stack`."""
    state_dir = Path(settings.device.state_dir)
    make_state_dir(state_dir)
    hasher = PinHasher(load_or_create_device_key(state_dir))
    db_path = state_dir / DB_FILE
    stores = Stores.open(db_path, hasher, pin_lengths(settings))
    stack.callback(stores.close)
    journal = EventJournal(db_path, tz, settings.journal.max_events)
    stack.callback(journal.close)
    writer = JournalWriter(journal, clock)
    stack.push_async_callback(writer.close)  # writes what is queued
    recorder.attach(writer, journal)  # the doors' events first
    stack.callback(recorder.detach)
    device = settings.device
    forwarder = Forwarder(
        journal,
        stores.agents,
        settings.forwarding,
        recorder.emit,
        TerminalIdentity(serial=device.id, name=device.name),
        {reader.name: reader.direction for reader in settings.readers},
        clock,
    )
    stack.push_async_callback(forwarder.stop)  # bounded; before the journal closes
    writer.add_listener(forwarder.notify)  # wake forwarding on each new row
    mailer = None
    if settings.notifications.enabled:  # loaded only then: most gateways send no mail
        from gateway.notify.build import open_mailer

        mailer = open_mailer(settings, journal, db_path, recorder.emit, clock, stack)
    if mailer is not None:
        writer.add_listener(mailer.notify)
    return Storage(hasher, db_path, stores, journal, writer, forwarder, mailer)
