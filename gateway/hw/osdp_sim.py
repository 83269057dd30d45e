"""The simulated OSDP reader: libosdp's PD side on a pseudo-terminal pair, under the real
control panel (gateway.hw.osdp_bus) on the pty's other end.

Only the PD is simulated; the port, libosdp's control panel, Secure Channel and the
reader driver are the production code. The PD keeps what the panel told it (LED, buzzer,
text, a new key) for tests and the simulation API to look at, and `/sim/card` and
`/sim/keys` make it report a card read (as the Wiegand bits of the reader's first
format that fits the UID) or key presses (OSDP keypad codes).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import tempfile
import threading
import tty
from dataclasses import dataclass, field
from typing import Any

import osdp
import osdp_sys

from gateway.hw.formats import FormatRegistry
from gateway.hw.osdp_bus import OsdpBus
from gateway.hw.osdp_reader import BusListener, PdCommand, PdSetup, pack_bits
from gateway.hw.reader_base import NotSimulated
from gateway.hw.sim_drivers import NoInput, parse_uid
from gateway.settings import ReaderSettings

PD_CAPABILITIES = [
    (osdp.Capability.CommunicationSecurity, 1, 1),
    (osdp.Capability.LEDControl, 1, 1),
    (osdp.Capability.AudibleControl, 1, 1),
    (osdp.Capability.TextOutput, 1, 1),
    (osdp.Capability.CardDataFormat, 1, 1),
]
OSDP_KEYS = {"*": 0x7F, "#": 0x0D}
TIMERS_EVERY_S = 1.0  # a quiet line: how often the PD still looks at its own timers


class FdChannel(osdp.Channel):  # type: ignore[misc]
    """libosdp's channel on a non-blocking file descriptor (the pty master)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.reads = 0  # how often libosdp looked at the line

    def read(self, max_bytes: int) -> bytes:
        self.reads += 1
        try:
            return os.read(self._fd, max_bytes)
        except OSError:  # nothing to read (EAGAIN), or the pty is gone
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return os.write(self._fd, bytes(buf))
        except BlockingIOError:
            return 0
        except OSError:
            return -1

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._fd, 4096):
                pass


@dataclass
class PdSeen:
    """What the control panel told the simulated PD, newest last."""

    commands: list[dict[str, Any]] = field(default_factory=list)


