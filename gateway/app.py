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
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway import __version__
from gateway.access.engine import AccessEngine
from gateway.access.http_unlock import HttpUnlockState
from gateway.accounts import TechnicianAccounts, apply_public_pins, ensure_configured_accounts
from gateway.actatek_settings import TerminalFunctions
from gateway.clock import Clock, read_boot_id
from gateway.doors.build import DoorInputs, build_door
from gateway.doors.commands import DoorCommands
from gateway.doors.controller import DoorController
from gateway.hw.factory import BACKENDS, Hardware
from gateway.hw.formats import FormatRegistry
from gateway.memory import limit_malloc_arenas
from gateway.model import Event
from gateway.opendoor import OpenDoorService
from gateway.operations import OperationsService
from gateway.reader_chain import start_reader_chain
from gateway.reader_diagnostics import ReaderDiagnostics
from gateway.recorder import Recorder
from gateway.reload import ConfigReloader
from gateway.rescue_list import start_rescue_list
from gateway.rules_reload import StoreLookups, follow_rule_changes
from gateway.saved_state import SavedState
from gateway.service import (
    ServiceNotifier,
    StoreHealthReport,
    WatchdogPinger,
    stop_on_signals,
    wait_for_signals,
    watchdog_interval_s,
)
from gateway.settings import Settings
from gateway.simulation import simulation_for
from gateway.status import (
    build_status_board,
    doors_section,
    readers_section,
    upstream_section,
)
from gateway.storage import open_storage
from gateway.store.log_query import LogCursor
from gateway.tlscert import TlsFiles, serving_context
from gateway.web.actatek.context import ManagementContext
from gateway.web.auth import TokenStore
from gateway.web.server import build_app, start_site

if TYPE_CHECKING:
    from gateway.mqtt.session import MqttSession

