"""What every reader driver shares: where it delivers, and what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.model import Credential


class ReaderSink(Protocol):
    """Where readers deliver what they decoded (the collector and the access pipeline).

    Both methods must be called on the event loop's thread; drivers running in a thread of
    their own hand over with `loop.call_soon_threadsafe`.
    """

    def credential(self, credential: Credential) -> None: ...

    def key(self, reader: str, key: str, timestamp: float) -> None: ...


class NotSimulated(Exception):
    """The simulation API asked a reader for input it cannot take."""


class ReaderUnavailable(Exception):
    """The hardware has no device for a reader as configured (the message says why): the
    reader shows offline with that reason instead of stopping the daemon."""


@dataclass
class ReaderHealth:
    """Online state and counters every driver keeps for its status()."""

    online: bool = True
    last_seen: float | None = None
    accepted: int = 0
