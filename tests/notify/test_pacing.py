"""When a notification mail may go, on a fake clock: a burst is gathered into one mail,
mails keep the rate bound, a failing server is retried with a doubling back-off."""

from __future__ import annotations

from gateway.notify.pacing import Pacer
from gateway.settings import NotificationSettings
from tests.fakes import ManualClock

SETTINGS = NotificationSettings(
    enabled=True, gather_s=2, max_per_minute=4, retry_initial_s=10, retry_max_s=60
)


def pacer() -> Pacer:
    return Pacer(SETTINGS, rng=lambda: 0.0)


def test_a_first_event_waits_gather_s_for_company() -> None:
    clock = ManualClock()
    first = clock.monotonic()
    assert pacer().due(first) == first + 2


def test_after_a_mail_the_next_waits_for_its_slot_in_the_minute() -> None:
    clock, pace = ManualClock(), pacer()
    pace.sent(clock.monotonic())  # four a minute: one every 15 s
    sent_at = clock.monotonic()
    clock.advance(1)
    assert pace.due(clock.monotonic()) == sent_at + 15  # a storm waits for one summary
    clock.advance(60)
    assert pace.due(clock.monotonic()) == clock.monotonic() + 2  # a quiet gateway: gather only


def test_a_failing_server_is_retried_later_and_later_up_to_the_ceiling() -> None:
    clock, pace = ManualClock(), pacer()
    delays = []
    for _ in range(5):
        delays.append(pace.failed(clock.monotonic()))
        assert pace.due(clock.monotonic()) == clock.monotonic() + delays[-1]
    assert delays == [10, 20, 40, 60, 60]
    pace.sent(clock.monotonic())
    assert pace.failures == 0 and pace.retry_at is None
