"""systemd integration: READY, RELOADING, STATUS, WATCHDOG and STOPPING.

The watchdog ping comes from a task of the event loop itself (`WatchdogPinger`), and from
nothing else: a loop that still runs callbacks still decides on cards, so it keeps pinging
whatever the store does (a broken store is reported as `STATUS=`, never by stopping the
pings); a loop that is blocked or stuck runs no task, the pings stop, and systemd restarts
the daemon (the unit's `WatchdogSec=`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import sdnotify

log = logging.getLogger(__name__)


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Half of `WATCHDOG_USEC` in seconds, as sd_watchdog_enabled(3) advises; None when
    systemd asks for no watchdog, or asks it of another process (`WATCHDOG_PID`)."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    return int(usec) / 2_000_000


class ServiceNotifier:
    """sd_notify messages; silent when not started by systemd (no NOTIFY_SOCKET)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self._enabled = bool(self.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self._enabled else None

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        """A new status line (`systemctl status` shows it) without any state change."""
        self._send(f"STATUS={status}")

    def reloading(self) -> None:
        """A configuration reload begins; `ready` ends it (sd_notify(3): RELOADING=1 carries
        the monotonic time, for `Type=notify-reload`)."""
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={now_usec}\nSTATUS=reloading the configuration")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping: doors locked")


class WatchdogPinger:
    """Pings the watchdog from the event loop every `interval_s` while the loop runs."""

    def __init__(self, notifier: ServiceNotifier, interval_s: float | None) -> None:
        self._notifier, self._interval_s = notifier, interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start pinging (once; nothing when there is no watchdog). Runs on the loop."""
        if self._interval_s is None or self._task is not None:
            return
        log.info("systemd watchdog: a ping every %.1f s from the event loop", self._interval_s)
        self._task = asyncio.get_running_loop().create_task(self._ping_forever(self._interval_s))

    async def _ping_forever(self, interval_s: float) -> None:
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval_s)

    async def stop(self) -> None:
        """Stop pinging and wait for the task to end."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
            self._task = None


class StoreHealthReport:
    """The store watch's outcome on the systemd status line, sent when it changes."""

    def __init__(self, notifier: ServiceNotifier, serving: str) -> None:
        self._notifier, self._serving = notifier, serving
        self._failing = False

    def store_ok(self) -> None:
        if self._failing:
            self._failing = False
            self._notifier.status(f"{self._serving}; store readable again")

    def store_failed(self, error: Exception) -> None:
        if not self._failing:
            self._failing = True
            self._notifier.status(f"{self._serving}; STORE FAULT: {error}")


def stop_on_signals(stop_requested: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop_requested` from now on. Called before the gateway
    starts: a stop asked for while it starts (the doors already driven) is honoured once
    it has started, through the locks, never by the default action that ends the process."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)


async def wait_for_signals(
    stop_requested: asyncio.Event, reload: Callable[[], Coroutine[Any, Any, object]]
) -> None:
    """Wait until SIGTERM or SIGINT sets `stop_requested`; each SIGHUP meanwhile runs
    `reload()` in a task of its own. A SIGHUP while stopping does nothing (it must not end
    the stop), and reloads still running when the wait ends are cancelled."""
    loop = asyncio.get_running_loop()
    stop_on_signals(stop_requested)
    reloads: set[asyncio.Task[object]] = set()

    def start_reload() -> None:
        if stop_requested.is_set():
            return
        task: asyncio.Task[object] = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, start_reload)
    try:
        await stop_requested.wait()
    finally:
        for task in list(reloads):
            task.cancel()
