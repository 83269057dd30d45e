"""The composition root: builds every component from the settings and wires them; the
components do the work. Only the CLI imports this module.

Each component's close is registered in an `AsyncExitStack` as the component is built, so
a stop, and a start that fails half-way, close exactly what was built, newest first, and a
close that fails does not skip the ones after it. The doors come first: each relay is
driven to its locked level as its line is made, before anything else runs. Their stop sits
above everything else on the stack (the other components unwind from a stack of their
own, below it), so on any unwind every door locks FIRST, then `stopping` is journaled,
then the rest closes: the web server, readers, upstream, the journal last but the store.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from contextlib import AsyncExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway import __version__, status
from gateway.access.engine import AccessEngine
from gateway.access.http_unlock import HttpUnlockState
from gateway.accounts import TechnicianAccounts, apply_public_pins, ensure_configured_accounts
from gateway.actatek_settings import TerminalFunctions
from gateway.clock import Clock, read_boot_id
from gateway.doors.build import DoorInputs, build_door
from gateway.doors.commands import DoorCommands
from gateway.doors.controller import DoorController
from gateway.doors.timers import LoopTimers
from gateway.feedback import ReaderFeedback, build_feedback
from gateway.hw.factory import BACKENDS, Hardware, SimulatedHardware
from gateway.hw.readers import ReaderContext, ReaderDriver, start_reader
from gateway.model import Event
from gateway.opendoor import OpenDoorService
from gateway.pipeline import AccessPipeline, build_upstream
from gateway.recorder import Recorder
from gateway.rule_changes import RuleChanges
from gateway.rules_reload import RulesReloader
from gateway.saved_state import SavedState
from gateway.service import ServiceNotifier
from gateway.settings import Settings
from gateway.simulation import Simulation
from gateway.store.journal import EventJournal
from gateway.store.log_query import LogCursor
from gateway.store.secrets import PinHasher, load_or_create_device_key
from gateway.store.statedir import make_state_dir
from gateway.store.stores import Stores
from gateway.store.writer import JournalWriter
from gateway.upstream.forward import Forwarder, TerminalIdentity
from gateway.web.actatek.context import ManagementContext
from gateway.web.auth import TokenStore
from gateway.web.server import build_app, start_site

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
        self.tz = ZoneInfo(settings.device.timezone)
        self.recorder = Recorder(self.clock)
        # Saved durations are carried over by kernel boot (Stamp).
        self.saved_state = SavedState(self.clock, read_boot_id(), self.recorder.emit)
        self.notifier = ServiceNotifier()
        self.doors: dict[str, DoorController] = {}
        self.door_inputs: dict[str, DoorInputs] = {}
        self.readers: dict[str, ReaderDriver] = {}
        self.feedback: dict[str, ReaderFeedback] = {}
        self._stack = AsyncExitStack()
        self._stop_requested = asyncio.Event()

    async def start(self) -> None:
        """Lock the doors, open the store, build the engine, readers and web server. A
        failure on the way unwinds what was built (doors locked first) and is raised."""
        async with AsyncExitStack() as stack:
            await self._build(stack)
            self._stack = stack.pop_all()
        self.recorder.emit(
            Event("system", self.clock.time(), reason="started", trace=f"v{__version__}")
        )
        self.notifier.ready(f"serving on {self.settings.web.listen}")

    async def _build(self, stack: AsyncExitStack) -> None:
        loop = asyncio.get_running_loop()
        parts = await stack.enter_async_context(AsyncExitStack())  # unwound after the doors
        parts.callback(self.hardware.close)
        stack.callback(self._record_stop)
        stack.callback(self._lock_doors)  # on top: the doors lock first on any unwind
        for door in self.settings.doors:
            self.doors[door.name], self.door_inputs[door.name] = build_door(
                door,
                self.hardware,
                loop,
                self.clock,
                self.recorder.emit,
                lambda: self.engine.snapshot,  # called only once the doors have started
                self.tz,
                self.saved_state.door_saver(door.name),
            )
        self._open_store(parts)
        self._prepare_accounts()
        self._build_engine(parts)
        self._build_terminal()
        self.saved_state.restore_doors(self.doors)  # lockdown, latched alarms
        for controller in self.doors.values():
            controller.start()  # schedules from here on
        self._build_readers(loop, parts)
        await self._start_web(parts)
        await self.forwarder.start()
        watch = loop.create_task(self.rules.watch(STORE_POLL_S, self.notifier.watchdog))
        parts.push_async_callback(_cancel_and_wait, watch)

    def _lock_doors(self) -> None:
        for door in self.doors.values():
            door.stop()

    def _record_stop(self) -> None:
        self.recorder.emit(Event("system", self.clock.time(), reason="stopping"))

    def _open_store(self, parts: AsyncExitStack) -> None:
        state_dir = Path(self.settings.device.state_dir)
        make_state_dir(state_dir)
        self.hasher = PinHasher(load_or_create_device_key(state_dir))
        self.db_path = state_dir / DB_FILE
        self.stores = Stores.open(self.db_path, self.hasher)
        parts.callback(self.stores.close)
        self.journal = EventJournal(self.db_path, self.tz, self.settings.journal.max_events)
        parts.callback(self.journal.close)
        self.writer = JournalWriter(self.journal, self.clock)
        parts.push_async_callback(self.writer.close)  # writes what is queued
        self.recorder.attach(self.writer, self.journal)  # the doors' events first
        parts.callback(self.recorder.detach)
        device = self.settings.device
        self.forwarder = Forwarder(
            self.journal,
            self.stores.agents,
            self.settings.forwarding,
            self.recorder.emit,
            TerminalIdentity(serial=device.id, name=device.name),
            {reader.name: reader.direction for reader in self.settings.readers},
            self.clock,
        )
        parts.push_async_callback(self.forwarder.stop)  # bounded; before the journal closes
        self.writer.add_listener(self.forwarder.notify)  # wake forwarding on each new row

    def _prepare_accounts(self) -> None:
        stores, emit = self.stores, self.recorder.emit
        ensure_configured_accounts(
            self.settings, stores.technicians, stores.users, emit, self.clock
        )
        apply_public_pins(self.settings, stores.users, emit, self.clock)
        self.accounts = TechnicianAccounts(self.settings, stores.technicians, self.db_path)

    def _build_engine(self, parts: AsyncExitStack) -> None:
        """The engine on the stored rules, the state saved before the restart, and the
        reloads that follow every write to the rules."""
        self.engine = AccessEngine(
            self.settings.access,
            {d.name: d for d in self.settings.doors},
            {r.name: r for r in self.settings.readers},
            self.tz,
            self.hasher,
            self.stores.engine_state.load_snapshot(),
        )
        self.http_unlock = HttpUnlockState(
            self.settings.http_unlock, self.tz, self.saved_state.save
        )
        self.saved_state.restore(self.stores.engine_state, self.engine, self.http_unlock)
        self.rules = RulesReloader(self.stores.engine_state, self.engine, self.doors, self.db_path)
        # From here on every write that moves the rules reloads them (any store, any caller).
        reload = functools.partial(self.rules.reload_rules_if_changed, force=True)
        self.rule_changes = RuleChanges(LoopTimers(asyncio.get_running_loop()), reload)
        self.stores.on_rules_changed(self.rule_changes.rules_changed)
        parts.push_async_callback(self.rule_changes.close)

    def _build_terminal(self) -> None:
        """What the ACTAtek API set at runtime overrides the file, from the first decision."""
        store = self.stores.terminal
        self.door_commands = DoorCommands(self.doors, self.recorder)
        self.terminal = TerminalFunctions(
            self.settings,
            store,
            doors=self.door_commands,
            engine=self.engine,
            journal=self.journal,
            users=self.stores.users,
            recorder=self.recorder,
            system_time=self.hardware.system_time(self.clock, store),
            is_wired=self.hardware.has_line,
            clock=self.clock,
            tz=self.tz,
        )
        self.terminal.start()

    def _build_readers(self, loop: asyncio.AbstractEventLoop, parts: AsyncExitStack) -> None:
        for reader in self.settings.readers:
            self.feedback[reader.name] = build_feedback(reader, self.hardware, LoopTimers(loop))
            parts.callback(self.feedback[reader.name].close)
        self.upstream = build_upstream(
            self.settings, self.tz, self.clock, self.hasher.hash, self.recorder.emit
        )
        parts.push_async_callback(self.upstream.close)
        self.pipeline = AccessPipeline(
            loop,
            self.clock,
            self.engine,
            {r.name: r for r in self.settings.readers},
            self.doors,
            self.feedback,
            self.recorder.emit,
            self.saved_state.engine_changed,
            self.settings.access.two_factor_timeout_s,
            self.upstream,
        )
        parts.push_async_callback(self.pipeline.close)  # open upstream questions: `shutdown`
        context = ReaderContext(
            self.hardware, loop, self.pipeline, self.clock, self.settings.wiegand_formats
        )
        for reader in self.settings.readers:
            self.readers[reader.name] = start_reader(reader, context)
            parts.callback(self.readers[reader.name].close)
            self.doors[reader.door].attach_feedback(self.feedback[reader.name])

    def _build_status(self) -> status.StatusBoard:
        return status.StatusBoard(
            {
                "device": status.device_section(self.settings, self.clock),
                "doors": status.doors_section(self.doors),
                "readers": status.readers_section(self.readers, self.feedback),
                "upstream": status.upstream_section(self.upstream, self.settings.doors),
                "store": status.store_section(self.engine, self.rule_changes),
                "journal": status.journal_section(self.journal, self.writer),
                "forwarding": status.forwarding_section(self.forwarder, self.writer),
                "access": status.access_section(self.engine, self.pipeline, self.clock),
                "http_unlock": status.timed_section(self.http_unlock, self.clock),
            }
        )

    async def _start_web(self, parts: AsyncExitStack) -> None:
        technicians = self.stores.technicians
        self.tokens = TokenStore(self.clock, self.settings.web.token_idle_s, technicians)
        self.status_board = self._build_status()
        management = ManagementContext(
            settings=self.settings,
            clock=self.clock,
            stores=self.stores,
            journal=self.journal,
            open_logs=functools.partial(LogCursor, self.journal.path),
            doors=self.doors,
            terminal=self.terminal,
            forwarder=self.forwarder,
            events=self.recorder,
            accounts=self.accounts,
            rule_changes=self.rule_changes,
        )
        open_door = OpenDoorService(
            self.settings,
            self.clock,
            self.engine,
            self.http_unlock,
            self.doors,
            self.recorder.emit,
            self.recorder.record_api,
        )
        self.web_app = build_app(
            status=self.status_board,
            events=self.recorder,
            accounts=self.accounts,
            tokens=self.tokens,
            door_control=self.door_commands,
            management=management,
            open_door=open_door,
            simulation=self._simulation(),
        )
        runner = await start_site(self.web_app, self.settings.web.listen)
        parts.push_async_callback(runner.cleanup)

    def _simulation(self) -> Simulation | None:
        """The simulation API exists only to play simulated hardware."""
        if not isinstance(self.hardware, SimulatedHardware):
            return None
        return Simulation(
            self.hardware,
            readers=self.readers,
            door_inputs=self.door_inputs,
            doors=self.doors,
            feedback=self.feedback,
            clock=self.clock,
        )

    async def run_until_stopped(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop cleanly (also when cancelled)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_requested.set)
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Lock every door first, then record the stop and close everything, newest first
        (see the module docstring). Stopping twice does nothing more."""
        self.notifier.stopping()
        await self._stack.aclose()


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait({task})


async def run(settings: Settings) -> None:
    """Start a gateway and serve until a signal stops it."""
    gateway = Gateway(settings)
    await gateway.start()
    print(f"door-gateway {__version__}: status at http://{settings.web.listen}/", flush=True)
    await gateway.run_until_stopped()
