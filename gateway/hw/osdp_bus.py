"""One OSDP control panel (libosdp, PyPI `libosdp`, module `osdp`) on one serial port:
every PD of the port's `[[readers]]` entries, each at its own address.

libosdp's `ControlPanel` runs its refresh on a thread of its own (it must be called every
few tens of milliseconds). The bus's supervisor thread builds it once every reader of
the port has joined, sends the commands the loop queued, reads the PDs' online and
Secure Channel state, reports changes to each reader's `BusListener`, and wakes a PD
that went offline (libosdp would otherwise wait 5 minutes before trying it again). The
port is pyserial, non-blocking; a port that fails is reopened with back-off.

Secure Channel is enforced (`EnforceSecure`: no SCBK-D, no plaintext) unless the reader
is in install mode; then libosdp may fall back to SCBK-D and set the reader's own key
with KEYSET, and the reader itself refuses every read not made over its own key.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import osdp
import serial

from gateway.hw.osdp_reader import (
    ANSWERING_WITHIN_S,
    BusEvent,
    BusListener,
    Buzzer,
    CardRead,
    KeyPress,
    Led,
    LocalStatus,
    PdCommand,
    PdSetup,
    PdState,
)

log = logging.getLogger(__name__)

TICK_S = 0.05  # the supervisor's pace: commands out, states in
START_DELAY_S = 0.2  # readers of one port join within this; later joiners rebuild the panel
WAKE_START_S = 1.0  # first retry of an offline PD; doubles to WAKE_MAX_S
WAKE_MAX_S = 5.0  # a reader back on the bus (a wire mended) is back within seconds
REOPEN_START_S = 0.5
REOPEN_MAX_S = 30.0
CLOSE_WAIT_S = 3.0
SOM = 0x53  # OSDP start of message
REPLY_BIT = 0x80  # set in the address byte of a PD's reply
BROADCAST = 0x7F
LED_COLOURS = {
    "off": osdp.CommandLEDColor.Black,
    "green": osdp.CommandLEDColor.Green,
    "red": osdp.CommandLEDColor.Red,
    "amber": osdp.CommandLEDColor.Amber,
}
TEXT_MAX = 32  # one display line


class ByteStream(Protocol):
    """What the channel needs of a port: pyserial's `Serial`, opened non-blocking."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


OpenStream = Callable[[str, int], ByteStream]


def open_serial_stream(path: str, baudrate: int) -> ByteStream:
    """The port, 8N1, reads never block (libosdp polls), exclusive to this process."""
    port: ByteStream = serial.Serial(path, baudrate, timeout=0, write_timeout=1, exclusive=True)
    return port


class BusChannel(osdp.Channel):  # type: ignore[misc]
    """libosdp's byte channel on a `ByteStream`. Notes which PD addresses replied (the
    address byte after each start of message), so a PD that answers but fails Secure
    Channel is told from one that is not there at all; an I/O error is kept for the
    supervisor, which reopens the port."""

    def __init__(self, stream: ByteStream) -> None:
        super().__init__()
        self._stream = stream
        self.heard: dict[int, float] = {}
        self.error: str | None = None
        self._tail = b""

    def read(self, max_bytes: int) -> bytes:
        try:
            data = self._stream.read(max_bytes)
        except Exception as exc:  # pyserial raises SerialException (an OSError) on unplug
            self.error = f"read failed: {exc}"
            return b""
        if data:
            self._note_replies(data)
        return data

    def write(self, buf: bytes) -> int:
        try:
            written = self._stream.write(bytes(buf))
        except Exception as exc:
            self.error = f"write failed: {exc}"
            return -1
        return len(buf) if written is None else written

    def flush(self) -> None:
        try:
            self._stream.reset_input_buffer()
        except Exception as exc:
            self.error = f"flush failed: {exc}"

    def _note_replies(self, data: bytes) -> None:
        window = self._tail + data
        now = time.monotonic()
        for index in range(len(window) - 1):
            if window[index] == SOM and window[index + 1] & REPLY_BIT:
                address = window[index + 1] & ~REPLY_BIT
                if address != BROADCAST:
                    self.heard[address] = now
        self._tail = window[-1:]


@dataclass
class _Pd:
    setup: PdSetup
    listener: BusListener
    state: PdState
    default_key: bool = False
    gave_up_at: float | None = None  # when libosdp last put it offline (its notification)
    wake_delay: float = WAKE_START_S
    waking: bool = False


