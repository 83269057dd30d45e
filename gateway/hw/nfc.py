"""NFC readers through nfcpy: PN532 (UART, USB), ACR122U, RC-S380 and nfcpy's udp driver.

nfcpy is blocking, so each reader polls on a thread of its own and hands credentials to the
event loop with `call_soon_threadsafe`. Only the card's identifier is read (ISO 14443-A
NFCID1, ISO 14443-B NFCID0, FeliCa IDm): the reader senses, it never activates a tag, so
any card answering anticollision works and nothing on the card is written or trusted.

Each frontend's calls run on a further "worker" thread so a call that hangs (a USB reader
unplugged mid-command, a wedged UART) can be abandoned: the reader goes offline with the
reason, opens a fresh frontend after a back-off, and counts the reopen (docs/readers.md).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.cardnumbers import reader_canonical
from gateway.clock import Clock
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.model import Credential
from gateway.settings import ReaderSettings

log = logging.getLogger(__name__)

TargetKind = Literal["106A", "106B", "212F"]
TARGET_KINDS: tuple[TargetKind, ...] = ("106A", "106B", "212F")

POLL_S = 1.0  # one poll call; also how long a stop request may wait on a healthy frontend
REST_S = 0.1  # pause after a poll that found a card, so a held card is not sensed flat out
SENSE_INTERVAL_S = 0.1  # nfcpy sense rounds at most this often (RF field off in between)
HANG_AFTER_S = 5.0  # a poll this much longer than asked for counts as a hung frontend
OPEN_DEADLINE_S = 15.0  # PN532 over UART may take seconds to wake and answer
MAX_POLL_ERRORS = 3  # errors in a row before the frontend is closed and reopened
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0
CLOSE_WAIT_S = 1.5
RECENT_READS = 20


@dataclass(frozen=True)
class NfcTarget:
    """One card a frontend found: its technology and its identifier in reader order.

    kind: "106A" (ISO 14443-A, uid = NFCID1 of 4, 7 or 10 bytes), "106B" (ISO 14443-B,
    uid = NFCID0, 4 bytes) or "212F" (FeliCa, uid = IDm, 8 bytes). An empty uid means
    the target answered without an identifier (e.g. a Type 1 / Topaz tag).
    """

    kind: TargetKind
    uid: bytes


class NfcFrontend(Protocol):
    """The seam to a contactless frontend. Calls may block; NfcReader runs them on a
    thread of their own and never calls two at once."""

    def open(self, path: str) -> None:
        """Open the device at `path`; raise (OSError, ValueError, ...) when it cannot."""

    def poll(self, timeout: float) -> NfcTarget | None:
        """Sense for up to `timeout` seconds; the first target found, or None."""

    def close(self) -> None:
        """Release the device. Must not raise."""


def target_from_nfcpy(target: Any) -> NfcTarget | None:
    """The kind and identifier of an nfcpy RemoteTarget, or None for one we never ask for."""
    brty = str(target.brty)
    if brty.endswith("A"):
        return NfcTarget("106A", bytes(target.sdd_res or b""))
    if brty.endswith("B"):
        sensb_res = bytes(target.sensb_res or b"")
        # SENSB_RES: 50h, NFCID0 (4 bytes), application data, protocol info.
        return NfcTarget("106B", sensb_res[1:5] if len(sensb_res) >= 12 else b"")
    if brty.endswith("F"):
        sensf_res = bytes(target.sensf_res or b"")
        # SENSF_RES: response code 01h, IDm (8 bytes), PMm, optional system code.
        return NfcTarget("212F", sensf_res[1:9] if len(sensf_res) >= 17 else b"")
    return None


class NfcpyFrontend:
    """A real frontend: nfcpy's ContactlessFrontend on a device path ("usb",
    "usb:072f:2200", "tty:S0:pn532", "udp:HOST:PORT", ...). nfcpy 1.0.4 has no I2C
    transport: a PN532 breakout must be wired for UART (HSU)."""

    def __init__(self, sense_interval_s: float = SENSE_INTERVAL_S) -> None:
        self._clf: Any = None
        self._interval_s = sense_interval_s

    def open(self, path: str) -> None:
        # nfcpy (about 3.7 MiB resident) is imported by the real frontend alone: a daemon
        # with no NFC reader, or a simulated one, never holds it.
        import nfc

        clf = nfc.ContactlessFrontend()
        if not clf.open(path):
            raise OSError(errno.ENODEV, "no reader found")
        self._clf = clf

    def poll(self, timeout: float) -> NfcTarget | None:
        # One sense round per call (iterations=1) and our own pacing, so a slow driver (udp
        # waits 1 s per technology) still returns after about one round, not `iterations`.
        if self._clf is None:
            raise OSError(errno.ENODEV, "the NFC frontend is not open")
        deadline = time.monotonic() + timeout
        while True:
            started = time.monotonic()
            import nfc.clf  # loaded by open()

            targets = [nfc.clf.RemoteTarget(kind) for kind in TARGET_KINDS]
            found = self._clf.sense(*targets, iterations=1)
            if found is not None:
                return target_from_nfcpy(found)
            next_round = max(started + self._interval_s, time.monotonic())
            if next_round >= deadline:
                return None
            time.sleep(max(0.0, next_round - time.monotonic()))

    def close(self) -> None:
        clf, self._clf = self._clf, None
        if clf is not None:
            try:
                clf.close()
            except Exception:  # closing a device that is already gone is not news
                log.debug("closing the NFC frontend failed", exc_info=True)


class FrontendHung(Exception):
    """A frontend call did not return within its deadline."""


class _Stopped(Exception):
    """The reader is closing."""


class _Worker:
    """One frontend and the thread its blocking calls run on.

    A call that overruns its deadline cannot be interrupted, so the worker is then retired:
    it closes its frontend once that call returns and ends, while the reader carries on
    with a fresh frontend and worker.
    """

    def __init__(self, frontend: NfcFrontend, name: str) -> None:
        self.frontend = frontend
        self._jobs: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._results.put(("ok", job()))
            except Exception as exc:  # handed to the caller, who decides
                self._results.put(("error", exc))

    def call(self, job: Callable[[], Any], deadline_s: float) -> Any:
        """`job()` on the worker thread; raises FrontendHung, _Stopped or job's error."""
        self._jobs.put(job)
        try:
            outcome, value = self._results.get(timeout=deadline_s)
        except queue.Empty:
            raise FrontendHung from None
        if outcome == "stop":
            raise _Stopped
        if outcome == "error":
            raise value
        return value

    def interrupt(self) -> None:
        """Make a pending (or the next) call() raise _Stopped at once."""
        self._results.put(("stop", None))

    def retire(self) -> None:
        """Close the frontend after the running call, if any, then end the thread."""
        self._jobs.put(self.frontend.close)
        self._jobs.put(None)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


