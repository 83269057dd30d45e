"""The watchdog interval systemd asks for, and what a reload applies or leaves for a restart."""

from __future__ import annotations

import dataclasses

from gateway.config import load_settings
from gateway.reload import plan_reload
from gateway.service import watchdog_interval_s
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
