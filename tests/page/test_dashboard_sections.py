"""What the dashboard says about states the simulation does not easily reach: an open
upstream breaker with its latency, a Pi running hot and under-voltage, a forwarding
backlog, an offline reader. The page alone, with aiohttp's test client, on a fake status
and a manual clock."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.model import Event, StoredEvent
from gateway.web import api, doors, page, security
from gateway.web.auth import ACCOUNTS, TokenStore
from tests.fakes import ManualClock

NOW = 1_800_000_000.0
STATUS: dict[str, Any] = {
    "device": {
        "id": "gw", "name": "Lobby gateway", "version": "9.9.9", "backend": "gpio",
        "timezone": "UTC", "uptime_s": 90061.0, "time": NOW,
    },
    "doors": {},
    "readers": {
        "lobby-nfc": {
            "kind": "nfc", "door": "lobby", "direction": "in", "online": False,
            "offline_reason": "no frontend found", "last_seen": NOW - 3600,
            "frames_accepted": 7, "frames_rejected": {"noise": 2},
        },
    },
    "upstream": {
        "configured": True, "server": "https://verify.example", "mode": "customize",
        "breaker": {
            "state": "open", "open_remaining_s": 12.0, "requests": 40, "failures": 9,
            "last_error": "timeout", "last_error_age_s": 3.0,
            "latency_ms": {"count": 40, "p50": 42.5, "p95": 180.0, "p99": 950.0},
        },
        "last_decision": {"door": "lobby", "reason": "granted", "source": "upstream",
                          "time": NOW - 65},
    },
    "journal": {
        "last_seq": 1234,
        "queued": 0,
        "fault": None,
        "lost": 0,
        "gaps": 0,
        "batches": 310,
        "events_written": 1234,
        "largest_batch": 57,
        "last_flush_ms": 38.25,
    },
    "forwarding": {
        "agents": {"https://agent.example/push": {"backlog": 321, "state": "backing_off",
                                                  "backlog_alarm": True}},
    },
    "notifications": {
        "enabled": True, "state": "backoff", "server": "mail.example.com:587 (starttls)",
        "waiting": 3, "last_sent": "2027-01-15T09:00:00Z", "outage": True,
        "last_error": "SMTPAuthenticationError 535: 5.7.8 Authentication failed",
    },
    "system": {
        "clock_synchronised": False, "cpu_temperature_c": 83.4,
        "throttling": {"undervoltage_now": True, "throttled_since_boot": True,
                       "frequency_capped_now": False},
        "disk_total_bytes": 31_000_000_000, "disk_free_bytes": 812_000_000,
        "memory_total_bytes": 4_000_000_000, "memory_available_bytes": 2_500_000_000,
    },
}  # fmt: skip


class FakeStatus:
    def __init__(self, status: dict[str, Any]) -> None:
        self.current = status

    def status(self) -> dict[str, Any]:
        return copy.deepcopy(self.current)


class QuietJournal:
    """An event log with nothing in it."""

    def emit(self, event: Event) -> None: ...

    def record_api(self, reason: str, username: str, detail: str = "") -> None: ...

    async def flush(self) -> None: ...

    async def durable(self) -> None: ...

    async def read_events(self, after: int, limit: int) -> list[StoredEvent]:
        return []


class OneAccount:
    def technician_credential_version(self, username: str) -> int | None:
        return 1


@pytest.fixture
async def dashboard() -> AsyncIterator[str]:
    """The dashboard's HTML for a SUPERADMIN, over the fake status."""
    clock = ManualClock(NOW)
    app = web.Application(middlewares=[security.json_errors])
    app[security.BODY_LIMITS] = security.BodyLimits()
    tokens = TokenStore(clock, 1800, OneAccount())
    app[api.TOKENS] = tokens
    app[api.STATUS] = FakeStatus(STATUS)
    app[api.EVENTS] = QuietJournal()
    app[ACCOUNTS] = OneAccount()
    app[doors.CONTROL] = None  # type: ignore[assignment]  # no door here to move
    page.add_page_routes(app)
    token = tokens.issue("tech", "SUPERADMIN", 1)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        answer = await client.get("/", cookies={security.SESSION_COOKIE: token})
        assert answer.status == 200
        yield await answer.text()


def test_an_open_breaker_shows_with_its_latency_and_last_answer(dashboard: str) -> None:
    assert "open</span>" in dashboard and "retry in 12 s" in dashboard
    assert "p50 42.5 ms, p99 950.0 ms (40 requests)" in dashboard
    assert "granted (upstream), 1 min 5 s ago" in dashboard
    assert "9 of 40; last: timeout" in dashboard


def test_a_hot_underpowered_pi_shows_its_flags(dashboard: str) -> None:
    assert '<span class="badge bad">83.4 °C</span>' in dashboard
    assert '<span class="badge bad">undervoltage now</span>' in dashboard
    assert '<span class="badge warn">throttled since boot</span>' in dashboard
    assert "frequency capped" not in dashboard
    assert 'Clock synchronised</dt><dd><span class="badge bad">no</span>' in dashboard
    assert "812 MB of 31.0 GB" in dashboard and "2.5 GB of 4.0 GB" in dashboard
    assert "1 d 1 h" in dashboard  # uptime


def test_a_forwarding_backlog_and_an_offline_reader_show(dashboard: str) -> None:
    assert "https://agent.example/push</span>: backlog 321, backing off" in dashboard
    assert '<span class="badge bad">alarm</span>' in dashboard
    assert "offline</span>" in dashboard and "no frontend found" in dashboard
    assert "1 h 0 min ago" in dashboard and "noise 2" in dashboard
    assert "seq 1234" in dashboard


def test_the_journal_card_shows_how_commits_group_events(dashboard: str) -> None:
    # A technician sees slow storage (an SD card syncing in tens of milliseconds) here.
    assert "1234 events in 310 commits, largest 57; last commit 38.2 ms" in dashboard


def test_a_failing_mail_server_shows_with_its_error_and_what_waits(dashboard: str) -> None:
    assert "mail.example.com:587 (starttls)</span>: backoff, 3 waiting" in dashboard
    assert '<span class="badge bad">failing</span>' in dashboard
    assert "SMTPAuthenticationError 535: 5.7.8 Authentication failed" in dashboard
    assert "last accepted 2027-01-15T09:00:00Z" in dashboard
