"""OSDP v2 readers (`kind = "osdp"`): what a peripheral device (PD) on an RS-485 bus
reports, turned into credentials, key presses and journal events.

The bus itself (libosdp's control panel on a serial port, one per port) is behind
`OsdpBusLink` (gateway.hw.osdp_bus); this module never imports libosdp, so a machine
without it still starts and shows the reader offline with the reason. The bus's thread
reports PD states and events through a `BusListener`; `OsdpReader` hands each to the
event loop with `call_soon_threadsafe` (DESIGN.md, habit 4), and the decision path
never waits for the bus: feedback commands are queued to the bus's thread.

Fail closed: a credential counts only while the PD talks over Secure Channel with its own
key (never the default SCBK-D of install mode). Supervision rules are in `PdSupervisor`,
which only looks at states and a monotonic time, so tests step it without a bus.
See docs/osdp.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.cardnumbers import reader_canonical
from gateway.clock import Clock
from gateway.hw.formats import FormatRegistry
from gateway.hw.reader_base import ReaderHealth, ReaderSink
from gateway.hw.serial_rfid import card_number_bytes
from gateway.model import Credential, Event, EventType
from gateway.settings import ReaderSettings

log = logging.getLogger(__name__)

SUPERVISE_EVERY_S = 0.5  # how often the loop looks at the PD's state for timeouts
ANSWERING_WITHIN_S = 2.0  # a PD that replied this recently answers (bus-side measure)
SC_REFUSED_AFTER_S = 3.0  # answering but without Secure Channel this long: refused
RECENT_READS = 20
# OSDP keypad codes (SIA OSDP 2.2, osdp_KEYPAD): 0x7F is `*`, 0x0D is `#`; some PDs
# send the ASCII characters instead.
KEY_CODES = {0x7F: "*", 0x0D: "#", ord("*"): "*", ord("#"): "#"} | {ord(d): d for d in "0123456789"}

LedColour = Literal["green", "red", "amber", "off"]
VERDICTS = {"granted": "ACCESS GRANTED", "denied": "ACCESS DENIED"}  # on a PD's display


# -- what the bus reports ---------------------------------------------------------------


@dataclass(frozen=True)
class PdState:
    """One PD as the control panel sees it."""

    online: bool = False
    secure: bool = False  # Secure Channel active
    default_key: bool = False  # ... with the well-known SCBK-D (install mode)
    answering: bool = False  # it replied on the bus within ANSWERING_WITHIN_S
    has_text: bool = False  # it reported a text display (capability)
    bus_error: str | None = None  # the port cannot be opened / failed

    @property
    def trusted(self) -> bool:
        """Online over Secure Channel with its own key: its reads may open a door."""
        return self.online and self.secure and not self.default_key


@dataclass(frozen=True)
class CardRead:
    """osdp_RAW or osdp_FMT: `bits` significant bits of `data` (MSB first), or text."""

    format: Literal["wiegand", "raw", "ascii"]
    bits: int
    data: bytes


@dataclass(frozen=True)
class KeyPress:
    """osdp_KEYPAD: the keys in the order pressed."""

    data: bytes


@dataclass(frozen=True)
class LocalStatus:
    """osdp_LSTATR: the PD's tamper switch and power supply."""

    tamper: bool
    power_failure: bool


BusEvent = CardRead | KeyPress | LocalStatus


@dataclass(frozen=True)
class Led:
    """Reader LED (osdp_LED, permanent state)."""

    colour: LedColour


@dataclass(frozen=True)
class Buzzer:
    """Reader beeper (osdp_BUZ): on until told off."""

    on: bool


@dataclass(frozen=True)
class Text:
    """A line on the PD's display (osdp_TEXT), where it has one."""

    text: str


PdCommand = Led | Buzzer | Text


@dataclass(frozen=True)
class PdSetup:
    """What the control panel needs for one PD. `scbk` is a secret: never logged."""

    name: str
    address: int
    scbk: bytes = field(repr=False)
    install: bool


class BusListener(Protocol):
    """What a bus tells one PD's reader; called on the bus's thread."""

    def bus_state(self, state: PdState) -> None: ...

    def bus_event(self, event: BusEvent) -> None: ...


class OsdpBusLink(Protocol):
    """One control panel on one port (gateway.hw.osdp_bus.OsdpBus)."""

    @property
    def path(self) -> str: ...

    def attach(self, setup: PdSetup, listener: BusListener) -> None: ...

    def start(self) -> None: ...

    def submit(self, address: int, command: PdCommand) -> None: ...

    def detach(self, address: int) -> None: ...