Sighting = Literal["new", "held", "debounced"]
_NEVER = -math.inf  # "away since" of a card never seen: away for ever


class PresenceTracker:
    """Which cards are in the field, so a card left on the reader counts once.

    A card counts again only after it has been away `debounce_s`. "Away" is measured from
    the first answered poll that did not see it, on a monotonic clock: a poll that failed
    says nothing about the card, and a slow poll cycle must not look like an absence.
    """

    def __init__(self, debounce_s: float) -> None:
        self._debounce_s = debounce_s
        self._away_since: dict[NfcTarget, float | None] = {}

    def observe(self, target: NfcTarget | None, now: float) -> Sighting:
        """Record one answered poll and say what `target` (if any) is: a "new"
        presentation, still "held", or "debounced" (back before `debounce_s` away)."""
        sighting: Sighting = "held"
        if target is not None:
            since = self._away_since.get(target, _NEVER)
            if self._gone(since, now):
                sighting = "new"
            elif since is not None:
                sighting = "debounced"
            self._away_since[target] = None
        for other, since in list(self._away_since.items()):
            if other == target:
                continue
            if since is None:
                self._away_since[other] = now
            elif self._gone(since, now):
                del self._away_since[other]
        return sighting

    def _gone(self, since: float | None, now: float) -> bool:
        return since is not None and now - since >= self._debounce_s

    def present(self) -> list[NfcTarget]:
        """Cards the last answered poll saw."""
        return [t for t, since in self._away_since.items() if since is None]


