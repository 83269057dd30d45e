"""The Akuvox input "FTP" action: a notification file stored on a real FTP server on
loopback (pyftpdlib), in the background; a failure is an event without the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.doors.actions import ftp_put
from gateway.doors.controller import DoorLinks
from gateway.settings import InputActionSettings
from tests.daemon.conftest import free_port
from tests.doors.ftp_server import PASSWORD, FtpSite, serve_ftp
from tests.doors.harness import Rig, rig


@pytest.fixture
def ftp_site(tmp_path: Path) -> Iterator[FtpSite]:
    with serve_ftp(tmp_path / "ftp") as site:
        yield site


def door_with(url: str) -> Rig:
    action = InputActionSettings(input="contact", ftp_url=url)
    return rig(DoorLinks(ftp_put=ftp_put), input_actions=(action,))


async def test_an_opened_door_stores_a_notification_file(ftp_site: FtpSite) -> None:
    door = door_with(ftp_site.url())
    door.door.grant("1001")
    door.open_door()
    await door.timers.settle()
    stored = list((ftp_site.root / "events").iterdir())
    assert [path.name for path in stored] == ["front-contact-20260302T085500Z.txt"]
    text = stored[0].read_text()
    assert text == "door=front\ninput=contact\ntime=2026-03-02T08:55:00Z\n"
    assert "input_action_failed" not in door.reasons()


async def test_a_refused_login_is_an_event_without_the_password(ftp_site: FtpSite) -> None:
    door = door_with(ftp_site.url(password="wrong-" + PASSWORD))
    door.door.grant("1001")
    door.open_door()
    await door.timers.settle()
    event = door.event("input_action_failed")
    assert event.trace.startswith(f"contact ftp://127.0.0.1:{ftp_site.port}/events/: ")
    assert PASSWORD not in event.trace
    assert door.door.unlocked  # the door carried on
    assert list((ftp_site.root / "events").iterdir()) == []


async def test_a_server_that_is_down_is_an_event(ftp_site: FtpSite) -> None:
    door = door_with(f"ftp://door:{PASSWORD}@127.0.0.1:{free_port()}/events/")
    door.open_door()
    await door.timers.settle()
    assert "input_action_failed" in door.reasons()
