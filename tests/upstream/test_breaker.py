"""The circuit breaker on a manual clock: open after N failures, one probe when the open
period is over, doubling periods on failed probes, latency percentiles."""

from __future__ import annotations

from gateway.upstream.breaker import CircuitBreaker, LatencyWindow
from tests.fakes import ManualClock


def breaker(clock: ManualClock, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(failures, open_s=30, max_open_s=100, clock=clock.monotonic)


def state(b: CircuitBreaker) -> str:
    """The state, read afresh (a plain str, so checks after a change are not narrowed)."""
    return str(b.state)


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        admission = b.admit()
        assert admission != "reject"
        b.record(admission, ok=False, latency_s=0.5, error="upstream_timeout")


def test_opens_after_consecutive_failures_only() -> None:
    clock = ManualClock()
    b = breaker(clock)
    fail(b, 2)
    b.record(b.admit(), ok=True, latency_s=0.01)  # a success resets the count
    fail(b, 2)
    assert state(b) == "closed"
    fail(b)
    assert state(b) == "open"
    assert b.admit() == "reject"
    status = b.status()
    assert (status["state"], status["trips"], status["last_error"]) == (
        "open",
        1,
        "upstream_timeout",
    )
    assert status["open_remaining_s"] == 30


def test_one_probe_after_the_open_period_and_success_closes() -> None:
    clock = ManualClock()
    b = breaker(clock)
    fail(b, 3)
    clock.advance(29.9)
    assert b.admit() == "reject"
    clock.advance(0.1)
    assert state(b) == "half_open"
    assert b.admit() == "probe"
    assert b.admit() == "reject"  # only one probe at a time
    b.record("probe", ok=True, latency_s=0.02)
    assert state(b) == "closed"
    assert b.admit() == "pass"


def test_failed_probes_double_the_period_up_to_the_maximum() -> None:
    clock = ManualClock()
    b = breaker(clock)
    fail(b, 3)
    periods = []
    for _ in range(4):
        clock.advance(b.status()["open_remaining_s"])
        assert b.admit() == "probe"
        b.record("probe", ok=False, latency_s=0.5, error="upstream_unreachable")
        periods.append(b.status()["open_remaining_s"])
    assert periods == [60, 100, 100, 100]
    clock.advance(100)
    b.record(b.admit(), ok=True, latency_s=0.01)
    fail(b, 3)  # a new trip after recovering starts from the base period again
    assert b.status()["open_remaining_s"] == 30


def test_a_cancelled_probe_frees_the_slot() -> None:
    clock = ManualClock()
    b = breaker(clock)
    fail(b, 3)
    clock.advance(30)
    assert b.admit() == "probe"
    b.abandon("probe")
    assert b.admit() == "probe"


def test_late_answers_after_a_trip_change_nothing() -> None:
    clock = ManualClock()
    b = breaker(clock, failures=1)
    early = b.admit()
    fail(b)
    assert state(b) == "open"
    b.record(early, ok=True, latency_s=0.3)  # sent before the trip, answered after
    assert state(b) == "open"


def test_latency_percentiles_over_the_last_hundred() -> None:
    window = LatencyWindow()
    for ms in range(1, 201):  # only 101..200 stay in the window
        window.add(ms / 1000)
    assert window.status() == {"count": 100, "p50": 150.0, "p95": 195.0, "p99": 199.0}
    assert LatencyWindow().status()["p50"] is None
