"""Shared pieces of the NFC tests: a sink that records, a clock tests move, a reader factory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, Protocol

import pytest

from gateway.hw.nfc import NfcFrontend, NfcReader
from gateway.model import Credential
from gateway.settings import ReaderSettings
from tests.fakes import ManualClock

SETTINGS = ReaderSettings(name="nfc-front", kind="nfc", door="front", device="sim")


class RecordingSink:
    """A ReaderSink that keeps what it got and checks it was called on the loop thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.credentials: list[Credential] = []

    def credential(self, credential: Credential) -> None:
        assert asyncio.get_running_loop() is self.loop
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        raise AssertionError("an NFC reader has no keys")

    @property
    def values(self) -> list[str]:
        return [c.value for c in self.credentials]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait, without blocking the loop, until `check()` holds; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f} s")
        await asyncio.sleep(0.01)


class ReaderMaker(Protocol):
    def __call__(self, factory: Callable[[], NfcFrontend], /, **options: Any) -> NfcReader: ...


@pytest.fixture
async def sink() -> RecordingSink:
    return RecordingSink(asyncio.get_running_loop())


@pytest.fixture
def clock() -> ManualClock:
    """The readers' clock: it moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
async def make_reader(sink: RecordingSink, clock: ManualClock) -> AsyncIterator[ReaderMaker]:
    """Build and start NfcReaders delivering to `sink` (ReaderSettings fields and
    NfcReader tuning and `clock` as keywords); all are closed at the end of the test."""
    loop = asyncio.get_running_loop()
    readers: list[NfcReader] = []

    def make(factory: Callable[[], NfcFrontend], /, **options: Any) -> NfcReader:
        fields = set(ReaderSettings.__dataclass_fields__)
        settings = replace(SETTINGS, **{k: v for k, v in options.items() if k in fields})
        tuning = {k: v for k, v in options.items() if k not in fields}
        reader_clock = tuning.pop("clock", clock)
        reader = NfcReader(settings, loop, sink, factory, reader_clock, **tuning)
        readers.append(reader)
        reader.start()
        return reader

    yield make
    for reader in readers:
        reader.close()
