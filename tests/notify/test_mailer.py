"""The mailer against a real SMTP server on 127.0.0.1 (aiosmtpd, STARTTLS with a test CA,
AUTH): an alarm becomes one mail with the right words, an outage loses nothing and sends
nothing twice, a storm becomes one summary, a bad server setup is a visible error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.model import Event
from gateway.notify.mailer import Mailer
from gateway.notify.render import MailHeader
from gateway.notify.smtp import SmtpTransport, tls_context
from gateway.settings import NotificationSettings, SmtpSettings
from gateway.store.journal import EventJournal
from gateway.store.mail_cursor import MailCursorStore
from tests.fakes import ManualClock
from tests.notify.smtp_fakes import PASSWORD, USERNAME, Received, SmtpServer, TestCa

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2027, 7, 1, 9, 0, 0, tzinfo=UTC).timestamp()  # 10:00 in London
HEADER = MailHeader(
    sender="gateway@example.com",
    to=("security@example.com", "caretaker@example.com"),
    device_id="gw-1",
    device_name="Front gateway",
    subject_prefix="",
)
# Test timing: no gathering to speak of, ten mails a second, fast retries.
FAST = NotificationSettings(
    enabled=True,
    sender=HEADER.sender,
    to=HEADER.to,
    gather_s=0.05,
    max_per_minute=600,
    retry_initial_s=0.05,
    retry_max_s=0.2,
)


def alarm(reason: str = "forced_open", door: str = "front", n: int = 0) -> Event:
    return Event("alarm", T0 + n, door=door, reason=reason)


def pin_denied(n: int = 0) -> Event:
    return Event(
        "access",
        T0 + n,
        door="front",
        reader="front-keypad",
        credential_kind="pin",
        credential="4711",
        granted=False,
        reason="unknown_credential",
        trace="pin 4711 unknown",
    )


def seqs_in(mails: list[Received]) -> list[int]:
    """Every journal seq the mails report (one event: "journal seq N"; summary: "#N")."""
    found: list[int] = []
    for mail in mails:
        found += [int(n) for n in re.findall(r"(?:journal seq |#)(\d+)\b", mail.body)]
    return found


class Rig:
    """A journal and the mailer's cursor over one database, and mailers over them."""

    def __init__(self, db_path: Path, ca: TestCa, server: SmtpServer) -> None:
        self.db_path = db_path
        self.journal = EventJournal(db_path, LONDON, max_events=10_000)
        self.cursors = MailCursorStore.open(db_path)
        self.server = server
        self.clock = ManualClock(T0)
        self.smtp = SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            tls="starttls",
            ca_file=str(ca.ca_file),
            username=USERNAME,
            password=PASSWORD,
            timeout_s=5,
        )
        self.mailers: list[Mailer] = []
        self.emitted: list[Event] = []

    async def mailer(self, smtp: SmtpSettings | None = None, **changes: Any) -> Mailer:
        """A started mailer with `FAST` settings changed by `changes`; no jitter."""
        smtp = smtp or self.smtp
        context = await asyncio.to_thread(tls_context, smtp)
        transport = SmtpTransport(smtp, context)
        mailer = Mailer(
            self.journal,
            self.cursors,
            replace(FAST, **changes),
            HEADER,
            transport,
            transport.server,
            self.emit,
            self.clock,
            rng=lambda: 0.0,
        )
        self.mailers.append(mailer)
        await mailer.start()
        return mailer

    def add(self, *events: Event) -> list[int]:
        """Journal `events` as the daemon's writer would, and wake the mailers."""
        seqs = []
        for event in events:
            seq = self.journal.append(event)
            seqs.append(seq)
            for mailer in self.mailers:
                mailer.notify(seq)
        return seqs

    def emit(self, event: Event) -> None:
        self.emitted.append(event)
        self.add(event)

    def reasons(self) -> list[str]:
        return [event.reason for event in self.emitted]

    async def stop(self) -> None:
        for mailer in self.mailers:
            await mailer.stop()
        self.mailers.clear()

    def close(self) -> None:
        self.cursors.close()
        self.journal.close()


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return TestCa.make(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(ca: TestCa) -> Iterator[SmtpServer]:
    running = SmtpServer(ca).come_back()
    yield running
    running.go_down()


@pytest.fixture
async def rig(tmp_path: Path, ca: TestCa, server: SmtpServer) -> AsyncIterator[Rig]:
    made = Rig(tmp_path / "gateway.db", ca, server)
    yield made
    await made.stop()
    made.close()


# -- one alarm, one mail ------------------------------------------------------------------


async def test_an_alarm_becomes_one_mail_with_the_right_content(rig: Rig) -> None:
    await rig.mailer()
    (seq,) = rig.add(alarm("forced_open", "front"))
    (mail,) = await rig.server.arrived(1)
    assert mail.tls and mail.login == USERNAME  # STARTTLS, then AUTH
    assert mail.sender == HEADER.sender
    assert mail.recipients == list(HEADER.to)
    assert mail.subject == "[Front gateway] ALARM forced open at door front"
    body = mail.body
    assert "was opened without a grant or the exit button (forced open)" in body
    assert "What to do: check the door" in body
    assert "Door:       front" in body
    assert "Time:       2027-07-01 10:00:00 +01:00" in body  # the gateway's local time
    assert f"forced_open (alarm), journal seq {seq}" in body
    assert PASSWORD not in str(mail.message)
    await asyncio.sleep(0.2)
    assert len(rig.server.received()) == 1
    assert rig.cursors.resume().cursor == seq


async def test_only_the_configured_events_are_mailed(rig: Rig) -> None:
    await rig.mailer()
    rig.add(pin_denied(), Event("door", T0, door="front", reason="door_opened"))
    held = rig.add(alarm("held_open", "back", 1))
    (mail,) = await rig.server.arrived(1)
    assert seqs_in([mail]) == held
    assert "held open" in mail.subject and "back" in mail.subject


async def test_a_pin_is_never_in_a_mail(rig: Rig) -> None:
    await rig.mailer(event_types=("access",))
    rig.add(pin_denied())
    (mail,) = await rig.server.arrived(1)
    assert "4711" not in str(mail.message)
    assert "PIN (never shown)" in mail.body


async def test_enabling_mail_does_not_send_the_past(rig: Rig) -> None:
    rig.add(alarm("tamper"), alarm("forced_open", n=1))
    await rig.mailer()
    new = rig.add(alarm("held_open", n=2))
    mails = await rig.server.arrived(1)
    await asyncio.sleep(0.2)
    assert seqs_in(rig.server.received()) == new and len(mails) == 1


# -- an outage loses nothing, sends nothing twice -------------------------------------------


async def test_server_down_then_up_every_alarm_arrives_once(rig: Rig) -> None:
    rig.server.go_down()
    mailer = await rig.mailer()
    first = rig.add(alarm("forced_open", "front"))
    await until(lambda: mailer.status()["failures"] >= 3)
    more = rig.add(alarm("tamper", "front", 1), alarm("held_open", "back", 2))
    await until(lambda: mailer.status()["failures"] >= 5)
    status = mailer.status()
    assert status["outage"] and status["waiting"] == 3
    assert "ConnectError" in status["last_error"] or "Connection" in status["last_error"]
    assert status["last_sent"] is None and status["next_attempt"] is not None
    assert rig.reasons() == ["notification_failed"]  # one event per outage, not per retry

    rig.server.come_back()
    mails = await rig.server.arrived(1)
    await until(lambda: "notification_recovered" in rig.reasons())
    await asyncio.sleep(0.3)
    mails = rig.server.received()
    assert sorted(seqs_in(mails)) == first + more  # every one, none twice
    assert "Mail delayed: the mail server failed from" in mails[0].body
    assert rig.reasons() == ["notification_failed", "notification_recovered"]
    status = mailer.status()
    assert not status["outage"] and status["waiting"] == 0 and status["last_error"] == ""

    # A restart resumes after what was accepted: nothing is sent again.
    await rig.stop()
    await rig.mailer()
    await asyncio.sleep(0.3)
    assert len(rig.server.received()) == len(mails)


async def test_a_restart_during_an_outage_neither_loses_nor_repeats(rig: Rig) -> None:
    rig.server.go_down()
    mailer = await rig.mailer()
    waiting = rig.add(alarm("forced_open"))
    await until(lambda: mailer.status()["failures"] >= 2)
    await rig.stop()
    assert rig.cursors.resume().cursor < waiting[0]  # not past what was never accepted

    await rig.mailer()
    await asyncio.sleep(0.3)
    assert rig.reasons() == ["notification_failed"]  # remembered: not journaled again
    rig.server.come_back()
    (mail,) = await rig.server.arrived(1)
    assert seqs_in([mail]) == waiting


# -- a storm is summarised ------------------------------------------------------------------


async def test_a_storm_of_alarms_becomes_one_summary_mail(rig: Rig) -> None:
    await rig.mailer(gather_s=0.3)
    storm = rig.add(
        *(alarm("forced_open", "front", n) for n in range(60)),
        *(alarm("tamper", "back", n) for n in range(20)),
    )
    (mail,) = await rig.server.arrived(1)
    await asyncio.sleep(0.5)
    assert len(rig.server.received()) == 1
    assert mail.subject == "[Front gateway] 80 events: forced_open x60, tamper x20"
    body = mail.body
    assert re.search(r"^\s+60\s+forced_open$", body, re.M)
    assert re.search(r"^\s+20\s+back$", body, re.M)
    assert "The first 50 events:" in body and "... and 30 more" in body
    assert seqs_in([mail]) == storm[:50]
    assert rig.cursors.resume().cursor == storm[-1]


async def test_mails_are_no_closer_than_the_rate_bound(rig: Rig) -> None:
    await rig.mailer(gather_s=0, max_per_minute=60)  # one a second
    rig.add(alarm("forced_open"))
    await rig.server.arrived(1)
    rig.add(alarm("tamper", n=1))
    rig.add(alarm("held_open", n=2))
    await asyncio.sleep(0.5)
    assert len(rig.server.received()) == 1  # the second waits for its slot ...
    mails = await rig.server.arrived(2)
    assert "2 events" in mails[1].subject  # ... and what waited goes out as one


# -- a bad server setup is a visible error ---------------------------------------------------


async def test_an_untrusted_certificate_is_refused(rig: Rig) -> None:
    mailer = await rig.mailer(replace(rig.smtp, ca_file=""))  # the system's CAs only
    rig.add(alarm())
    await until(lambda: mailer.status()["failures"] >= 1)
    assert "certificate verify failed" in mailer.status()["last_error"]
    assert rig.server.received() == []


async def test_a_wrong_password_is_reported_without_the_password(rig: Rig) -> None:
    wrong = replace(rig.smtp, password="Wrong-Pass-9090")
    mailer = await rig.mailer(wrong)
    rig.add(alarm())
    await until(lambda: mailer.status()["failures"] >= 1)
    error = mailer.status()["last_error"]
    assert "SMTPAuthenticationError 535" in error
    assert "Wrong-Pass-9090" not in str(mailer.status()) + str(rig.emitted)
    assert rig.server.received() == []


async def test_implicit_tls_delivers_too(rig: Rig, ca: TestCa) -> None:
    smtps = SmtpServer(ca, mode="implicit").come_back()
    try:
        mailer = await rig.mailer(replace(rig.smtp, port=smtps.port, tls="implicit"))
        seqs = rig.add(alarm("tamper"))
        (mail,) = await smtps.arrived(1)
        assert mail.login == USERNAME and seqs_in([mail]) == seqs
        assert mailer.status()["server"] == f"127.0.0.1:{smtps.port} (implicit)"
    finally:
        smtps.go_down()


async def test_a_server_without_starttls_gets_no_password_and_no_mail(rig: Rig, ca: TestCa) -> None:
    """A man in the middle that strips STARTTLS: the mailer refuses to go on in clear."""
    plain = SmtpServer(ca, mode="plain").come_back()
    try:
        mailer = await rig.mailer(replace(rig.smtp, port=plain.port))
        rig.add(alarm())
        await until(lambda: mailer.status()["failures"] >= 1)
        assert "STARTTLS" in mailer.status()["last_error"]
        assert plain.received() == []
    finally:
        plain.go_down()
