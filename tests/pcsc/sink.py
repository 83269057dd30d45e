"""A ReaderSink that keeps what it is given, and a counter of a backend's connects."""

from __future__ import annotations

from gateway.hw.pcsc import PcscBackend, PcscConnection
from gateway.model import Credential


class Sink:
    """Collects what the reader delivers."""

    def __init__(self) -> None:
        self.credentials: list[Credential] = []

    def credential(self, credential: Credential) -> None:
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        raise AssertionError("a PC/SC reader has no keys")

    @property
    def values(self) -> list[str]:
        return [c.value for c in self.credentials]


class ConnectCounter:
    """How often a reader connected to (looked at) the card of `backend`: wraps the
    backend's `connect`, simulated or pyscard alike."""

    def __init__(self, backend: PcscBackend) -> None:
        self.count = 0
        connect = backend.connect

        def counted(reader_name: str) -> PcscConnection:
            self.count += 1
            return connect(reader_name)

        backend.connect = counted  # type: ignore[method-assign]
