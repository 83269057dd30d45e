"""Input actions: HTTP GET on an input, action delay, "only if still active", failures."""

from __future__ import annotations

import asyncio

import pytest

from gateway.doors import actions
from gateway.doors.actions import describe_failure, safe_url
from gateway.doors.controller import DoorLinks
from gateway.settings import InputActionSettings
from tests.doors.harness import Rig, rig

URL = "http://admin:secret@192.0.2.10/fcgi/do?action=OpenDoor&token=abc"


class FakeHttp:
    """Records the URLs it was asked for; fails with `error` when set."""

    def __init__(self, error: BaseException | None = None, hang: bool = False) -> None:
        self.urls: list[str] = []
        self.error = error
        self.hang = hang

    async def __call__(self, url: str) -> None:
        self.urls.append(url)
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error


def with_action(http: FakeHttp | None, **action: object) -> Rig:
    settings = InputActionSettings(**{"input": "contact", "url": URL, **action})  # type: ignore[arg-type]
    return rig(DoorLinks(http_get=http), input_actions=(settings,))


async def test_action_fires_after_its_delay() -> None:
    http = FakeHttp()
    door = with_action(http, delay_s=5)
    door.door.grant("1001")
    door.open_door()
    door.advance(4.9)
    await door.timers.settle()
    assert http.urls == []
    door.advance(0.1)
    await door.timers.settle()
    assert http.urls == [URL]
    assert "input_action_failed" not in door.reasons()


async def test_only_if_still_active_skips_when_the_input_went_back() -> None:
    http = FakeHttp()
    door = with_action(http, delay_s=5, only_if_still_active=True)
    door.door.grant("1001")
    door.open_door()
    door.advance(1)
    door.close_door()
    door.advance(10)
    await door.timers.settle()
    assert http.urls == []


async def test_only_if_still_active_fires_while_the_input_stays() -> None:
    http = FakeHttp()
    door = with_action(http, delay_s=5, only_if_still_active=True)
    door.door.grant("1001")
    door.open_door()
    door.advance(5)
    await door.timers.settle()
    assert http.urls == [URL]


async def test_a_failing_request_only_produces_an_event_without_secrets() -> None:
    door = with_action(FakeHttp(error=ConnectionRefusedError(URL)))
    door.press_rex()
    door.open_door()
    await door.timers.settle()
    assert door.door.unlocked  # the door carried on
    failed = door.event("input_action_failed")
    assert failed.trace == "contact http://192.0.2.10/fcgi/do: ConnectionRefusedError"
    assert "secret" not in failed.trace and "token" not in failed.trace


async def test_a_request_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "ACTION_TIMEOUT_S", 0.01)  # the deadline is real time
    door = with_action(FakeHttp(hang=True))
    door.press_rex()
    door.open_door()
    await door.timers.settle()
    assert door.event("input_action_failed").trace.endswith(": timeout")


async def test_without_an_http_client_the_action_is_reported() -> None:
    door = with_action(None, input="tamper")
    door.trip_tamper()
    await door.timers.settle()
    assert door.reasons() == ["tamper", "input_action_failed"]
    assert "no HTTP client" in door.event("input_action_failed").trace


def test_failure_text_never_carries_the_exception_message() -> None:
    class Status(Exception):
        status = 503

    assert describe_failure(Status(URL)) == "Status (HTTP 503)"
    assert describe_failure(TimeoutError()) == "timeout"
    assert safe_url("https://u:p@h:8443/x?y=1") == "https://h:8443/x"


async def test_the_doorbell_can_have_an_input_action() -> None:
    http = FakeHttp()
    door = with_action(http, input="doorbell")
    door.press_doorbell()
    await door.timers.settle()
    assert http.urls == [URL]


# -- the e-mail action (Akuvox "Email"): a journal event the notifications mail -----------


async def test_email_action_journals_an_event_when_the_door_is_still_open() -> None:
    http = FakeHttp()
    door = with_action(http, url="", email=True, delay_s=60, only_if_still_active=True)
    door.door.grant("1001")
    door.open_door()
    door.advance(59)
    await door.timers.settle()
    assert "input_action_email" not in door.reasons()
    door.advance(1)
    await door.timers.settle()
    event = door.event("input_action_email")
    assert event.door == door.door.name and event.type == "door"
    assert "contact" in event.trace and "60 s" in event.trace
    assert http.urls == []  # no URL: nothing is requested, nothing fails
    assert "input_action_failed" not in door.reasons()


async def test_email_action_is_skipped_when_the_door_closed_in_time() -> None:
    door = with_action(FakeHttp(), url="", email=True, delay_s=60, only_if_still_active=True)
    door.door.grant("1001")
    door.open_door()
    door.advance(10)
    door.close_door()
    door.advance(60)
    await door.timers.settle()
    assert "input_action_email" not in door.reasons()


async def test_email_and_url_together_do_both() -> None:
    http = FakeHttp()
    door = with_action(http, email=True)
    door.door.grant("1001")
    door.open_door()
    await door.timers.settle()
    assert http.urls == [URL]
    assert "input_action_email" in door.reasons()
    assert "secret" not in door.event("input_action_email").trace