STORE_POLL_S = 1.0  # how soon another process's writes (a CLI import) are in force
# How long start-up waits for the rules cache before READY: a site of up to some tens of
# thousands of users starts warm; a larger one serves at once, reading the store meanwhile.
WARM_START_S = 0.5


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
        # The watchdog pings from a task of the loop, from the start: see gateway.service.
        self.watchdog = WatchdogPinger(
            self.notifier, watchdog_interval_s(self.notifier.environ, os.getpid())
        )
        scheme = "http" if settings.web_tls == "off" else "https"
        self.serving = f"serving on {scheme}://{settings.web.listen}"
        self.doors: dict[str, DoorController] = {}
        self.door_inputs: dict[str, DoorInputs] = {}
        self.tls: TlsFiles | None = None
        self.mqtt: MqttSession | None = None  # with [mqtt] url only
        self._stack = AsyncExitStack()
        self.stop_requested = asyncio.Event()  # set by SIGTERM/SIGINT (`run`)

    async def start(self) -> None:
        """Lock the doors, open the store, build the engine, readers and web server. A
        failure on the way unwinds what was built (doors locked first) and is raised."""
        limit_malloc_arenas()  # before any worker thread: see gateway/memory.py
        async with AsyncExitStack() as stack:
            self.watchdog.start()
            stack.push_async_callback(self.watchdog.stop)  # pings until the very end
            await self._build(stack)
            await self.rules.loaded(WARM_START_S)
            self._stack = stack.pop_all()
        self.recorder.emit(
            Event("system", self.clock.time(), reason="started", trace=f"v{__version__}")
        )
        self.notifier.ready(self.serving)

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
                self.doors,  # input actions may pulse another door's relay
            )
        self._open_store(parts)
        self._prepare_accounts()
        self._build_engine(parts)
        self.rescue = await start_rescue_list(
            lambda: self.settings, self.stores.users, self.recorder, self.clock, parts
        )
        self._build_terminal()
        self.saved_state.restore_doors(self.doors)  # lockdown, latched alarms
        for controller in self.doors.values():
            controller.start()  # schedules from here on
        self._build_readers(parts)
        await self._start_web(parts)
        await self.forwarder.start()
        if self.storage.mailer is not None:
            await self.storage.mailer.start()
        await self._start_mqtt(parts)
        health = StoreHealthReport(self.notifier, self.serving)
        await parts.enter_async_context(self.rules.watching(STORE_POLL_S, health))

    def _lock_doors(self) -> None:
        for door in self.doors.values():
            door.stop()

    def _record_stop(self) -> None:
        self.recorder.emit(Event("system", self.clock.time(), reason="stopping"))

    def _open_store(self, parts: AsyncExitStack) -> None:
        self.storage = open_storage(self.settings, self.clock, self.tz, self.recorder, parts)
        self.hasher, self.db_path = self.storage.hasher, self.storage.db_path
        self.stores, self.journal = self.storage.stores, self.storage.journal
        self.writer, self.forwarder = self.storage.writer, self.storage.forwarder

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
            # The full load runs on a worker thread once serving (`RulesReloader.watch`);
            # until then each credential is read from the store first (`StoreLookups`).
            self.stores.engine_state.load_shared_snapshot(),
        )
        self.http_unlock = HttpUnlockState(
            self.settings.http_unlock, self.tz, self.saved_state.save
        )
        self.saved_state.restore(self.stores.engine_state, self.engine, self.http_unlock)
        self.rules, self.rule_changes = follow_rule_changes(
            self.stores, self.engine, self.doors, self.db_path, parts
        )

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

    def _build_readers(self, parts: AsyncExitStack) -> None:
        self.chain = start_reader_chain(
            self.settings,
            self.hardware,
            self.clock,
            self.tz,
            self.engine,
            self.doors,
            self.hasher,
            self.recorder.emit,
            self.saved_state.engine_changed,
            parts,
            StoreLookups(self.engine, self.db_path, self.hasher.hash),
            self.stores.users.grant_actions,
        )
        self.feedback, self.readers = self.chain.feedback, self.chain.readers
        self.upstream, self.pipeline = self.chain.upstream, self.chain.pipeline

    async def _start_web(self, parts: AsyncExitStack) -> None:
        technicians = self.stores.technicians
        self.tokens = TokenStore(self.clock, self.settings.web.token_idle_s, technicians)
        self.status_board = build_status_board(
            self.settings,
            self.clock,
            self.doors,
            self.chain,
            self.storage,
            self.engine,
            self.rule_changes,
            self.http_unlock,
        )
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
            simulation=simulation_for(
                self.hardware,
                self.chain,
                self.doors,
                self.door_inputs,
                self.clock,
                self.settings.floors,
            ),
            ops=OperationsService(self.settings, self.clock, self.db_path, self.tz),
            reader_diagnosis=ReaderDiagnostics(
                self.readers,
                {r.name: r for r in self.settings.readers},
                FormatRegistry.from_settings(self.settings.wiegand_formats),
                self.stores.users,
            ),
        )
        self.tls, context = serving_context(self.settings)
        runner = await start_site(self.web_app, self.settings.web.listen, ssl_context=context)
        parts.push_async_callback(runner.cleanup)

    async def _start_mqtt(self, parts: AsyncExitStack) -> None:
        """Publish to the broker of `[mqtt]`, when there is one (in the background)."""
        if not self.settings.mqtt.url:
            return
        # Loaded only here: a gateway without [mqtt] never holds the MQTT side in memory.
        from gateway.mqtt.build import start_mqtt
        from gateway.mqtt.states import StateSources

        states = StateSources(
            doors_section(self.doors),
            readers_section(self.chain.readers, self.chain.feedback),
            upstream_section(self.chain.upstream, self.settings.doors),
        )
        self.mqtt = await start_mqtt(
            self.settings,
            self.journal,
            self.db_path,
            self.door_commands,
            self.recorder,
            states,
            self.clock,
            self.recorder.flush,
            parts,
        )
        self.writer.add_listener(self.mqtt.notify)
        self.status_board.add("mqtt", self.mqtt.status)

    async def run_until_stopped(
        self, overrides: Callable[[Settings], Settings] = lambda settings: settings
    ) -> None:
        """Serve until SIGTERM/SIGINT, then stop cleanly (also when cancelled). SIGHUP
        reloads the configuration file (`gateway.reload`); `overrides` puts back what the
        command line set over it."""
        reloader = ConfigReloader(self.settings, overrides, self.apply_settings, self.notifier)
        try:
            await wait_for_signals(self.stop_requested, reloader.reload)
        finally:
            await self.stop()

    def apply_settings(self, settings: Settings) -> None:
        """Put into force what a reload may change live (`gateway.reload.LIVE_KEYS`)."""
        logging.getLogger().setLevel(settings.device.log_level)
        self.settings = settings

    async def stop(self) -> None:
        """Lock every door first, then record the stop and close everything, newest first
        (see the module docstring). Stopping twice does nothing more."""
        self.notifier.stopping()
        await self._stack.aclose()


async def run(
    settings: Settings, overrides: Callable[[Settings], Settings] = lambda settings: settings
) -> None:
    """Start a gateway and serve until a signal stops it; `overrides` are the command
    line's, put back over the file at each reload."""
    gateway = Gateway(settings)
    stop_on_signals(gateway.stop_requested)
    await gateway.start()
    scheme = "http" if gateway.tls is None else "https"
    print(f"door-gateway {__version__}: status at {scheme}://{settings.web.listen}/", flush=True)
    await gateway.run_until_stopped(overrides)