# -- supervision ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something the journal must hear about one PD."""

    type: EventType
    reason: str


class PdSupervisor:
    """Turns PD states over time into findings, each once per episode:

    - Secure Channel lost while the PD still answers (a MAC failure, a downgrade):
      `alarm osdp_secure_channel_lost`;
    - the PD answers but does not come up over Secure Channel with its own key within
      `SC_REFUSED_AFTER_S` (it refuses SC, has another key, or stays on SCBK-D):
      `alarm osdp_secure_channel_refused`;
    - offline (the panel says so, or no reply on the bus) for longer than
      `offline_after_s`: `reader osdp_offline` and `alarm osdp_offline`; back with
      Secure Channel: `reader osdp_online`.
    """

    def __init__(self, offline_after_s: float, now: float) -> None:
        self._offline_after_s = offline_after_s
        self.state = PdState()
        self._untrusted_since = now  # not trusted since then
        self._offline_since: float | None = now
        self._offline_reported = False
        self._sc_alarmed = False
        self._was_trusted = False

    def update(self, state: PdState, now: float) -> list[Finding]:
        """A new state from the bus."""
        before, self.state = self.state, state
        findings: list[Finding] = []
        if state.trusted and not before.trusted:
            if self._offline_reported:
                findings.append(Finding("reader", "osdp_online"))
            self._offline_reported = self._sc_alarmed = False
            self._was_trusted = True
        elif before.trusted and not state.trusted:
            self._untrusted_since = now
            if state.answering and not self._sc_alarmed:
                findings.append(Finding("alarm", "osdp_secure_channel_lost"))
                self._sc_alarmed = True
        if state.online and state.answering:
            self._offline_since = None
        elif self._offline_since is None:
            self._offline_since = now
        return findings + self.tick(now)

    def tick(self, now: float) -> list[Finding]:
        """Time passed: the timeouts."""
        findings: list[Finding] = []
        state = self.state
        if (
            not state.trusted
            and not self._sc_alarmed
            and state.answering
            and now - self._untrusted_since >= SC_REFUSED_AFTER_S
        ):
            findings.append(Finding("alarm", "osdp_secure_channel_refused"))
            self._sc_alarmed = True
        offline_since = self._offline_since
        if (
            offline_since is not None
            and not self._offline_reported
            and now - offline_since >= self._offline_after_s
        ):
            findings += [Finding("reader", "osdp_offline"), Finding("alarm", "osdp_offline")]
            self._offline_reported = True
        return findings

    @property
    def pending(self) -> bool:
        """A timeout may still fire: `tick` has something to look at. A PD trusted and
        answering has none (nothing to tick for at rest)."""
        state = self.state
        sc_pending = state.answering and not state.trusted and not self._sc_alarmed
        offline_pending = self._offline_since is not None and not self._offline_reported
        return sc_pending or offline_pending

    @property
    def offline_reported(self) -> bool:
        return self._offline_reported

    @property
    def sc_alarmed(self) -> bool:
        return self._sc_alarmed


# -- decoding ---------------------------------------------------------------------------


def card_bits(read: CardRead) -> str:
    """The significant bits of a raw read as a string of 0 and 1 (MSB first)."""
    bits = "".join(f"{byte:08b}" for byte in read.data)
    return bits[: read.bits]


def pack_bits(bits: str) -> bytes:
    """A string of 0 and 1 as the bytes a PD sends (MSB first, zero-padded)."""
    padded = bits + "0" * (-len(bits) % 8)
    return bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))


def decode_keys(data: bytes) -> tuple[str, int]:
    """The keys of a keypad report, and how many bytes were not keys."""
    keys = [KEY_CODES[b] for b in data if b in KEY_CODES]
    return "".join(keys), len(data) - len(keys)


