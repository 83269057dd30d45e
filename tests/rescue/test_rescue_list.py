"""The main daemon's side of Super Mode: it writes the rescue list (hashes of the listed
administrators' cards, 0600, atomically, kept up to date) and journals the rescue's log."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.config import ConfigError, load_settings
from gateway.model import Event, User
from gateway.rescue.files import (
    LIST_FILE,
    LOG_FILE,
    LogEntry,
    RescueListError,
    append_log,
    read_device_key,
    read_plan,
)
from gateway.rescue_list import RescueList, import_rescue_log, log_events
from gateway.settings import Settings
from gateway.store.errors import StoreError
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[2]
KEY = bytes(range(32))
NOW = 1_800_000_000.0


def settings(tmp_path: Path, **rescue: object) -> Settings:
    loaded = load_settings(REPO / "config" / "simulate.toml")
    return dataclasses.replace(
        loaded,
        device=dataclasses.replace(loaded.device, state_dir=str(tmp_path)),
        rescue=dataclasses.replace(loaded.rescue, **rescue),  # type: ignore[arg-type]
    )


class Users:
    """The store's `get_user`, over a dict a test edits."""

    def __init__(self, *users: User) -> None:
        self.by_id = {user.user_id: user for user in users}

    def get_user(self, user_id: str) -> User | None:
        return self.by_id.get(user_id)


ADA = User("1001", cards=["0C8707"])
GRACE = User("1002", cards=["0D10E1"])


def rescue_list(tmp_path: Path, store: Users, **rescue: object) -> RescueList:
    config = settings(tmp_path, **rescue)
    return RescueList(lambda: config, store, KEY, tmp_path, ManualClock(NOW))


def admitted(tmp_path: Path, card: str) -> bool:
    return read_plan(tmp_path).admits(KEY, card)


def test_the_list_admits_the_listed_users_cards_only(tmp_path: Path) -> None:
    rescue_list(tmp_path, Users(ADA, GRACE), users=("1001",)).refresh()
    assert admitted(tmp_path, "0C8707")
    assert not admitted(tmp_path, "0D10E1")  # Grace is a user, not on the rescue list


def test_the_list_file_is_private_and_holds_no_card_number(tmp_path: Path) -> None:
    rescue_list(tmp_path, Users(ADA), users=("1001",)).refresh()
    path = tmp_path / LIST_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"0C8707" not in path.read_bytes()
    plan = read_plan(tmp_path)
    assert (plan.door, plan.reader, plan.d0_pin, plan.d1_pin) == ("front", "front-wiegand", 5, 6)
    assert (plan.relay_pin, plan.formats) == (17, ("H10301",))


@pytest.mark.parametrize(
    "user",
    [
        dataclasses.replace(ADA, active=False),
        dataclasses.replace(ADA, expiry="2020-01-01T00:00:00Z"),
        dataclasses.replace(ADA, doors=["back"]),
    ],
    ids=["inactive", "expired", "other-door"],
)
def test_a_listed_user_who_may_not_open_the_door_is_left_out(tmp_path: Path, user: User) -> None:
    rescue_list(tmp_path, Users(user), users=("1001",)).refresh()
    assert read_plan(tmp_path).cards == frozenset()


def test_a_card_taken_from_a_listed_user_leaves_the_list_at_the_next_refresh(
    tmp_path: Path,
) -> None:
    users = Users(ADA)
    keeper = rescue_list(tmp_path, users, users=("1001",))
    assert keeper.refresh()
    assert not keeper.refresh()  # unchanged: nothing written
    users.by_id["1001"] = dataclasses.replace(ADA, cards=["0C0001"])
    assert keeper.refresh()
    assert not admitted(tmp_path, "0C8707") and admitted(tmp_path, "0C0001")


def test_at_most_twenty_cards_in_the_order_of_the_setting(tmp_path: Path) -> None:
    many = User("2000", cards=[f"0C{n:04X}" for n in range(25)])
    rescue_list(tmp_path, Users(ADA, many), users=("1001", "2000")).refresh()
    plan = read_plan(tmp_path)
    assert len(plan.cards) == 20 and plan.admits(KEY, "0C8707")
    assert plan.admits(KEY, "0C0012") and not plan.admits(KEY, "0C0013")


def test_without_a_rescue_reader_the_list_is_removed(tmp_path: Path) -> None:
    rescue_list(tmp_path, Users(ADA), users=("1001",)).refresh()
    assert rescue_list(tmp_path, Users(ADA), reader="", users=()).refresh()
    assert not (tmp_path / LIST_FILE).exists()
    with pytest.raises(RescueListError):
        read_plan(tmp_path)


def test_the_rescue_reader_must_be_a_wiegand_reader(tmp_path: Path) -> None:
    text = (REPO / "config" / "simulate.toml").read_text()
    text = text.replace('reader = "front-wiegand"', 'reader = "back-qr"')
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert "rescue.reader" in str(raised.value) and "front-wiegand" in str(raised.value)