class OsdpBus:
    """The control panel of one port. `attach` every PD, then `start`; `submit` queues a
    command for the supervisor thread; `close` stops both threads and the port."""

    def __init__(
        self, path: str, baudrate: int, open_stream: OpenStream = open_serial_stream
    ) -> None:
        self.path, self._baudrate, self._open_stream = path, baudrate, open_stream
        self._pds: dict[int, _Pd] = {}
        self._lock = threading.Lock()  # _pds, _rebuild
        self._commands: queue.SimpleQueue[tuple[int, PdCommand]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._rebuild = False
        self._thread: threading.Thread | None = None

    # -- from the loop --------------------------------------------------------------------

    def attach(self, setup: PdSetup, listener: BusListener) -> None:
        """Add a PD (a later one rebuilds a running panel: libosdp takes its PDs at once)."""
        with self._lock:
            self._pds[setup.address] = _Pd(setup, listener, PdState())
            self._rebuild = self._thread is not None

    def detach(self, address: int) -> None:
        """Forget a PD; the last one out stops the bus."""
        with self._lock:
            self._pds.pop(address, None)
            last = not self._pds
        if last:
            self.close()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"osdp-{self.path}", daemon=True)
            self._thread.start()

    def submit(self, address: int, command: PdCommand) -> None:
        self._commands.put((address, command))

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT_S)
            if thread.is_alive():
                log.warning("OSDP bus %s: thread did not stop in time", self.path)

    # -- the supervisor thread ------------------------------------------------------------

    def _run(self) -> None:
        self._stop.wait(START_DELAY_S)
        delay = REOPEN_START_S
        while not self._stop.is_set():
            reason = self._serve()
            if self._stop.is_set():
                break
            if reason is not None:
                log.warning("OSDP bus %s: %s", self.path, reason)
                self._report_all(PdState(bus_error=reason))
                self._stop.wait(delay)
                delay = min(delay * 2, REOPEN_MAX_S)
            else:
                delay = REOPEN_START_S

    def _serve(self) -> str | None:
        """Run one control panel until the port fails (its reason) or a rebuild (None)."""
        try:
            stream = self._open_stream(self.path, self._baudrate)
        except Exception as exc:
            return f"cannot open {self.path}: {exc}"
        channel = BusChannel(stream)
        with self._lock:
            self._rebuild = False
            pds = list(self._pds.values())
        panel = None
        try:
            if pds:
                panel = self._panel(channel, pds)
                panel.start()
            return self._supervise(panel, channel, pds)
        finally:
            if panel is not None:
                panel.teardown()
            try:
                stream.close()
            except Exception:
                log.debug("OSDP bus %s: close failed", self.path, exc_info=True)

    def _panel(self, channel: BusChannel, pds: list[_Pd]) -> Any:
        infos = []
        for pd in pds:
            flags = [osdp.LibFlag.EnableNotification]
            if not pd.setup.install:
                flags.append(osdp.LibFlag.EnforceSecure)
            infos.append(
                osdp.PDInfo(
                    pd.setup.address, channel, scbk=pd.setup.scbk, name=pd.setup.name, flags=flags
                )
            )
        by_index = [pd for pd in pds]

        def on_event(index: int, event: dict[str, Any]) -> int:
            self._on_event(by_index[index], event)
            return 0

        return osdp.ControlPanel(infos, log_level=osdp.LogLevel.Error, event_handler=on_event)

    def _supervise(self, panel: Any, channel: BusChannel, pds: list[_Pd]) -> str | None:
        while not self._stop.wait(TICK_S):
            if channel.error is not None:
                return channel.error
            with self._lock:
                if self._rebuild:
                    return None
                live = [pd for pd in pds if self._pds.get(pd.setup.address) is pd]
            if panel is None:
                continue
            self._send_commands(panel, live)
            online, secure = panel.status(), panel.sc_status()
            for index, pd in enumerate(pds):
                if pd in live:
                    self._observe(
                        panel, channel, pd, bool(online >> index & 1), bool(secure >> index & 1)
                    )
        return None

    def _send_commands(self, panel: Any, live: list[_Pd]) -> None:
        addresses = {pd.setup.address: pd for pd in live}
        while True:
            try:
                address, command = self._commands.get_nowait()
            except queue.Empty:
                return
            pd = addresses.get(address)
            if pd is None or not pd.state.online:
                continue  # feedback for a PD that is not there: nothing to show it on
            if not panel.submit_command(address, _command(command)):
                log.debug("OSDP bus %s: PD %d refused a command", self.path, address)

    def _observe(
        self, panel: Any, channel: BusChannel, pd: _Pd, online: bool, secure: bool
    ) -> None:
        address = pd.setup.address
        has_text = pd.state.has_text
        if online and not pd.state.online:
            has_text = _has_text(panel, address)
        heard = channel.heard.get(address)
        state = PdState(
            online=online,
            secure=secure,
            default_key=secure and pd.default_key,
            answering=heard is not None and time.monotonic() - heard <= ANSWERING_WITHIN_S,
            has_text=has_text,
        )
        if state != pd.state:
            pd.state = state
            pd.listener.bus_state(state)
        self._wake(panel, pd, online, state.answering)

    def _wake(self, panel: Any, pd: _Pd, online: bool, answering: bool) -> None:
        """libosdp leaves a PD it gave up on alone for 5 minutes: disable and enable it
        again (1 s after it gave up, doubling to 5 s), so a PD back on the bus is back
        within seconds. A PD still connecting is left to finish. libosdp may also call a
        silent PD online for many seconds (its own timeouts): one that answers nothing is
        woken the same way, so a reader powered back gets a fresh Secure Channel."""
        address = pd.setup.address
        if online and answering:
            pd.wake_delay, pd.waking, pd.gave_up_at = WAKE_START_S, False, None
            return
        if pd.waking:
            panel.enable_pd(address)
            pd.waking, pd.gave_up_at = False, None  # the disable's own notification
        elif online and pd.gave_up_at is None:
            pd.gave_up_at = time.monotonic()  # online to libosdp, yet silent
        elif pd.gave_up_at is not None and time.monotonic() >= pd.gave_up_at + pd.wake_delay:
            panel.disable_pd(address)
            pd.waking = True
            pd.wake_delay = min(pd.wake_delay * 2, WAKE_MAX_S)

    # -- on libosdp's refresh thread ------------------------------------------------------

    def _on_event(self, pd: _Pd, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == osdp.Event.Notification:
            notification, up = event.get("type"), bool(event.get("arg0"))
            if notification == osdp.EventNotification.SecureChannelStatus:
                pd.default_key = up and event.get("arg1") == 1
            elif notification == osdp.EventNotification.PeripheralDeviceStatus:
                # libosdp put it offline (a disable of ours says so too: not counted)
                pd.gave_up_at = None if up or pd.waking else time.monotonic()
            return
        translated = _translate(event)
        if translated is not None:
            pd.listener.bus_event(translated)

    def _report_all(self, state: PdState) -> None:
        with self._lock:
            pds = list(self._pds.values())
        for pd in pds:
            if state != pd.state:
                pd.state = state
                pd.listener.bus_state(state)


def _has_text(panel: Any, address: int) -> bool:
    try:
        compliance, items = panel.check_capability(address, osdp.Capability.TextOutput)
    except Exception:
        return False
    return bool(compliance and items)


def _translate(event: dict[str, Any]) -> BusEvent | None:
    """libosdp's event dict as this gateway's report; None for what readers ignore."""
    kind = event.get("event")
    if kind == osdp.Event.CardRead:
        data = bytes(event.get("data", b""))
        fmt = event.get("format")
        if fmt == osdp.CardFormat.ASCII:
            return CardRead("ascii", len(data) * 8, data)
        bits = int(event.get("length", len(data) * 8))
        return CardRead("wiegand" if fmt == osdp.CardFormat.Wiegand else "raw", bits, data)
    if kind == osdp.Event.KeyPress:
        return KeyPress(bytes(event.get("data", b"")))
    if kind == osdp.Event.Status and event.get("type") == osdp.StatusReportType.Local:
        report = bytes(event.get("report", b""))
        return LocalStatus(
            tamper=len(report) > 0 and report[0] != 0,
            power_failure=len(report) > 1 and report[1] != 0,
        )
    return None


def _command(command: PdCommand) -> dict[str, Any]:
    """A gateway command as libosdp's command dict."""
    if isinstance(command, Led):
        colour = LED_COLOURS[command.colour]
        return {
            "command": osdp.Command.LED,
            "reader": 0,
            "led_number": 0,
            "control_code": 1,  # set the permanent state
            "on_count": 1,
            "off_count": 0,
            "on_color": colour,
            "off_color": colour,
            "temporary": False,
        }
    if isinstance(command, Buzzer):
        return {
            "command": osdp.Command.Buzzer,
            "reader": 0,
            "control_code": 2 if command.on else 1,  # 2: default tone, 1: off
            "on_count": 1 if command.on else 0,
            "off_count": 0,
            "rep_count": 0,
        }
    return {
        "command": osdp.Command.Text,
        "reader": 0,
        "control_code": 1,  # permanent text, no wrap
        "temp_time": 0,
        "offset_row": 1,
        "offset_col": 1,
        "data": command.text[:TEXT_MAX],
    }
