"""Keypad lockout: counting wrong PINs per reader, escalation, persistence."""

from __future__ import annotations

import json

import pytest

from gateway.access.lockout import PinLockout
from gateway.clock import Stamp
from gateway.settings import LockoutSettings
from tests.fakes import ManualClock

BOOT = "boot-1"


def fail(lockout: PinLockout, clock: ManualClock, times: int, reader: str = "kp") -> float | None:
    """`times` wrong PINs one second apart; the last call's result."""
    result = None
    for _ in range(times):
        result = lockout.record_failure(reader, clock.monotonic())
        clock.advance(1)
    return result


def test_five_failures_lock_the_reader_for_sixty_seconds() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    assert fail(lockout, clock, 4) is None
    assert lockout.is_locked("kp", clock.monotonic()) is None
    assert lockout.record_failure("kp", clock.monotonic()) == 60.0
    assert lockout.is_locked("kp", clock.monotonic()) == pytest.approx(60.0)
    assert lockout.is_locked("other", clock.monotonic()) is None  # per reader
    clock.advance(59)
    assert lockout.is_locked("kp", clock.monotonic()) == pytest.approx(1.0)
    clock.advance(1)
    assert lockout.is_locked("kp", clock.monotonic()) is None


def test_failures_outside_the_window_do_not_add_up() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 4)
    clock.advance(60)
    assert fail(lockout, clock, 1) is None
    assert lockout.is_locked("kp", clock.monotonic()) is None


def test_repeat_lockouts_double_up_to_the_cap() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings(max_lock_s=200.0))
    durations = []
    for _ in range(4):
        durations.append(fail(lockout, clock, 5))
        clock.advance(lockout.is_locked("kp", clock.monotonic()) or 0)
    assert durations == [60.0, 120.0, 200.0, 200.0]


def test_correct_pin_resets_the_escalation() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5)
    clock.advance(60)
    assert lockout.record_success("kp", clock.monotonic())
    assert fail(lockout, clock, 5) == 60.0


def test_quiet_period_after_the_lockout_resets_the_escalation() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings(reset_after_s=600.0))
    fail(lockout, clock, 5)
    clock.advance(60 + 590)  # lockout over, but not yet 600 s of quiet since it ended
    assert fail(lockout, clock, 5) == 120.0
    clock.advance(120 + 600)
    assert fail(lockout, clock, 5) == 60.0


def test_success_does_not_cut_an_active_lockout_short() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5)
    assert not lockout.record_success("kp", clock.monotonic())
    assert lockout.is_locked("kp", clock.monotonic()) is not None


def test_failures_while_locked_do_not_extend_the_lockout() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5)
    left = lockout.is_locked("kp", clock.monotonic())
    assert fail(lockout, clock, 5) is None
    assert lockout.is_locked("kp", clock.monotonic()) == pytest.approx((left or 0) - 5)


def test_export_import_keeps_an_active_lockout_and_the_escalation() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5)
    saved = json.loads(json.dumps(lockout.export_state(Stamp.read(clock, BOOT))))
    clock.advance(30)
    restored = PinLockout(LockoutSettings())
    restored.import_state(saved, Stamp.read(clock, BOOT))
    assert restored.is_locked("kp", clock.monotonic()) == pytest.approx(29.0)
    clock.advance(30)
    assert fail(restored, clock, 5) == 120.0


def test_import_shortens_a_lockout_beyond_the_cap() -> None:
    # A state saved while the clock was a day ahead by the previous version (format 1:
    # wall-clock times), or a damaged one: no lockout outlasts max_lock_s from now.
    clock = ManualClock()
    wall = clock.time()
    old = {"version": 1, "readers": {"kp": {"locked_until": wall + 86400, "level": 3}}}
    damaged = {
        "version": 2,
        "saved": Stamp.read(clock, BOOT).as_dict(),
        "readers": {"kp": {"locked_until": 1e9, "last_activity": 1e9, "level": 3}},
    }
    for state in (old, damaged):
        restored = PinLockout(LockoutSettings(max_lock_s=100.0))
        restored.import_state(state, Stamp.read(clock, BOOT))
        assert restored.is_locked("kp", clock.monotonic()) == pytest.approx(100.0)


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"version": 1, "readers": []},
        {"version": 1, "readers": {"kp": {"failures": ["x"]}}},
        {"version": 1, "readers": {"kp": {"level": -1}}},
        {"version": 1, "readers": {"kp": {"locked_until": "soon"}}},
        {"version": 2, "readers": {}},
        {"version": 2, "saved": {"wall": 1.0, "mono": "x", "boot": ""}, "readers": {}},
        {"version": 3, "readers": {}},
    ],
)
def test_import_rejects_malformed_state_and_keeps_the_current_one(state: dict[str, object]) -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5)
    with pytest.raises(ValueError):
        lockout.import_state(state, Stamp.read(clock, BOOT))
    assert lockout.is_locked("kp", clock.monotonic()) is not None


def test_status_reports_locked_readers_and_recent_failures() -> None:
    clock = ManualClock()
    lockout = PinLockout(LockoutSettings())
    fail(lockout, clock, 5, reader="a")
    fail(lockout, clock, 2, reader="b")
    status = lockout.status(clock.monotonic())
    assert set(status["locked"]) == {"a"}
    assert status["recent_failures"] == {"b": 2}
