"""What the OSDP tests share: a sink and a journal that record, a fake bus with verbs,
and a waiting helper for the tests that run libosdp for real on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.hw.osdp_reader import BusListener, PdCommand, PdSetup, PdState
from gateway.model import Credential, Event
from gateway.settings import ReaderSettings


def osdp_settings(**overrides: Any) -> ReaderSettings:
    """An OSDP reader at address 3 of port "sim"."""
    values: dict[str, Any] = {
        "name": "gate-osdp",
        "kind": "osdp",
        "door": "front",
        "port": "sim",
        "baudrate": 115200,
        "osdp_address": 3,
        "offline_after_s": 1.0,
    }
    return ReaderSettings(**(values | overrides))


class Recorder:
    """The pipeline's side (credentials, keys) and the journal's (events) of one reader."""

    def __init__(self) -> None:
        self.credentials: list[Credential] = []
        self.keys: list[str] = []
        self.events: list[Event] = []

    def credential(self, credential: Credential) -> None:
        self.credentials.append(credential)

    def key(self, reader: str, key: str, timestamp: float) -> None:
        self.keys.append(key)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def reasons(self, type_: str | None = None) -> list[str]:
        """The journaled reasons (of events of `type_`), in order."""
        return [e.reason for e in self.events if type_ is None or e.type == type_]


class FakeBus:
    """A bus the test plays: `report(state)` and `deliver(event)` as the bus thread would
    (straight to the listener), and the commands the reader queued."""

    path = "/dev/ttyFAKE"

    def __init__(self) -> None:
        self.setups: list[PdSetup] = []
        self.listener: BusListener | None = None
        self.commands: list[PdCommand] = []
        self.started = False

    def attach(self, setup: PdSetup, listener: BusListener) -> None:
        self.setups.append(setup)
        self.listener = listener

    def start(self) -> None:
        self.started = True

    def submit(self, address: int, command: PdCommand) -> None:
        self.commands.append(command)

    def detach(self, address: int) -> None:
        self.listener = None


TRUSTED = PdState(online=True, secure=True, answering=True)
SILENT = PdState()


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait (real time: libosdp runs on its own clock) until `condition` holds; how long
    it took. Fails the test after `timeout` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start
