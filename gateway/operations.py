"""What the status page's history, configuration and self-test pages ask of the running
daemon (`gateway.web.operations.OperationsControl`).

Everything here is slow next to a door decision (a day of the journal counted, the file
read again, a self-test that may wait seconds for a host), so it runs on worker threads,
never on the event loop, and never on the decision path. One self-test runs at a time; a
second request waits for it and runs its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.clock import Clock
from gateway.config.view import ConfigCheck, check_file, masked_settings
from gateway.selftest import SelftestReport, System, run_selftest
from gateway.settings import Settings
from gateway.store.history import History, read_history


class OperationsService:
    """The 24-hour history, the masked configuration, check-config and the self-test."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        db_path: Path,
        tz: ZoneInfo,
        system: System | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._db_path = db_path
        self._tz = tz
        self._system = system or System(clock=clock, in_daemon=True)
        self._selftest_lock = asyncio.Lock()
        self._last: SelftestReport | None = None

    async def history(self) -> History:
        """The last 24 local hours of the journal (one query, on a worker thread)."""
        now = self._clock.time()
        return await asyncio.to_thread(read_history, self._db_path, now, self._tz)

    def configuration(self) -> dict[str, Any]:
        """The settings the daemon runs with, every secret masked."""
        return masked_settings(self._settings)

    async def config_check(self) -> ConfigCheck:
        """check-config on the file the daemon was started from, as it is on disk now."""
        return await asyncio.to_thread(check_file, self._settings.path)

    async def selftest(self, by: str) -> SelftestReport:
        """Run every check (`gateway.selftest`) and keep the report as the last one."""
        async with self._selftest_lock:
            report = await asyncio.to_thread(run_selftest, self._settings, self._system, by)
            self._last = report
            return report

    def last_selftest(self) -> SelftestReport | None:
        """The report of the last self-test since the start, if any."""
        return self._last
