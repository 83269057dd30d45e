"""PIN collection from single key presses."""

from __future__ import annotations

import pytest

from gateway.access.collector import PinCollector
from gateway.clock import Instant
from gateway.model import Credential


def at(seconds: float) -> Instant:
    """A moment when both clocks read `seconds` (durations below are on either)."""
    return Instant(seconds, seconds)


def type_keys(collector: PinCollector, keys: str, now: float = 100.0) -> Credential | None:
    """Press each key in order at `now`; the result of the last press."""
    result = None
    for key in keys:
        result = collector.press(key, at(now))
    return result


def test_digits_then_hash_submit_a_pin_credential() -> None:
    collector = PinCollector("kp", timeout_s=10)
    assert type_keys(collector, "1234") is None
    assert collector.pending_digits == 4
    cred = collector.press("#", at(101.0))
    assert cred == Credential(kind="pin", value="1234", reader="kp", timestamp=101.0)
    assert collector.pending_digits == 0
    assert "1234" not in repr(cred)


def test_star_clears_the_entry() -> None:
    collector = PinCollector("kp", timeout_s=10)
    type_keys(collector, "99*")
    assert collector.pending_digits == 0
    cred = type_keys(collector, "1234#")
    assert cred is not None and cred.value == "1234"


@pytest.mark.parametrize("keys", ["1#", "123456789#"])
def test_too_short_or_too_long_entries_are_rejected(keys: str) -> None:
    collector = PinCollector("kp", timeout_s=10, min_len=2, max_len=8)
    assert type_keys(collector, keys) is None
    assert collector.rejected == 1
    assert collector.pending_digits == 0
    cred = type_keys(collector, "12#")
    assert cred is not None and cred.value == "12"


def test_bounds_are_inclusive() -> None:
    collector = PinCollector("kp", timeout_s=10, min_len=4, max_len=6)
    assert type_keys(collector, "1234#") is not None
    assert type_keys(collector, "123456#") is not None
    assert collector.rejected == 0


def test_a_very_long_entry_stays_bounded_and_is_rejected() -> None:
    collector = PinCollector("kp", timeout_s=10, max_len=8)
    type_keys(collector, "1" * 1000)
    assert collector.pending_digits == 9
    assert collector.press("#", at(100.0)) is None
    assert collector.rejected == 1


def test_keys_after_an_idle_gap_start_a_fresh_entry() -> None:
    collector = PinCollector("kp", timeout_s=10)
    type_keys(collector, "99", now=100.0)
    collector.press("1", at(110.0))  # exactly the timeout: still the same entry
    assert collector.pending_digits == 3
    collector.press("2", at(120.5))  # gap > 10 s: "991" is dropped
    cred = type_keys(collector, "34#", now=121.0)
    assert cred is not None and cred.value == "234"
    assert collector.expired == 1


def test_expire_clears_a_stale_entry_and_deadline_follows_the_last_key() -> None:
    collector = PinCollector("kp", timeout_s=10)
    assert collector.deadline() is None
    type_keys(collector, "12", now=100.0)
    collector.press("3", at(104.0))
    assert collector.deadline() == 114.0
    assert not collector.expire(114.0)
    assert collector.expire(114.1)
    assert collector.pending_digits == 0
    assert collector.deadline() is None
    assert not collector.expire(200.0)


def test_hash_on_an_empty_entry_and_unknown_keys_are_ignored() -> None:
    collector = PinCollector("kp", timeout_s=10)
    assert collector.press("#", at(100.0)) is None
    assert collector.rejected == 0
    assert type_keys(collector, "1A2#") is not None
    assert collector.ignored_keys == 1
    status = collector.status()
    assert status["submitted"] == 1
    assert "1A2" not in str(status) and "12" not in str(status.values())


def test_invalid_length_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        PinCollector("kp", timeout_s=10, min_len=5, max_len=4)


def test_half_typed_digits_expire_on_time_after_the_wall_clock_stepped_back() -> None:
    collector = PinCollector("kp", timeout_s=10)
    collector.press("9", Instant(wall=5_000.0, mono=100.0))
    collector.press("9", Instant(wall=5_001.0, mono=101.0))
    # The wall clock goes back an hour; 15 s pass: the next person types their PIN.
    cred = None
    for key in "1234#":
        cred = collector.press(key, Instant(wall=1_416.0, mono=116.0))
    assert cred is not None and cred.value == "1234"
    assert cred.timestamp == 1_416.0  # stamped with the wall time of the '#'
    assert collector.expired == 1


def test_digits_being_typed_are_kept_when_the_wall_clock_steps_forward() -> None:
    collector = PinCollector("kp", timeout_s=10)
    type_keys(collector, "12", now=100.0)
    cred = None
    for key in "34#":
        cred = collector.press(key, Instant(wall=100.0 + 86_400 + 2, mono=102.0))
    assert cred is not None and cred.value == "1234"
    assert collector.expired == 0