@dataclass
class NfcStats:
    """Counters and recent reads for status(); guarded by NfcReader._lock."""

    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    debounced: int = 0
    reopens: int = 0
    open_failures: int = 0
    poll_errors: int = 0
    last_poll: float | None = None

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class NfcReader:
    """A card reader on an nfcpy frontend (`kind` nfc).

    One presentation of a card gives one card credential whose value is the identifier
    after `card_byte_order` and `card_bytes` (gateway.cardnumbers.reader_canonical).
    `frontend_factory` makes a frontend for each (re)open; `clock` stamps reads (wall) and
    times the presence debounce (monotonic).
    """

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        frontend_factory: Callable[[], NfcFrontend],
        clock: Clock,
        *,
        poll_s: float = POLL_S,
        hang_after_s: float = HANG_AFTER_S,
        backoff_s: tuple[float, float] = (BACKOFF_FIRST_S, BACKOFF_MAX_S),
    ) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._loop, self._sink, self._factory = loop, sink, frontend_factory
        self._clock = clock
        self._poll_s, self._hang_after_s = poll_s, hang_after_s
        self._backoff_first, self._backoff_max = backoff_s
        self._backoff = self._backoff_first
        self._presence = PresenceTracker(settings.debounce_s)
        self._health = ReaderHealth(online=False)
        self._offline_reason: str | None = "not started"
        self.stats = NfcStats()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_READS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: _Worker | None = None
        self._workers_started = 0
        self._thread = threading.Thread(target=self._run, name=f"nfc-{self.name}", daemon=True)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start polling on a thread of its own."""
        self._set_offline("opening the frontend")
        self._thread.start()

    def close(self) -> None:
        """Stop polling and release the frontend; returns within about CLOSE_WAIT_S even
        if the frontend hangs (the hung call then finishes in the background)."""
        with self._lock:
            self._stop.set()
            worker = self._worker
        if worker is not None:
            worker.interrupt()
        deadline = time.monotonic() + CLOSE_WAIT_S
        if self._thread.is_alive():
            self._thread.join(CLOSE_WAIT_S)
        if worker is not None:
            # Give a healthy frontend time to finish its poll and release the device, so a
            # restarted reader can open it again at once.
            worker.join(max(0.0, deadline - time.monotonic()))
        self._set_offline("closed")

    # -- the polling thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except _Stopped:
                return
            except Exception as exc:  # the thread must outlive any bug below it
                log.exception("NFC reader %s: unexpected error", self.name)
                self._set_offline(f"unexpected error: {exc}")
            self._stop.wait(self._next_backoff())

    def _session(self) -> None:
        """Open a frontend and poll it until it fails or the reader closes."""
        worker = self._new_worker()
        try:
            if self._open(worker):
                self._poll_loop(worker)
        finally:
            worker.retire()

    def _new_worker(self) -> _Worker:
        frontend = self._factory()
        self._workers_started += 1
        worker = _Worker(frontend, f"nfc-{self.name}-frontend-{self._workers_started}")
        with self._lock:
            self._worker = worker
            stopping = self._stop.is_set()
        if stopping:  # close() may have interrupted the previous worker, not this one
            worker.retire()
            raise _Stopped
        return worker

    def _open(self, worker: _Worker) -> bool:
        device = self.settings.device
        try:
            worker.call(lambda: worker.frontend.open(device), OPEN_DEADLINE_S)
        except FrontendHung:
            reason = f"opening {device!r} did not finish within {OPEN_DEADLINE_S:g} s"
        except _Stopped:
            raise
        except Exception as exc:
            reason = f"cannot open {device!r}: {exc}"
        else:
            log.info("NFC reader %s: frontend %r open", self.name, device)
            return True
        log.warning("NFC reader %s: %s", self.name, reason)
        with self._lock:
            self.stats.open_failures += 1
            self._health.online, self._offline_reason = False, reason
        return False

    def _poll_loop(self, worker: _Worker) -> None:
        errors = 0
        poll_s, deadline_s = self._poll_s, self._poll_s + self._hang_after_s
        while not self._stop.is_set():
            try:
                found = worker.call(lambda: worker.frontend.poll(poll_s), deadline_s)
            except FrontendHung:
                self._failed(f"the frontend stopped answering (no reply in {deadline_s:g} s)")
                return
            except _Stopped:
                raise
            except Exception as exc:
                errors += 1
                if self._poll_error(exc, errors):
                    return
                self._stop.wait(REST_S)
                continue
            errors = 0
            self._answered(found)
            if found is not None:
                self._stop.wait(REST_S)

    def _poll_error(self, exc: Exception, errors: int) -> bool:
        """Count a failed poll; True when the frontend should be reopened."""
        with self._lock:
            self.stats.poll_errors += 1
        log.debug("NFC reader %s: poll failed: %s", self.name, exc)
        if errors < MAX_POLL_ERRORS:
            return False
        self._failed(f"{errors} polls failed in a row, last: {exc}")
        return True

    def _failed(self, reason: str) -> None:
        log.warning("NFC reader %s: %s; reopening the frontend", self.name, reason)
        with self._lock:
            self.stats.reopens += 1
            self._health.online, self._offline_reason = False, reason

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self._backoff_max, delay * 2)
        return delay

    # -- what a poll found -----------------------------------------------------------

    def _answered(self, found: NfcTarget | None) -> None:
        now = self._clock.time()
        self._backoff = self._backoff_first
        with self._lock:
            self.stats.last_poll = now
            came_back = not self._health.online
            self._health.online, self._offline_reason = True, None
            sighting = self._presence.observe(found, self._clock.monotonic())
            if found is not None:
                self._health.last_seen = now
            if found is not None and sighting == "debounced":
                self.stats.debounced += 1
                self._recent.append(_record(found, now, "debounced"))
        if came_back:
            log.info("NFC reader %s: online", self.name)
        if found is not None and sighting == "new":
            self._presented(found, now)

    def _presented(self, target: NfcTarget, now: float) -> None:
        reason, uid_hex = _reject_reason(target), target.uid.hex().upper()
        with self._lock:
            self._recent.append(_record(target, now, reason or "accepted"))
            if reason is not None:
                self.stats.reject(reason)
            else:
                self.stats.accepted += 1
        if reason is not None:
            log.info("NFC reader %s: %s %s rejected: %s", self.name, target.kind, uid_hex, reason)
            return
        settings = self.settings
        value = reader_canonical(target.uid, settings.card_byte_order, settings.card_bytes)
        credential = Credential("card", value, self.name, now, raw=uid_hex)
        try:
            self._loop.call_soon_threadsafe(self._deliver, credential)
        except RuntimeError:  # the loop is closed: the daemon is shutting down
            log.debug("NFC reader %s: loop closed, read dropped", self.name)

    def _deliver(self, credential: Credential) -> None:
        # Runs on the event loop; a read that raced close() is not delivered.
        if not self._stop.is_set():
            self._sink.credential(credential)

    # -- status ----------------------------------------------------------------------

    def _set_offline(self, reason: str) -> None:
        with self._lock:
            self._health.online, self._offline_reason = False, reason

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "kind": self.kind,
                "door": self.settings.door,
                "direction": self.settings.direction,
                "online": self._health.online,
                "offline_reason": self._offline_reason,
                "device": self.settings.device,
                "last_seen": self._health.last_seen,
                "last_poll": self.stats.last_poll,
                "frames_accepted": self.stats.accepted,
                "frames_rejected": dict(self.stats.rejected),
                "frames_debounced": self.stats.debounced,
                "reopens": self.stats.reopens,
                "open_failures": self.stats.open_failures,
                "poll_errors": self.stats.poll_errors,
                "present": [t.uid.hex().upper() for t in self._presence.present()],
                "recent": [dict(r) for r in self._recent],
            }


def _record(target: NfcTarget, now: float, result: str) -> dict[str, Any]:
    """One entry of status()["recent"]."""
    return {"target": target.kind, "uid": target.uid.hex().upper(), "time": now, "result": result}


def _reject_reason(target: NfcTarget) -> str | None:
    """Why a presented target gives no credential, or None when it does."""
    if not target.uid:
        return "no_uid"
    if target.kind == "106A" and len(target.uid) == 4 and target.uid[0] == 0x08:
        # ISO 14443-3: a single-size NFCID1 starting 08h is random, new at every
        # presentation (phones, some DESFire setups): it can never identify anyone.
        return "random_uid"
    return None
