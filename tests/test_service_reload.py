"""The watchdog interval systemd asks for, and what a reload applies or leaves for a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path
from types import SimpleNamespace

from gateway.config import load_settings
from gateway.reload import plan_reload
from gateway.rules_reload import RulesReloader
from gateway.service import (
    ServiceNotifier,
    StoreHealthReport,
    WatchdogPinger,
    watchdog_interval_s,
)
from tests.daemon.conftest import SIMULATE


def test_watchdog_pings_at_half_the_interval_systemd_asks_for() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, 42) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 15.0


def test_no_watchdog_when_not_asked_or_asked_of_another_process() -> None:
    assert watchdog_interval_s({}, 42) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}, 42) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None


def test_a_reload_applies_the_log_level_and_leaves_doors_and_listen_for_a_restart() -> None:
    running = load_settings(SIMULATE)
    front = dataclasses.replace(running.doors[0], relay_pin=14)
    loaded = dataclasses.replace(
        running,
        device=dataclasses.replace(running.device, log_level="DEBUG"),
        web=dataclasses.replace(running.web, listen="0.0.0.0:8443"),
        doors=(front, *running.doors[1:]),
    )
    plan = plan_reload(running, loaded)
    assert plan.applied == ("device.log_level",)
    assert set(plan.needs_restart) == {"doors", "web.listen"}
    assert plan.settings.device.log_level == "DEBUG"
    assert plan.settings.doors == running.doors and plan.settings.web == running.web


def test_an_unchanged_file_changes_nothing() -> None:
    running = load_settings(SIMULATE)
    plan = plan_reload(running, load_settings(SIMULATE))
    assert plan.applied == () and plan.needs_restart == () and plan.settings == running


class BrokenStore:
    """An engine-state store whose database fails `failures` times, then reads again."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def data_version(self) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.DatabaseError("database disk image is malformed")
        return 1

    def rules_version(self) -> int:
        return 0


class RecordingNotifier(ServiceNotifier):
    """The notifier with its messages kept instead of sent."""

    def __init__(self) -> None:
        super().__init__(environ={})
        self.sent: list[str] = []

    def _send(self, message: str) -> None:
        self.sent.append(message)


async def test_a_broken_store_is_reported_on_the_status_line_and_never_pings() -> None:
    notifier = RecordingNotifier()
    health = StoreHealthReport(notifier, "serving on 127.0.0.1:8080")
    engine = SimpleNamespace(snapshot=SimpleNamespace(version=0, loading=False))
    reloader = RulesReloader(BrokenStore(3), engine, {}, Path("unused.db"))  # type: ignore[arg-type]
    async with reloader.watching(0.0, health):
        for _ in range(200):  # each check reads the store on a worker thread
            if len(notifier.sent) >= 2:
                break
            await asyncio.sleep(0.01)
    assert notifier.sent == [
        "STATUS=serving on 127.0.0.1:8080; STORE FAULT: database disk image is malformed",
        "STATUS=serving on 127.0.0.1:8080; store readable again",
    ]  # each change once; and no WATCHDOG=1 from here: the loop's own task sends those


async def test_the_watchdog_task_pings_until_stopped() -> None:
    notifier = RecordingNotifier()
    pinger = WatchdogPinger(notifier, 0.0)
    pinger.start()
    for _ in range(5):
        await asyncio.sleep(0)
    await pinger.stop()
    count = notifier.sent.count("WATCHDOG=1")
    assert count >= 3
    await asyncio.sleep(0)
    assert notifier.sent.count("WATCHDOG=1") == count
