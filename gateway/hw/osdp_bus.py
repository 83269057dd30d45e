"""One OSDP control panel (libosdp, PyPI `libosdp`, module `osdp`) on one serial port:
every PD of the port's `[[readers]]` entries, each at its own address.

The bus's own thread drives libosdp's control panel (its C module `osdp_sys`; the Python
wrapper's refresh thread wakes every 20 ms whatever happens, which cost an idle gateway
more than everything else together). The thread builds the panel once every reader of
the port has joined, then refreshes it when a reply comes in on the port, when the loop
queued a command (sent at once: an LED on a grant does not wait for the next poll) and
every `POLL_EVERY_S` (a poll of each PD: a card read is reported in reply to one). On the
same pace it reads the PDs' online and Secure Channel state, reports changes to each
reader's `BusListener`, and wakes a PD that went offline (libosdp would otherwise wait 5
minutes before trying it again). The port is pyserial, non-blocking; a port that fails
is reopened with back-off.

Secure Channel is enforced (`EnforceSecure`: no SCBK-D, no plaintext) unless the reader
is in install mode; then libosdp may fall back to SCBK-D and set the reader's own key
with KEYSET, and the reader itself refuses every read not made over its own key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import osdp
import osdp_sys
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

# The poll pace: OSDP leaves it to the panel (a PD drops its session after 8 s without
# one). A card read waits for the next poll, 100 ms on average; libosdp's own pace (every
# 50 ms) would cost four times as much at rest for 75 ms less (docs/osdp.md).
POLL_EVERY_S = 0.2
REFRESHES = 3  # at most, in a row, for the panel to send what is due
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

    def fileno(self) -> int: ...

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
        self._fd = stream.fileno()
        self.heard: dict[int, float] = {}
        self.error: str | None = None
        self.reads = 0  # how often libosdp looked at the line
        self.writes = 0
        self._tail = b""

    def read(self, max_bytes: int) -> bytes:
        # Straight from the descriptor (pyserial opens it non-blocking): libosdp reads at
        # every refresh, and pyserial's read costs two selects each time.
        self.reads += 1
        try:
            data = os.read(self._fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:  # a USB adapter unplugged
            self.error = f"read failed: {exc}"
            return b""
        if not data:
            self.error = "read failed: the port hung up (unplugged?)"
            return b""
        self._note_replies(data)
        return data

    def write(self, buf: bytes) -> int:
        self.writes += 1
        try:
            written = os.write(self._fd, buf)
        except BlockingIOError:
            return self._write_slowly(bytes(buf))
        except OSError as exc:
            self.error = f"write failed: {exc}"
            return -1
        if written < len(buf):
            return written + self._write_slowly(bytes(buf[written:]))
        return written

    def _write_slowly(self, data: bytes) -> int:
        """What the port's buffer did not take at once: pyserial waits for room (up to its
        write timeout). A packet is tens of bytes, so this is a line that does not drain."""
        try:
            written = self._stream.write(data)
        except Exception as exc:
            self.error = f"write failed: {exc}"
            return -1
        return len(data) if written is None else written

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


class Panel:
    """libosdp's control panel (`osdp_sys.ControlPanel`), addressed by PD address, for
    one thread to drive: nothing here locks, the bus's thread is its only caller."""

    def __init__(self, infos: list[Any], on_event: Callable[[int, dict[str, Any]], int]) -> None:
        osdp_sys.set_loglevel(osdp.LogLevel.Error)
        self._index = {info.address: index for index, info in enumerate(infos)}
        self._ctx = osdp_sys.ControlPanel([info.get() for info in infos])
        self._ctx.set_event_callback(on_event)

    def refresh(self) -> None:
        self._ctx.refresh()

    def status(self) -> int:
        """Online PDs, a bit per PD in the order given."""
        return int(self._ctx.status())

    def sc_status(self) -> int:
        """PDs with Secure Channel, a bit per PD in the order given."""
        return int(self._ctx.sc_status())

    def submit_command(self, address: int, command: dict[str, Any]) -> bool:
        return bool(self._ctx.submit_command(self._index[address], command))

    def enable_pd(self, address: int) -> None:
        self._ctx.enable_pd(self._index[address])

    def disable_pd(self, address: int) -> None:
        self._ctx.disable_pd(self._index[address])

    def check_capability(self, address: int, capability: int) -> tuple[int, int]:
        compliance, items = self._ctx.check_capability(self._index[address], capability)
        return int(compliance), int(items)


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
        # A byte here wakes the thread: a command queued, or the bus closing.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

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
        self._wake()

    def close(self) -> None:
        self._stop.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT_S)
            if thread.is_alive():
                log.warning("OSDP bus %s: thread did not stop in time", self.path)
                return  # it may still select on the pipe: leave it open
        if thread is not threading.current_thread():
            self._close_pipe()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake is pending anyway) or closed
            os.write(self._wake_write, b"w")

    def _close_pipe(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_read = self._wake_write = -1

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
        try:
            panel = self._panel(channel, pds) if pds else None
            with selectors.DefaultSelector() as selector:
                selector.register(stream.fileno(), selectors.EVENT_READ, "port")
                selector.register(self._wake_read, selectors.EVENT_READ, "wake")
                return self._supervise(selector, panel, channel, pds)
        finally:
            try:
                stream.close()
            except Exception:
                log.debug("OSDP bus %s: close failed", self.path, exc_info=True)

    def _panel(self, channel: BusChannel, pds: list[_Pd]) -> Panel:
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

        return Panel(infos, on_event)

    def _supervise(
        self,
        selector: selectors.BaseSelector,
        panel: Panel | None,
        channel: BusChannel,
        pds: list[_Pd],
    ) -> str | None:
        """Refresh the panel on a reply, a command or the poll pace; read the PDs' states
        on the poll pace."""
        next_poll = time.monotonic()
        while not self._stop.is_set():
            ready = {key.data for key, _ in selector.select(next_poll - time.monotonic())}
            if "wake" in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_read, 4096)
            if channel.error is not None:
                return channel.error
            with self._lock:
                if self._rebuild:
                    return None
                live = [pd for pd in pds if self._pds.get(pd.setup.address) is pd]
            poll_due = time.monotonic() >= next_poll
            if poll_due:
                next_poll = time.monotonic() + POLL_EVERY_S
            if panel is not None:
                self._turn(panel, channel, live, "port" in ready, poll_due)
                if poll_due:
                    self._observe_all(panel, channel, pds, live)
        return None

    def _turn(
        self, panel: Panel, channel: BusChannel, live: list[_Pd], replied: bool, poll_due: bool
    ) -> None:
        """One turn on the line: queued commands out, the panel refreshed; the far end
        served when the panel sent something (and on the poll pace, for its timers)."""
        self._send_commands(panel, live)
        reads, writes = channel.reads, channel.writes
        _refresh(panel, channel)
        if poll_due or channel.writes != writes:
            self._far_end()
        if replied and channel.reads == reads:
            _discard(channel)  # bytes libosdp is not waiting for: not ours to keep

    def _far_end(self) -> None:
        """After the panel sent something, on this thread: nothing here (a PD on the wire
        answers on its own); the simulation's PD answers in it (gateway.hw.osdp_sim)."""

    def _observe_all(
        self, panel: Panel, channel: BusChannel, pds: list[_Pd], live: list[_Pd]
    ) -> None:
        online, secure = panel.status(), panel.sc_status()
        for index, pd in enumerate(pds):
            if pd in live:
                self._observe(
                    panel, channel, pd, bool(online >> index & 1), bool(secure >> index & 1)
                )

    def _send_commands(self, panel: Panel, live: list[_Pd]) -> None:
        if self._commands.empty():
            return
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
        self, panel: Panel, channel: BusChannel, pd: _Pd, online: bool, secure: bool
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
        self._wake_pd(panel, pd, online, state.answering)

    def _wake_pd(self, panel: Panel, pd: _Pd, online: bool, answering: bool) -> None:
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


def _refresh(panel: Panel, channel: BusChannel) -> None:
    """Refresh until the panel sends (or `REFRESHES` times): libosdp takes a refresh to
    finish an exchange and another to start the next, so a poll due, a reply in (a Secure
    Channel handshake is several) or a command queued goes out now, not a pace later."""
    writes = channel.writes
    for _ in range(REFRESHES):
        panel.refresh()
        if channel.writes != writes:
            return


def _discard(channel: BusChannel) -> None:
    """Empty the line of what came while the panel waited for nothing (a late reply, noise):
    left there it would wake the thread again at once, and garble the next reply."""
    channel.flush()


def _has_text(panel: Panel, address: int) -> bool:
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
