"""Durations saved across a restart (keypad lockout, reject-repeat window) are never longer
after it than they were left to run, whatever the wall clock did in between.

Within the same boot the monotonic clock still measures the time that passed; after a
reboot only the wall clock can, so its elapsed time is used, never below zero: a wall
clock stepped back across the restart cannot lengthen anything.
"""

from __future__ import annotations

import json
from dataclasses import replace

from gateway.access.engine import AccessEngine
from gateway.clock import Instant, Stamp
from gateway.model import Credential
from gateway.settings import AccessSettings, AutoInOutSettings

from .rules import MONDAY_10AM, engine, snapshot, when

NOW = when(MONDAY_10AM)
DAY = 86400.0
BOOT, OTHER_BOOT = "boot-1", "boot-2"


def restart(
    old: AccessEngine,
    new: AccessEngine,
    saved: Instant,
    now: Instant,
    boot_at_save: str = BOOT,
    boot_now: str = BOOT,
) -> AccessEngine:
    """Save `old`'s state at `saved`, load it into `new` at `now` (through JSON)."""
    state = json.loads(json.dumps(old.export_state(Stamp(saved.wall, saved.mono, boot_at_save))))
    new.import_state(state, Stamp(now.wall, now.mono, boot_now))
    return new


def lockout_engine() -> AccessEngine:
    return engine(snapshot(pins={"4321": "u1"}))


def pin_reason(eng: AccessEngine, now: Instant) -> str:
    credential = Credential("pin", "4321", "r-in", now.wall)
    return eng.decide(credential, "front", now).reason


def locked_engine() -> tuple[AccessEngine, Instant]:
    """An engine whose keypad `r-in` was locked for 60 s at the returned moment."""
    eng = lockout_engine()
    now = NOW
    for _ in range(5):
        eng.decide(Credential("pin", "0000", "r-in", now.wall), "front", now)
        now = now + 1
    return eng, now - 1


def test_same_boot_a_lockout_keeps_counting_on_the_monotonic_clock() -> None:
    eng, locked = locked_engine()
    back = replace(locked + 10, wall=locked.wall - DAY + 10)  # the wall clock went back
    restarted = restart(eng, lockout_engine(), saved=locked + 5, now=back)
    assert restarted.status(back)["lockout"]["locked"] == {"r-in": 50.0}
    assert pin_reason(restarted, back + 49.9) == "keypad_locked"
    assert pin_reason(restarted, back + 50) == "granted"


def test_after_a_reboot_with_the_wall_clock_stepped_back_a_lockout_is_not_longer() -> None:
    eng, locked = locked_engine()
    booted = Instant(wall=locked.wall - DAY + 30, mono=12.0)
    restarted = restart(eng, lockout_engine(), saved=locked + 5, now=booted, boot_now=OTHER_BOOT)
    # Nothing says how long the gateway was off: the 55 s left at the save, no more.
    assert restarted.status(booted)["lockout"]["locked"] == {"r-in": 55.0}
    assert pin_reason(restarted, booted + 55) == "granted"


def test_after_a_reboot_with_a_right_wall_clock_the_time_off_counts() -> None:
    eng, locked = locked_engine()
    booted = Instant(wall=locked.wall + 35, mono=12.0)
    restarted = restart(eng, lockout_engine(), saved=locked + 5, now=booted, boot_now=OTHER_BOOT)
    assert restarted.status(booted)["lockout"]["locked"] == {"r-in": 25.0}


def repeat_engine() -> AccessEngine:
    auto = AutoInOutSettings(mode="reject_repeat_login", reject_repeat_s=8)
    return engine(access=AccessSettings(auto_in_out=auto))


def card_reason(eng: AccessEngine, now: Instant) -> str:
    return eng.decide(Credential("card", "CAFE01", "r-in", now.wall), "front", now).reason


def test_after_a_reboot_with_the_wall_clock_stepped_back_a_repeat_window_is_not_longer() -> None:
    eng = repeat_engine()
    assert card_reason(eng, NOW) == "granted"
    booted = Instant(wall=NOW.wall - DAY, mono=5.0)  # was a day ahead, corrected at boot
    restarted = restart(eng, repeat_engine(), saved=NOW + 1, now=booted, boot_now=OTHER_BOOT)
    assert card_reason(restarted, booted) == "repeat_rejected"
    assert card_reason(restarted, booted + 7) == "granted"


def test_same_boot_a_step_forward_does_not_end_a_repeat_window() -> None:
    eng = repeat_engine()
    assert card_reason(eng, NOW) == "granted"
    ahead = replace(NOW + 3, wall=NOW.wall + DAY + 3)
    restarted = restart(eng, repeat_engine(), saved=NOW + 1, now=ahead)
    assert card_reason(restarted, ahead) == "repeat_rejected"
    assert card_reason(restarted, ahead + 5) == "granted"


def test_state_saved_by_the_previous_version_is_accepted_and_clamped() -> None:
    # The previous version saved absolute wall-clock times (format 1).
    wall = NOW.wall
    state = {
        "version": 1,
        "lockout": {
            "version": 1,
            "readers": {
                "r-in": {
                    "failures": [],
                    "locked_until": wall + 30,
                    "level": 1,
                    "last_activity": wall + 30,
                }
            },
        },
        "auto_in_out": {
            "version": 1,
            "passages": {},
            "last_grant": {"u1": wall + DAY},  # saved while the clock was a day ahead
            "occupancy": 0,
            "crowd_reset_at": None,
        },
    }
    upgraded = engine(
        snapshot(pins={"4321": "u1"}),
        access=AccessSettings(
            auto_in_out=AutoInOutSettings(mode="reject_repeat_login", reject_repeat_s=8)
        ),
    )
    upgraded.import_state(json.loads(json.dumps(state)), Stamp(NOW.wall, NOW.mono, BOOT))
    assert upgraded.status(NOW)["lockout"]["locked"] == {"r-in": 30.0}
    assert card_reason(upgraded, NOW) == "repeat_rejected"
    assert card_reason(upgraded, NOW + 8) == "granted"
    assert pin_reason(upgraded, NOW + 30) == "granted"