@dataclass
class OsdpStats:
    """Counters and recent reads for status(); touched on the loop only."""

    rejected: dict[str, int] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_READS))

    def reject(self, reason: str, now: float, raw: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self.recent.append({"time": now, "raw": raw, "parsed": None, "result": reason})


# -- the reader -------------------------------------------------------------------------


class OsdpReader:
    """One PD on an OSDP bus (`kind` "osdp").

    `emit` journals supervision events; `scbk` is the reader's key (loaded or made by
    the caller, see gateway.hw.osdp_keys); `formats` decodes raw card reads.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        loop: asyncio.AbstractEventLoop,
        sink: ReaderSink,
        clock: Clock,
        bus: OsdpBusLink,
        emit: Callable[[Event], None],
        scbk: bytes,
        formats: FormatRegistry,
    ) -> None:
        self.name, self.kind = settings.name, settings.kind
        self.settings = settings
        self._loop, self._sink, self._clock = loop, sink, clock
        self._bus, self._emit, self._formats = bus, emit, formats
        self._setup = PdSetup(settings.name, settings.osdp_address, scbk, settings.install)
        self._supervisor = PdSupervisor(settings.offline_after_s, clock.monotonic())
        self._health = ReaderHealth(online=False)
        self._stats = OsdpStats()
        self._tamper = False
        self._power_failure = False
        self._own_key_in_install = False
        self._feedback: tuple[LedColour, bool, str] = ("off", False, "idle")
        self._ticking: asyncio.TimerHandle | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Join the bus (its control panel starts once every reader of the port joined)."""
        self._bus.attach(self._setup, _LoopListener(self._loop, self))
        self._bus.start()
        self._tick_while_pending()

    def close(self) -> None:
        """Leave the bus (the last reader of a port to leave stops its control panel)."""
        self._closed = True
        if self._ticking is not None:
            self._ticking.cancel()
        self._bus.detach(self._setup.address)

    # -- from the bus (on the loop) -------------------------------------------------------

    def on_state(self, state: PdState) -> None:
        """The PD's state changed."""
        if state.trusted and not self._supervisor.state.trusted:
            self._own_key_in_install = self._setup.install
            # A PD coming (back) online shows nothing: give it the LED it should show now.
            if self._feedback[0] != "off":
                self._bus.submit(self._setup.address, Led(self._feedback[0]))
        self._health.online = state.trusted and state.answering
        if self._health.online:
            self._health.last_seen = self._clock.time()
        self._journal(self._supervisor.update(state, self._clock.monotonic()))
        self._tick_while_pending()

    def on_event(self, event: BusEvent) -> None:
        """A report from the PD."""
        now = self._clock.time()
        self._health.last_seen = now
        if isinstance(event, LocalStatus):
            self._local_status(event)
        elif not self._supervisor.state.trusted:
            # Fail closed: without Secure Channel and its own key, what it read may have
            # been injected or read off the wire; say so, never decide on it.
            self._stats.reject("insecure", now, _describe(event))
            self._journal([Finding("alarm", "osdp_insecure_read")])
        elif isinstance(event, CardRead):
            self._card(event, now)
        else:
            self._keys(event, now)

    def _tick(self) -> None:
        self._ticking = None
        if self._closed:
            return
        self._journal(self._supervisor.tick(self._clock.monotonic()))
        self._tick_while_pending()

    def _tick_while_pending(self) -> None:
        """Look at the timeouts every `SUPERVISE_EVERY_S` while one may fire; a reader
        trusted and answering needs no timer (a change of state restarts it)."""
        if self._ticking is None and not self._closed and self._supervisor.pending:
            self._ticking = self._loop.call_later(SUPERVISE_EVERY_S, self._tick)

    # -- reads ----------------------------------------------------------------------------

    def _card(self, read: CardRead, now: float) -> None:
        if read.format == "ascii":
            text = read.data.decode("ascii", "replace").strip()
            uid = card_number_bytes(text)
            if uid is None:
                self._stats.reject("card_number", now, _describe(read))
                return
            value = reader_canonical(uid, "normal", 0)
            raw = text
        else:
            bits = card_bits(read)
            result = self._formats.decode(bits, self.settings.formats)
            if result.card is None:
                self._stats.reject(result.reason, now, bits)
                return
            value, raw = result.card, bits
        self._health.accepted += 1
        self._stats.recent.append({"time": now, "raw": raw, "parsed": value, "result": "accepted"})
        self._sink.credential(Credential("card", value, self.name, now, raw=raw))

    def _keys(self, press: KeyPress, now: float) -> None:
        keys, unknown = decode_keys(press.data)
        if unknown:
            self._stats.rejected["key_code"] = self._stats.rejected.get("key_code", 0) + unknown
        for key in keys:
            self._sink.key(self.name, key, now)
        if keys:
            self._health.accepted += 1
            # A PIN is a secret: the record keeps how many keys, never which.
            self._stats.recent.append(
                {"time": now, "raw": "*" * len(keys), "parsed": None, "result": "keys"}
            )

    def _local_status(self, status: LocalStatus) -> None:
        findings = []
        if status.tamper != self._tamper:
            findings.append(
                Finding("alarm", "osdp_tamper")
                if status.tamper
                else Finding("reader", "osdp_tamper_cleared")
            )
        if status.power_failure != self._power_failure:
            reason = "osdp_power_failure" if status.power_failure else "osdp_power_restored"
            findings.append(Finding("reader", reason))
        self._tamper, self._power_failure = status.tamper, status.power_failure
        self._journal(findings)

    def _journal(self, findings: list[Finding]) -> None:
        for finding in findings:
            log.warning("OSDP reader %s: %s", self.name, finding.reason)
            self._emit(
                Event(
                    finding.type,
                    self._clock.time(),
                    door=self.settings.door,
                    reader=self.name,
                    reason=finding.reason,
                )
            )

    # -- feedback -------------------------------------------------------------------------

    def show_feedback(self, led: LedColour, beeper: bool, pattern: str) -> None:
        """Mirror the reader's feedback (gateway.feedback) on the PD: queued to the bus,
        so the decision never waits for it. A PD with a display also shows the verdict."""
        address = self._setup.address
        last_led, last_beeper, last_pattern = self._feedback
        if led != last_led:
            self._bus.submit(address, Led(led))
        if beeper != last_beeper:
            self._bus.submit(address, Buzzer(beeper))
        if pattern != last_pattern and pattern in VERDICTS and self._supervisor.state.has_text:
            self._bus.submit(address, Text(VERDICTS[pattern]))
        self._feedback = (led, beeper, pattern)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        state = self._supervisor.state
        return {
            "kind": self.kind,
            "door": self.settings.door,
            "direction": self.settings.direction,
            "port": self.settings.port,
            "device_path": self._bus.path,
            "osdp_address": self._setup.address,
            "online": self._health.online,
            "offline_reason": self._offline_reason(state),
            "secure_channel": state.online and state.secure,
            "key": ("default SCBK-D" if state.default_key else "own") if state.secure else None,
            "install_mode": self._setup.install,
            "warning": self._warning(),
            "tamper": self._tamper,
            "power_failure": self._power_failure,
            "last_seen": self._health.last_seen,
            "frames_accepted": self._health.accepted,
            "frames_rejected": dict(self._stats.rejected),
            "recent": list(self._stats.recent),
        }

    def _offline_reason(self, state: PdState) -> str | None:
        if state.trusted and state.answering:
            return None
        if state.bus_error:
            return state.bus_error
        if state.online and state.secure and state.default_key:
            return "on the default key SCBK-D: its own key is being set"
        if state.online and not state.secure:
            return "online WITHOUT Secure Channel: its reads are refused"
        if self._supervisor.sc_alarmed:
            return "answers, but Secure Channel failed (wrong key, or SC refused)"
        return "no answer from the PD (wiring, address, baud rate, power?)"

    def _warning(self) -> str | None:
        if not self._setup.install:
            return None
        if self._own_key_in_install:
            return "install mode is on: the reader has its own key now, set install = false"
        return "install mode is on: the default key SCBK-D is accepted to set the reader's key"


def _describe(event: BusEvent) -> str:
    """A refused report as diagnostics show it: a card's bit count, never key values."""
    if isinstance(event, CardRead):
        return f"{event.format} card, {event.bits} bits"
    if isinstance(event, KeyPress):
        return f"{len(event.data)} keys"
    return "status"


class _LoopListener:
    """Hands what the bus's thread reports to the reader on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reader: OsdpReader) -> None:
        self._loop, self._reader = loop, reader

    def bus_state(self, state: PdState) -> None:
        self._call(self._reader.on_state, state)

    def bus_event(self, event: BusEvent) -> None:
        self._call(self._reader.on_event, event)

    def _call(self, method: Callable[[Any], None], argument: object) -> None:
        try:
            self._loop.call_soon_threadsafe(_guarded, method, argument)
        except RuntimeError:  # the loop is closed: the daemon is stopping
            log.debug("OSDP: loop closed, report dropped")


def _guarded(method: Callable[[Any], None], argument: object) -> None:
    try:
        method(argument)
    except Exception:
        log.exception("OSDP reader failed on a report")
