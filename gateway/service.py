"""systemd integration: READY, STATUS, WATCHDOG and STOPPING from the event loop itself,
so a stuck loop stops the watchdog pings and systemd restarts the daemon."""

from __future__ import annotations

import os

import sdnotify


class ServiceNotifier:
    """sd_notify messages; silent when not started by systemd (no NOTIFY_SOCKET)."""

    def __init__(self) -> None:
        self._enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self._enabled else None

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")
