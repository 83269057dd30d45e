"""The agents table (gateway.store.agents): registration as the ACTAtek API describes it,
URL checks, secrets kept out of sight, cursors, and the [forwarding] settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.config import ConfigError, load_settings
from gateway.model import User
from gateway.store.agents import MAX_AGENTS, NEVER, AgentStore, public_url, validate_url
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.journal import EventJournal
from gateway.store.stores import Stores
from tests.config.helpers import MINIMAL_GPIO, write
from tests.upstream.test_forward import LONDON, T0, grant

URL = "https://logs.example.com:8443/AccessServer/Agent Service.asmx".replace(" ", "%20")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def agents(db_path: Path) -> Iterator[AgentStore]:
    with AgentStore.open(db_path) as opened:
        yield opened


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "http:///nohost",
        "http://host:99999/",
        "http://host:0/",
        "http://host/a b",
        "http://host/#frag",
        "http://host/\x07",
        "http://" + "a" * 1020 + ".com/",
        None,
    ],
)
def test_refused_urls(url: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_url(url)
    assert caught.value.field == "url"


def test_public_url_drops_only_the_user_info() -> None:
    assert public_url("https://u:p%40ss@Host.example:8443/a/b?x=1") == (
        "https://Host.example:8443/a/b?x=1"
    )
    assert public_url("http://u@[::1]:8080/agent") == "http://[::1]:8080/agent"
    assert public_url("http://Host.example/Agent") == "http://Host.example/Agent"


def test_register_lists_the_reference_fields(agents: AgentStore) -> None:
    agent = agents.register(URL, now=T0)
    assert agents.list() == [agent]
    assert agent.as_reference() == {
        "url": URL,
        "registrationTime": "2027-07-01T09:00:00Z",
        "lastUpdate": NEVER,
        "lastCheck": NEVER,
        "lastCheckStatus": False,
        "active": True,
        "agentVersion": "1.2",
        "initSync": False,
        "lastCheckDetail": "",
        "cursor": 0,
    }


def test_a_new_agent_starts_after_the_journal_unless_init_sync(
    agents: AgentStore, db_path: Path
) -> None:
    journal = EventJournal(db_path, LONDON, max_events=100)
    try:
        last = [journal.append(grant(n)) for n in range(3)][-1]
    finally:
        journal.close()
    assert agents.register("http://a.example/", now=T0).cursor == last
    synced = agents.register("http://b.example/", now=T0, init_sync=True)
    assert (synced.cursor, synced.init_sync) == (0, True)


def test_registering_again_updates_and_keeps_the_cursor(agents: AgentStore) -> None:
    first = agents.register("http://u:old@a.example/x", now=T0, magic="m1")
    agents.take_init_sync(first.id)
    agents.record_success(first.id, 7, T0, "HTTP 200")
    agents.set_active("http://a.example/x", False)
    again = agents.register("http://u:new@a.example/x", now=T0 + 5, agent_version="2.0")
    assert again.id == first.id and again.cursor == 7 and again.active
    assert (again.magic, again.agent_version) == ("", "2.0")
    assert again.url == "http://u:new@a.example/x" and again.registered_at == T0
    reset = agents.register("http://a.example/x", now=T0, init_sync=True)
    assert (reset.cursor, reset.init_sync) == (0, True)
    assert len(agents.list()) == 1


def test_limits(agents: AgentStore) -> None:
    with pytest.raises(ValidationError, match="magic"):
        agents.register(URL, now=T0, magic="x" * 257)
    with pytest.raises(ValidationError, match="agentVersion"):
        agents.register(URL, now=T0, agent_version="1.2\n")
    for n in range(MAX_AGENTS):
        agents.register(f"http://agent{n}.example/", now=T0)
    with pytest.raises(ValidationError, match=f"at most {MAX_AGENTS}"):
        agents.register("http://one-too-many.example/", now=T0)


def test_unregister_by_either_form_and_unknown_urls(agents: AgentStore) -> None:
    agents.register("http://u:secret@a.example/x", now=T0)
    with pytest.raises(NotFoundError) as caught:
        agents.unregister("http://u:secret@b.example/x")
    assert "secret" not in str(caught.value)
    assert agents.unregister("http://a.example/x").public_url == "http://a.example/x"
    assert agents.list() == []
    agents.register("http://u:secret@a.example/x", now=T0)
    agents.unregister("http://u:secret@a.example/x")
    assert agents.find("http://a.example/x") is None


def test_a_pending_init_sync_wins_over_a_late_acknowledgement(agents: AgentStore) -> None:
    agent = agents.register(URL, now=T0)
    assert agents.take_init_sync(agent.id) == agent
    agents.request_init_sync(URL)  # while a batch up to 50 is in flight
    assert not agents.record_success(agent.id, 50, T0 + 1, "HTTP 200")
    stored = agents.get(agent.id)
    assert stored is not None and stored.cursor == 0 and stored.last_update == T0 + 1
    taken = agents.take_init_sync(agent.id)
    assert taken is not None and taken.init_sync  # the request, as it was taken
    assert agents.record_success(agent.id, 50, T0 + 2, "HTTP 200")
    assert not agents.record_success(agent.id, 40, T0 + 3, "HTTP 200")  # never backwards
    stored = agents.get(agent.id)
    assert stored is not None and (stored.cursor, stored.init_sync) == (50, False)


def test_failures_are_recorded_without_moving_anything(agents: AgentStore) -> None:
    agent = agents.register(URL, now=T0)
    agents.record_failure(agent.id, T0 + 1, "HTTP 503")
    stored = agents.get(agent.id)
    assert stored is not None
    assert (stored.last_check, stored.last_check_ok, stored.last_check_status) == (
        T0 + 1,
        False,
        "HTTP 503",
    )
    assert stored.cursor == agent.cursor and stored.last_update is None


def test_user_labels_name_and_first_department(agents: AgentStore, db_path: Path) -> None:
    with Stores.open(db_path, PinHasher(bytes(32))) as stores:
        stores.users.add_user(User("1001", first_name="Ada", last_name="Lovelace"))
        stores.users.add_user(User("1002", first_name="Grace"))
    assert agents.user_labels(["1001", "1002", "nobody"]) == {
        "1001": ("Ada Lovelace", "General"),
        "1002": ("Grace", "General"),
    }


# ----------------------------------------------------------------------------- settings


def test_forwarding_settings_load_and_check(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + "[forwarding]\nbatch_size = 50\nretry_initial_s = 2\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.forwarding.batch_size == 50 and settings.forwarding.retry_max_s == 300
    bad = MINIMAL_GPIO + "[forwarding]\nretry_initial_s = 10\nretry_max_s = 5\nbatch_size = 0\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, bad))
    messages = "\n".join(caught.value.errors)
    assert "forwarding.batch_size: expected an integer from 1 to 1000, found 0" in messages
    assert "forwarding.retry_max_s: expected a number not below retry_initial_s (10)" in messages
