"""The composition root: builds every component from the settings, runs, stops.

Order matters: doors are locked before anything else runs (hardware first, then the
store, the engine, the readers and the web server), and on stop every door is locked
before the journal is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway import __version__
from gateway.access.engine import AccessEngine
from gateway.access.http_unlock import HttpUnlockState
from gateway.accounts import (
    apply_public_pins,
    ensure_configured_accounts,
    password_allowed,
    password_change_required,
    password_problem,
    verify_technician_in_thread,
)
from gateway.clock import Clock, Instant, Stamp, read_boot_id
from gateway.doors.controller import DoorController
from gateway.doors.state import DoorState
from gateway.doors.timers import LoopTimers
from gateway.feedback import ReaderFeedback
from gateway.hw.factory import BACKENDS, Hardware, SimulatedHardware
from gateway.hw.lines import OutputLine
from gateway.hw.readers import ReaderContext, ReaderDriver, UnavailableReader, build_reader
from gateway.model import Event, StoredEvent
from gateway.opendoor import OpenDoorService
from gateway.pipeline import AccessPipeline, Upstream
from gateway.rule_changes import RuleChanges
from gateway.service import ServiceNotifier
from gateway.settings import ReaderSettings, Settings
from gateway.simulation import Simulation
from gateway.store.db import open_database
from gateway.store.index import RulesSnapshot
from gateway.store.journal import EventJournal
from gateway.store.rules import load_snapshot
from gateway.store.secrets import PinHasher, load_or_create_device_key
from gateway.store.statedir import make_state_dir
from gateway.store.stores import Stores
from gateway.store.writer import JournalWriter
from gateway.terminal import TerminalFunctions
from gateway.upstream.antipassback import AntiPassbackNotifier
from gateway.upstream.flow import UpstreamFlow
from gateway.upstream.forward import Forwarder, TerminalIdentity
from gateway.upstream.http import client_ssl
from gateway.web.auth import TokenStore
from gateway.web.doors import UnknownDoor
from gateway.web.server import build_app, start_site
from gateway.wiring import DoorInputs, build_door

log = logging.getLogger(__name__)

DB_FILE = "gateway.db"
STORE_POLL_S = 1.0


class Gateway:
    """One running door gateway, on the hardware its settings name (or on `hardware`)."""

    def __init__(
        self, settings: Settings, clock: Clock | None = None, hardware: Hardware | None = None
    ) -> None:
        self.settings = settings
        # The one place the hardware is chosen; it opens nothing until start().
        self.hardware = hardware or BACKENDS[settings.hardware.backend]()
        self.clock = clock or self.hardware.clock
        self.boot_id = read_boot_id()  # saved durations are carried over by boot (Stamp)
        self.tz = ZoneInfo(settings.device.timezone)
        self.doors: dict[str, DoorController] = {}
        self.readers: dict[str, ReaderDriver] = {}
        self.feedback: dict[str, ReaderFeedback] = {}
        self.door_inputs: dict[str, DoorInputs] = {}
        self._door_states: dict[str, dict[str, Any]] = {}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: Any = None
        self._engine_state_version = -1
        self.started_at = self.clock.monotonic()  # for uptime: a duration
        self.notifier = ServiceNotifier()

    # -- start -----------------------------------------------------------------

    async def start(self) -> None:
        """Lock the doors, open the store, build the engine, readers and web server."""
        loop = asyncio.get_running_loop()
        self._early_events: list[Event] = []
        for door in self.settings.doors:
            self.doors[door.name], self.door_inputs[door.name] = build_door(
                door,
                self.hardware,
                loop,
                self.clock,
                self.emit,
                self._current_rules,
                self.tz,
                self._door_state_saver(door.name),
            )
        self._open_store()
        for event in self._early_events:
            self.writer.submit(event)
        self._prepare_accounts()
        self._build_engine()
        # What the ACTAtek API set at runtime overrides the file, from the first decision on.
        self.terminal = TerminalFunctions(self, self.stores.terminal)
        self.terminal.start()
        self._start_doors()
        self._build_readers(loop)
        await self._start_web()
        await self.forwarder.start()
        self._tasks.append(asyncio.create_task(self._watch_store()))
        self.emit(Event("system", self.clock.time(), reason="started", trace=f"v{__version__}"))
        self.notifier.ready(f"serving on {self.settings.web.listen}")

    def _current_rules(self) -> RulesSnapshot:
        # Doors exist before the engine: until then no schedule is active (fail closed).
        engine = getattr(self, "engine", None)
        return engine.snapshot if engine is not None else RulesSnapshot()

    def _door_state_saver(self, name: str) -> Callable[[DoorState], None]:
        def save(state: DoorState) -> None:
            self._door_states[name] = state.as_dict()
            self._save_state()

        return save

    def _start_doors(self) -> None:
        """Restore lockdown and latched alarms, then let schedules run."""
        for name, door in self.doors.items():
            saved = self._door_states.get(name)
            if saved:
                try:
                    door.restore(DoorState.from_dict(saved))
                except ValueError as exc:
                    log.error("saved state of door %s ignored: %s", name, exc)
            door.start()

    def _open_store(self) -> None:
        state_dir = Path(self.settings.device.state_dir)
        make_state_dir(state_dir)
        self.hasher = PinHasher(load_or_create_device_key(state_dir))
        self.db_path = state_dir / DB_FILE
        self.stores = Stores.open(self.db_path, self.hasher)
        self._data_version = self.stores.engine_state.data_version()
        self.journal = EventJournal(state_dir / DB_FILE, self.tz, self.settings.journal.max_events)
        self.writer = JournalWriter(self.journal, self.clock)
        self.agents = self.stores.agents
        self.forwarder = self._build_forwarder()
        self.writer.add_listener(self.forwarder.notify)  # wake forwarding on each new row

    def _build_forwarder(self) -> Forwarder:
        device = self.settings.device
        return Forwarder(
            self.journal,
            self.agents,
            self.settings.forwarding,
            self.emit,
            TerminalIdentity(serial=device.id, name=device.name),
            {reader.name: reader.direction for reader in self.settings.readers},
            self.clock,
        )

    def _prepare_accounts(self) -> None:
        stores = self.stores
        ensure_configured_accounts(
            self.settings, stores.technicians, stores.users, self.emit, self.clock
        )
        apply_public_pins(self.settings, stores.users, self.emit, self.clock)

    def _build_engine(self) -> None:
        self.engine = AccessEngine(
            self.settings.access,
            {d.name: d for d in self.settings.doors},
            {r.name: r for r in self.settings.readers},
            self.tz,
            self.hasher,
            self.stores.engine_state.load_snapshot(),
        )
        self.http_unlock = HttpUnlockState(self.settings.http_unlock, self.tz, self._save_state)
        # From here on every write that moves the rules reloads them (any store, any caller).
        self.rule_changes = RuleChanges(
            LoopTimers(asyncio.get_running_loop()),
            functools.partial(self.reload_rules_if_changed, force=True),
        )
        self.stores.on_rules_changed(self.rule_changes.rules_changed)
        saved = self.stores.engine_state.load_engine_state()
        doors = saved.get("doors")
        self._door_states = dict(doors) if isinstance(doors, dict) else {}
        engine_state = saved.get("engine")
        if isinstance(engine_state, dict):
            try:
                self.engine.import_state(engine_state, self._stamp())
            except ValueError as exc:  # a damaged state row must not keep the doors shut
                log.error("saved lockout/anti-passback state ignored: %s", exc)
                self.emit(Event("system", self.clock.time(), reason="state_discarded"))
        self._engine_state_version = self.engine.state_version
        self._restore_http_unlock(saved.get("http_unlock"))

    def _restore_http_unlock(self, state: object) -> None:
        """The in/out state of HTTP unlocks (Akuvox OpenDoor), saved beside the engine's."""
        if not isinstance(state, dict):
            return
        try:
            self.http_unlock.import_state(state, self._stamp())
        except ValueError as exc:  # as for the engine: a damaged row must not stop start-up
            log.error("saved HTTP unlock in/out state ignored: %s", exc)
            self.emit(Event("system", self.clock.time(), reason="state_discarded"))

    def _build_readers(self, loop: asyncio.AbstractEventLoop) -> None:
        reader_settings = {r.name: r for r in self.settings.readers}
        for reader in self.settings.readers:
            self.feedback[reader.name] = self._build_feedback(reader, loop)
        self.pipeline = AccessPipeline(
            loop,
            self.clock,
            self.engine,
            reader_settings,
            self.doors,
            self.feedback,
            self.emit,
            self._save_engine_state,
            self.settings.access.two_factor_timeout_s,
            self._build_upstream(),
        )
        context = ReaderContext(
            self.hardware, loop, self.pipeline, self.clock, self.settings.wiegand_formats
        )
        for reader in self.settings.readers:
            self._start_reader(reader, context)
            self.doors[reader.door].attach_feedback(self.feedback[reader.name])

    def _build_upstream(self) -> Upstream:
        """Verify-on-miss when `[upstream] url` is set; anti-passback URLs when any reader
        has some. A bad CA file stops start-up here, not at the first card."""
        up = self.settings.upstream
        flow = None
        if up.url:
            flow = UpstreamFlow(up, self.settings.access, self.tz, self.clock, self.hasher.hash)
        apb = None
        if any(r.apb_urls for r in self.settings.readers):
            apb = AntiPassbackNotifier(
                self.emit, self.clock, ssl_setting=client_ssl(up.verify_tls, up.ca_file)
            )
        self.upstream = Upstream(flow, apb)
        return self.upstream

    def _start_reader(self, reader: ReaderSettings, context: ReaderContext) -> None:
        try:
            driver = build_reader(reader, context)
            driver.start()
        except Exception as exc:  # a reader must never stop the daemon
            log.exception("reader %s failed to start", reader.name)
            self.readers[reader.name] = UnavailableReader(reader, f"failed to start: {exc}")
            return
        self.readers[reader.name] = driver

    def _build_feedback(
        self, reader: ReaderSettings, loop: asyncio.AbstractEventLoop
    ) -> ReaderFeedback:
        def line(pin: int | None) -> OutputLine | None:
            return None if pin is None else self.hardware.output(pin)

        return ReaderFeedback(
            loop, line(reader.led_green_pin), line(reader.led_red_pin), line(reader.beeper_pin)
        )

    async def _start_web(self) -> None:
        self.tokens = TokenStore(
            self.clock, self.settings.web.token_idle_s, self.stores.technicians
        )
        # The simulation API exists only to play simulated hardware.
        simulation = (
            Simulation(self, self.hardware)
            if isinstance(self.hardware, SimulatedHardware)
            else None
        )
        open_door = OpenDoorService(
            self.settings,
            self.clock,
            self.engine,
            self.http_unlock,
            self.doors,
            self.emit,
            self.record_api,
        )
        self.web_app = build_app(self, self.tokens, simulation, self, self, open_door=open_door)
        self._runner = await start_site(self.web_app, self.settings.web.listen)

    # -- running ---------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Journal an event (durable before anything forwards it)."""
        if not hasattr(self, "writer"):
            self._early_events.append(event)
            return
        self.writer.submit(event)

    def _save_engine_state(self) -> None:
        # Lockouts and anti-passback state must survive a restart; written after the door moved.
        # A save that failed (a full disk) is tried again at the next decision.
        version = self.engine.state_version
        if version != self._engine_state_version and self._write_state():
            self._engine_state_version = version

    def _save_state(self) -> None:
        """Save engine and door state (see `_write_state`)."""
        self._write_state()

    def _write_state(self) -> bool:
        """Engine state (lockouts, anti-passback) and door state (lockdown, latched alarms);
        False when it could not be saved."""
        if not hasattr(self, "stores") or not hasattr(self, "engine"):
            return True  # restoring at start-up: the state being restored is already saved
        try:
            now = self._stamp()
            state = {"engine": self.engine.export_state(now), "doors": self._door_states}
            if hasattr(self, "http_unlock"):
                state["http_unlock"] = self.http_unlock.export_state(now)
            self.stores.engine_state.save_engine_state(state)
        except Exception as exc:
            log.error("could not save engine and door state: %s", exc)
            return False
        return True

    def _stamp(self) -> Stamp:
        return Stamp.read(self.clock, self.boot_id)

    async def _watch_store(self) -> None:
        """Pick up writes made by another process (e.g. `door-gateway users import`)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), STORE_POLL_S)
            try:
                await self.reload_rules_if_changed()
                self.notifier.watchdog()
            except Exception:
                log.exception("store watch failed")

    async def reload_rules_if_changed(self, force: bool = False) -> bool:
        """Swap in a new snapshot when the rules changed; True when it did.

        The stores' rules listener (`RuleChanges`) passes `force=True`: writes through the
        stores' own connection do not move its `data_version`.

        `PRAGMA data_version` moves on any other connection's commit (journal writes
        included), so it only says when to read the rules counter; the snapshot itself is
        built on a worker thread with its own connection, and swapped in on the loop.
        """
        data_version = self.stores.engine_state.data_version()
        if data_version == self._data_version and not force:
            return False
        self._data_version = data_version
        if self.stores.engine_state.rules_version() == self.engine.snapshot.version:
            return False
        loop = asyncio.get_running_loop()
        snapshot = await loop.run_in_executor(None, self._read_snapshot)
        if snapshot.version > self.engine.snapshot.version:
            self.engine.snapshot = snapshot
            log.info("access rules reloaded (version %s)", snapshot.version)
            for door in self.doors.values():
                door.schedules_changed()
        return True

    def _read_snapshot(self) -> RulesSnapshot:
        conn = open_database(self.db_path, check_same_thread=False)
        try:
            return load_snapshot(conn)
        finally:
            conn.close()

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        await self.writer.flush()
        return await asyncio.get_running_loop().run_in_executor(
            None, self.journal.read, after, limit
        )

    async def flush_journal(self) -> None:
        """Wait until every event emitted so far is durable (and visible to readers)."""
        await self.writer.flush()

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None:
        loop = asyncio.get_running_loop()
        account = await loop.run_in_executor(
            None, verify_technician_in_thread, self.db_path, username, password
        )
        return account if password_allowed(self.settings, password) else None

    def password_change_required(self, username: str) -> bool:
        return password_change_required(self.stores.technicians, username)

    async def change_password(self, username: str, new: str) -> None:
        """Set a technician's own new password (keeping their level); ValueError if refused."""
        problem = password_problem(self.settings, new, username)
        if problem is not None:
            raise ValueError(problem)
        technicians = self.stores.technicians
        levels = {t.username: t.level for t in technicians.list_technicians()}
        if username not in levels:
            raise ValueError("no such technician")
        await asyncio.get_running_loop().run_in_executor(
            None, technicians.set_technician_password, username, new, levels[username], False
        )

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        self.emit(Event("api", self.clock.time(), reason=reason, user_id=username, trace=detail))

    def _upstream_status(self) -> dict[str, Any]:
        flow, apb = self.upstream.flow, self.upstream.apb
        status: dict[str, Any] = {
            "configured": flow is not None,
            # Doors that open to any unknown credential while the server is unreachable.
            "offline_grant_doors": [
                d.name for d in self.settings.doors if d.offline_policy == "grant"
            ],
        }
        if flow is not None:
            status.update(flow.status())
        if apb is not None:
            status["antipassback_urls"] = apb.status()
        return status

    def _door(self, name: str) -> DoorController:
        door = self.doors.get(name)
        if door is None:
            raise UnknownDoor(f"no door named {name!r}")
        return door

    def pulse_door(self, door: str, by: str) -> bool:
        """A technician's remote unlock pulse; False in lockdown."""
        target = self._door(door)
        self.record_api("remote_pulse", by, f"door={door}")
        return target.pulse(by)

    def set_lockdown(self, door: str | None, on: bool, by: str) -> None:
        """Lockdown of one door, or of every door when `door` is None."""
        targets = [self._door(door)] if door is not None else list(self.doors.values())
        for target in targets:
            target.set_lockdown(on, by)
        self._save_state()

    def acknowledge_alarms(self, door: str, by: str) -> None:
        self._door(door).acknowledge(by)

    def status(self) -> dict[str, Any]:
        """Every component's status(), gathered."""
        return {
            "device": {
                "id": self.settings.device.id,
                "name": self.settings.device.name,
                "version": __version__,
                "backend": self.settings.hardware.backend,
                "timezone": self.settings.device.timezone,
                "uptime_s": round(self.clock.monotonic() - self.started_at, 1),
            },
            "doors": {name: door.status() for name, door in self.doors.items()},
            "readers": {
                name: {**reader.status(), "feedback": self.feedback[name].status()}
                for name, reader in self.readers.items()
            },
            "upstream": self._upstream_status(),
            "store": {
                **self.engine.snapshot.counts(),
                "rules_version": self.engine.snapshot.version,
                **self.rule_changes.status(),
            },
            "journal": {
                "last_seq": self.journal.last_seq(),
                "max_events": self.journal.max_events,
                **self.writer.status(),
            },
            "forwarding": {
                **self.forwarder.status(),
                "journal_fault": self.writer.fault,
                "events_waiting_for_disk": self.writer.status()["queued"],
            },
            "access": self.engine.status(Instant.read(self.clock)) | self.pipeline.status(),
            "http_unlock": self.http_unlock.status(Instant.read(self.clock)),
        }

    # -- stop ------------------------------------------------------------------

    async def run_until_stopped(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self._stopping.wait()
        await self.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        """Lock every door first, then record the stop and close everything."""
        self._stopping.set()
        self.notifier.stopping()
        for door in self.doors.values():
            door.stop()
        self.emit(Event("system", self.clock.time(), reason="stopping"))
        for task in self._tasks:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.pipeline.close()
        if self.upstream.flow is not None:
            await self.upstream.flow.close()
        if self.upstream.apb is not None:
            await self.upstream.apb.close()
        for reader in self.readers.values():
            reader.close()
        for feedback in self.feedback.values():
            feedback.close()
        await self.forwarder.stop()  # bounded; before the journal and agents close
        await self.writer.close()
        self.journal.close()
        self.rule_changes.close()
        self.stores.close()
        self.hardware.close()


async def run(settings: Settings) -> None:
    """Start a gateway and serve until a signal stops it."""
    gateway = Gateway(settings)
    try:
        await gateway.start()
    except BaseException:
        for door in gateway.doors.values():
            door.stop()
        raise
    print(f"door-gateway {__version__}: status at http://{settings.web.listen}/", flush=True)
    await gateway.run_until_stopped()