class SimulatedPd:
    """A PD at `address` on a new pty pair; the panel opens `port_path`.

    `scbk` None with `install=True` is a factory-new PD: it accepts the default key
    once, then the key the panel sets (libosdp's PD always does Secure Channel).
    `start` powers it on, `stop` off; `present_wiegand`, `press_keys`, `report_local`
    play the PD's side. The line is served by `step` (libosdp's PD reads what the panel
    sent and answers): from the panel's own thread (`start(own_thread=False)`, the
    simulated bus: one wake-up per poll for both ends), or from a thread of the PD's
    that steps when the panel sends something (a PD only ever answers) and once a
    second for its own timers."""

    def __init__(
        self,
        address: int,
        scbk: bytes | None,
        *,
        install: bool = False,
        name: str = "ttyOSDP0",
    ) -> None:
        self._dir = tempfile.mkdtemp(prefix="door-gateway-osdp-")
        self.port_path = os.path.join(self._dir, name)
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        os.symlink(os.ttyname(slave), self.port_path)
        self._master, self._slave = master, slave  # the slave stays open between reopens
        self.seen = PdSeen()
        self._lock = threading.Lock()  # seen
        self._pd_lock = threading.Lock()  # libosdp's PD: the line thread and the events
        flags = [osdp.LibFlag.InstallMode] if install else [osdp.LibFlag.EnforceSecure]
        self._channel = FdChannel(master)
        info = osdp.PDInfo(address, self._channel, scbk=scbk, flags=flags)
        osdp_sys.set_loglevel(osdp.LogLevel.Error)
        capabilities = osdp.PDCapabilities(list(PD_CAPABILITIES)).get()
        self._pd = osdp_sys.PeripheralDevice(info.get(), capabilities=capabilities)
        self._pd.set_command_callback(self._on_command)
        self._powered = False
        self._closed = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._thread: threading.Thread | None = None

    def start(self, own_thread: bool = True) -> None:
        """Power the PD on, to an empty line; `own_thread` False: someone calls `step`."""
        with self._pd_lock:
            if self._powered:
                return
            self._empty_line()
            self._powered = True
        if own_thread and self._thread is None:
            self._thread = threading.Thread(
                target=self._serve_line, name="osdp-sim-pd", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Power the PD off: it stops answering. What the panel sends meanwhile is lost, as
        on an RS-485 pair with nobody listening: a pty would keep it for the PD's return
        (stale polls it would then answer) and, once full, block the panel's writes."""
        with self._pd_lock:
            self._powered = False

    def close(self) -> None:
        self.stop()
        self._closed.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"w")
        if self._thread is not None:
            self._thread.join(5.0)
        for fd in (self._master, self._slave, self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _serve_line(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._master, selectors.EVENT_READ, "line")
            selector.register(self._wake_read, selectors.EVENT_READ, "wake")
            while not self._closed.is_set():
                selector.select(TIMERS_EVERY_S)
                self.step()

    def step(self) -> None:
        """Serve the line once: a powered PD reads what the panel sent and answers (and
        runs its timers); an unpowered one lets it go, as a wire with nobody listening."""
        with self._pd_lock:
            if not self._powered or self._closed.is_set():
                self._empty_line()
                return
            reads = self._channel.reads
            self._pd.refresh()
            if self._channel.reads == reads:
                self._empty_line()  # never leave bytes the PD did not take to wake us

    def _empty_line(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._master, 4096):
                pass

    def _on_command(self, command: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.seen.commands.append(dict(command))
        return 0, None

    def commands(self, kind: int | None = None) -> list[dict[str, Any]]:
        """The commands received so far (of libosdp command id `kind`)."""
        with self._lock:
            return [c for c in self.seen.commands if kind is None or c.get("command") == kind]

    @property
    def secure(self) -> bool:
        return bool(self._pd.is_sc_active())

    # -- the PD's side ----------------------------------------------------------------------

    def present_wiegand(self, bits: str) -> None:
        """A card read reported as raw Wiegand bits."""
        self._submit_event(
            {
                "event": osdp.Event.CardRead,
                "reader_no": 0,
                "direction": 0,
                "format": osdp.CardFormat.Wiegand,
                "length": len(bits),
                "data": pack_bits(bits),
            }
        )

    def press_keys(self, keys: str) -> None:
        """Keys pressed, in OSDP keypad codes (`*` 0x7F, `#` 0x0D)."""
        data = bytes(OSDP_KEYS.get(key, ord(key)) for key in keys)
        self._submit_event({"event": osdp.Event.KeyPress, "reader_no": 0, "data": data})

    def report_local(self, tamper: bool, power_failure: bool = False) -> None:
        """The tamper switch and power state (osdp_LSTATR)."""
        report = bytes([int(tamper), int(power_failure)])
        self._submit_event(
            {"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "report": report}
        )

    def _submit_event(self, event: dict[str, Any]) -> None:
        """Queue `event` for the PD's reply to the next poll."""
        with self._pd_lock:
            self._pd.submit_event(event)


def wiegand_bits_for(uid: bytes, settings: ReaderSettings, formats: FormatRegistry) -> str:
    """The frame a PD reports for card `uid`: the first of the reader's formats whose data
    field holds the UID, so the gateway reads back the UID as the card number."""
    value = int.from_bytes(uid, "big")
    for name in settings.formats:
        if name in formats and formats[name].data.width >= value.bit_length():
            return formats[name].encode_data(value)
    raise ValueError(f"uid {uid.hex().upper()} fits none of the reader's formats")


KEYS = frozenset("0123456789*#")


class OsdpInput(NoInput):
    """/sim/card and /sim/keys on a simulated OSDP reader."""

    def __init__(self, settings: ReaderSettings, bus: SimulatedOsdpBus) -> None:
        super().__init__(settings.name, "osdp")
        self._settings, self._bus = settings, bus
        self._formats = FormatRegistry()  # the built-in formats: enough to play a card

    def _pd(self) -> SimulatedPd:
        if self._bus.pd is None:
            raise NotSimulated(f"{self._what} has not joined its bus")
        return self._bus.pd

    async def card(self, uid: str) -> None:
        bits = wiegand_bits_for(parse_uid(uid), self._settings, self._formats)
        self._pd().present_wiegand(bits)

    async def keys(self, keys: str) -> None:
        if not keys or not set(keys) <= KEYS or len(keys) > 32:
            raise ValueError("keys must be 1 to 32 of 0-9, * and #")
        self._pd().press_keys(keys)

    async def text(self, text: str) -> None:
        raise NotSimulated(f"{self._what} does not scan codes")


class SimulatedOsdpBus:
    """A port with one simulated PD on it, behind the real control panel (`OsdpBus` on the
    pty). The PD is made when the reader joins, with the reader's key: as if it had been
    keyed by this gateway before; in install mode it is factory-new (SCBK-D, then KEYSET)."""

    def __init__(self, settings: ReaderSettings) -> None:
        self._settings = settings
        self.pd: SimulatedPd | None = None
        self._bus: OsdpBus | None = None

    @property
    def path(self) -> str:
        return self.pd.port_path if self.pd is not None else ""

    def attach(self, setup: PdSetup, listener: BusListener) -> None:
        if self.pd is None:
            scbk = None if setup.install else setup.scbk
            self.pd = SimulatedPd(setup.address, scbk, install=setup.install)
            self._bus = _SteppedBus(self.pd, self._settings.baudrate)
        assert self._bus is not None
        self._bus.attach(setup, listener)

    def start(self) -> None:
        if self.pd is not None and self._bus is not None:
            self.pd.start(own_thread=False)
            self._bus.start()

    def submit(self, address: int, command: PdCommand) -> None:
        if self._bus is not None:
            self._bus.submit(address, command)

    def detach(self, address: int) -> None:
        if self._bus is not None:
            self._bus.detach(address)

    def close(self) -> None:
        if self._bus is not None:
            self._bus.close()
        if self.pd is not None:
            self.pd.close()


class _SteppedBus(OsdpBus):
    """The real control panel on the simulated PD's pty, stepping the PD after each of its
    refreshes: the PD answers in the panel's wake-up, as the real reader would answer on
    its own, so an idle simulated reader costs one wake-up per poll, not three."""

    def __init__(self, pd: SimulatedPd, baudrate: int) -> None:
        super().__init__(pd.port_path, baudrate)
        self._pd = pd

    def _far_end(self) -> None:
        self._pd.step()
