"""A ReaderSink that keeps what it is given."""

from __future__ import annotations

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
