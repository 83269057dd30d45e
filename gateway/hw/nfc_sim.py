"""An NFC frontend in memory, for the simulated backend and for tests.

It plugs into the same seam as nfcpy (`NfcFrontend`), so the simulated daemon runs the real
NfcReader: its polling thread, debounce, canonical numbers and recovery.
"""

from __future__ import annotations

import asyncio
import errno
import re
import threading
import time
from typing import Any

from gateway.clock import Clock
from gateway.hw.nfc import TARGET_KINDS, NfcReader, NfcTarget, TargetKind
from gateway.hw.reader_base import ReaderSink
from gateway.settings import ReaderSettings

# Same rule as the simulation API's other card readers (gateway.hw.sim_drivers), kept here
# so that module can import this one without a cycle.
HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){1,10}$")

HANG_LIMIT_S = 60.0  # a "hung" poll still ends eventually, so no test can wedge forever
UID_LENGTHS: dict[str, tuple[int, ...]] = {
    # Real NFCID1s are 4, 7 or 10 bytes; any length up to 10 is taken so the simulation
    # API keeps its "1 to 10 bytes of hex" contract for every card reader kind.
    "106A": tuple(range(1, 11)),
    "106B": (4,),  # NFCID0
    "212F": (8,),  # IDm
}


class SimulatedNfcFrontend:
    """Implements `NfcFrontend` with verbs: present(), tap(), remove(), stop_answering(),
    resume(), fail_polls(). Thread-safe: verbs are called from tests or the loop, polls from the
    reader's frontend thread.

    Opens and closes are counted like references, because a reader that abandons a hung
    poll closes its old session after it has already opened a new one on the same object.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._card: NfcTarget | None = None
        self._polls_left: int | None = None  # a tapped card leaves after this many polls
        self._answering = True
        self._failures_left = 0
        self._sessions = 0
        self.opens = 0
        self.polls = 0
        self.path: str | None = None

    # -- verbs -----------------------------------------------------------------------

    def present(self, uid: bytes, kind: TargetKind = "106A") -> None:
        """Hold a card to the reader until remove()."""
        self._place(NfcTarget(kind, bytes(uid)), polls=None)

    def tap(self, uid: bytes, kind: TargetKind = "106A") -> None:
        """Hold a card to the reader for exactly one answered poll."""
        self._place(NfcTarget(kind, bytes(uid)), polls=1)

    def present_card(self, uid: str) -> None:
        """The simulation API's verb: tap a Type A card given as hex (':' and ' ' allowed)."""
        value = uid.strip().upper().replace(":", "").replace(" ", "")
        if not HEX_UID.match(value):
            raise ValueError("uid must be 1 to 10 bytes of hex")
        self.tap(bytes.fromhex(value))

    def remove(self) -> None:
        """Take the card away."""
        with self._cond:
            self._card, self._polls_left = None, None
            self._cond.notify_all()

    def stop_answering(self) -> None:
        """From now on polls block and opens fail, like a wedged or unplugged reader."""
        with self._cond:
            self._answering = False

    def resume(self) -> None:
        """Answer again; polls blocked meanwhile return (their results are stale)."""
        with self._cond:
            self._answering = True
            self._cond.notify_all()

    def fail_polls(self, count: int) -> None:
        """The next `count` polls raise OSError at once, like a reader returning errors."""
        with self._cond:
            self._failures_left = count

    @property
    def is_open(self) -> bool:
        """Whether a reader holds an open session on this frontend."""
        with self._cond:
            return self._sessions > 0

    def wait_for_polls(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` polls have been answered in total; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.polls >= count, timeout)

    def _place(self, target: NfcTarget, polls: int | None) -> None:
        if target.kind not in TARGET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(TARGET_KINDS)}")
        if len(target.uid) not in UID_LENGTHS[target.kind]:
            raise ValueError(f"a {target.kind} identifier cannot be {len(target.uid)} bytes")
        with self._cond:
            self._card, self._polls_left = target, polls
            self._cond.notify_all()

    # -- NfcFrontend -----------------------------------------------------------------

    def open(self, path: str) -> None:
        with self._cond:
            if not self._answering:
                raise OSError(errno.EIO, "simulated frontend is not answering")
            self.opens += 1
            self._sessions += 1
            self.path = path

    def poll(self, timeout: float) -> NfcTarget | None:
        with self._cond:
            if self._sessions <= 0:
                raise OSError(errno.ENODEV, "simulated frontend is not open")
            if not self._answering:
                self._hang()
            if self._failures_left > 0:
                self._failures_left -= 1
                raise OSError(errno.EIO, "simulated poll error")
            deadline = time.monotonic() + timeout
            # Wake as soon as a card is placed, so simulated taps are seen at once.
            while self._card is None and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return self._answer()

    def close(self) -> None:
        with self._cond:
            self._sessions = max(0, self._sessions - 1)

    def _hang(self) -> None:
        if not self._cond.wait_for(lambda: self._answering, HANG_LIMIT_S):
            raise OSError(errno.ETIMEDOUT, "simulated frontend hung")

    def _answer(self) -> NfcTarget | None:
        card = self._card
        if card is not None and self._polls_left is not None:
            self._polls_left -= 1
            if self._polls_left <= 0:
                self._card, self._polls_left = None, None
        self.polls += 1
        self._cond.notify_all()
        return card


class SimulatedNfcReader(NfcReader):
    """An NfcReader on a SimulatedNfcFrontend, for the simulated backend: the simulation
    API's `present_card(uid)` taps a card on `frontend`."""

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        clock: Clock,
        frontend: SimulatedNfcFrontend | None = None,
        **tuning: Any,
    ) -> None:
        self.frontend = frontend or SimulatedNfcFrontend()
        super().__init__(settings, loop, sink, lambda: self.frontend, clock, **tuning)

    def present_card(self, uid: str) -> None:
        """Tap a card (hex UID in reader order); ValueError for a malformed UID."""
        self.frontend.present_card(uid)

    def status(self) -> dict[str, Any]:
        return {**super().status(), "backend": "simulated"}