# ------------------------------------------------------------------ the log


def entry(kind: str, at: float, card: str = "") -> LogEntry:
    return LogEntry(kind, NOW + at, card, "front", "front-wiegand")  # type: ignore[arg-type]


def test_each_opening_and_refusal_is_an_event_and_each_session_ends_with_its_span() -> None:
    entries = [
        entry("started", 0),
        entry("granted", 60, "0C8707"),
        entry("denied", 90, "0D10E1"),
        entry("stopped", 600),
    ]
    events = log_events(entries, {"0C8707": "1001"}.get)
    assert [(e.type, e.reason, e.granted, e.user_id, e.credential) for e in events] == [
        ("access", "rescue_granted", True, "1001", "0C8707"),
        ("access", "rescue_denied", False, None, "0D10E1"),
        ("system", "rescue_ended", None, None, None),
    ]
    assert events[0].time == NOW + 60 and events[0].door == "front"
    ended = events[-1]
    assert ended.time == NOW + 600 and ended.door == "front"
    assert "2027-01-15T08:00:00+00:00 to 2027-01-15T08:10:00+00:00 (600 s)" in ended.trace
    assert "1 openings, 1 refusals" in ended.trace


def test_a_rescue_killed_without_its_stop_line_ends_at_its_last_entry() -> None:
    events = log_events([entry("started", 0), entry("granted", 30, "0C8707")], lambda _: None)
    assert events[-1].reason == "rescue_ended" and events[-1].time == NOW + 30


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def durable(self) -> None:
        if self.fail:
            raise StoreError("disk full")


async def test_the_log_is_removed_once_its_events_are_durable(tmp_path: Path) -> None:
    for item in (entry("started", 0), entry("granted", 1, "0C8707")):
        append_log(tmp_path, item)
    with (tmp_path / LOG_FILE).open("ab") as log:
        log.write(b'{"kind": "deni')  # a power cut in the middle of a line
    sink = Sink()
    assert await import_rescue_log(tmp_path, sink, lambda _: "1001") == 2
    assert [e.reason for e in sink.events] == ["rescue_granted", "rescue_ended"]
    assert not (tmp_path / LOG_FILE).exists()
    assert await import_rescue_log(tmp_path, Sink(), lambda _: None) == 0


async def test_the_log_stays_when_the_journal_refuses_its_events(tmp_path: Path) -> None:
    append_log(tmp_path, entry("granted", 1, "0C8707"))
    await import_rescue_log(tmp_path, Sink(fail=True), lambda _: None)
    assert (tmp_path / LOG_FILE).exists()


# ------------------------------------------------------------------ the whole daemon


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daemon_settings(state_dir: Path) -> Settings:
    config = settings(state_dir)
    return dataclasses.replace(
        config, web=dataclasses.replace(config.web, listen=f"127.0.0.1:{free_port()}")
    )


async def test_the_daemon_writes_the_list_and_journals_the_rescue_log(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    gateway = Gateway(daemon_settings(state_dir), clock=ManualClock(NOW))
    await gateway.start()
    await gateway.stop()
    key = read_device_key(state_dir)
    plan = read_plan(state_dir)  # simulate.toml: Ada (1001) at the front Wiegand reader
    assert plan.admits(key, "0C8707") and not plan.admits(key, "0D10E1")
    # The daemon is down; the rescue unit runs and logs, then the daemon comes back.
    for item in (
        entry("started", 10),
        entry("granted", 20, "0C8707"),
        entry("denied", 25, "0D10E1"),
        entry("stopped", 40),
    ):
        append_log(state_dir, item)
    gateway = Gateway(daemon_settings(state_dir), clock=ManualClock(NOW + 60))
    await gateway.start()
    try:
        await gateway.recorder.flush()
        rows = await gateway.recorder.read_events(0, 1000)
    finally:
        await gateway.stop()
    rescue = [(r.reason, r.user_id, r.credential, r.door) for r in rows if "rescue" in r.reason]
    assert rescue == [
        ("rescue_granted", "1001", "0C8707", "front"),
        ("rescue_denied", None, "0D10E1", "front"),
        ("rescue_ended", None, None, "front"),
    ]
    assert not (state_dir / LOG_FILE).exists()
    assert json.loads((state_dir / LIST_FILE).read_text())["version"] == 1
    assert os.stat(state_dir / LIST_FILE).st_mode & 0o777 == 0o600


def test_a_list_that_cannot_be_written_is_logged_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon must start whatever happens to Super Mode's file."""
    config = settings(tmp_path)
    keeper = RescueList(lambda: config, Users(ADA), KEY, tmp_path / "gone", ManualClock(NOW))
    assert keeper.try_refresh() is False
    assert "rescue list not written" in caplog.text
