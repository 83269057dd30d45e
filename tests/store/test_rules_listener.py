"""One listener hears of every committed write that moved the access rules, whichever store
made it, once per write; writes that change no rule, and refused ones, are not heard of."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import User
from gateway.store.errors import ValidationError
from gateway.store.records import UserRecord
from gateway.store.stores import Stores
from gateway.store.users import UserStore

OFFICE = "0" * 16 + "1" * 20 + "0" * 12

Write = Callable[[Stores], object]


class Heard:
    """A rules listener that counts what it hears."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def site(stores: Stores) -> Stores:
    """A site with a user, departments, an access right, groups, a holiday and a
    technician (department 5 and group 8 are unused); each test attaches the listener."""
    stores.organisation.add_department(2, "Ops")
    stores.organisation.add_department(5, "Lab")
    stores.organisation.put_access_right(3, "Office", {"MONDAY": OFFICE})
    stores.organisation.put_access_group(4, "Ops staff", 2, [3])
    stores.organisation.put_access_group(8, "Spare", 0, [0])
    stores.organisation.add_holidays(["2027-12-25"])
    stores.users.add_user(User("1001", first_name="Ada", cards=["0A01"], groups=[4]))
    stores.technicians.set_technician_password("tech", "a long enough password 1")
    return stores


def renamed(record: UserRecord | None) -> UserRecord:
    assert record is not None
    user, profile = record
    return replace(user, last_name="Lovelace"), profile


RULE_WRITES: dict[str, Write] = {
    "add_user": lambda s: s.users.add_user(User("1002", cards=["0A02"])),
    "update_user": lambda s: s.users.update_user(User("1001", cards=["0A03"])),
    "upsert_user": lambda s: s.users.upsert_user(User("1003")),
    "import_users (3 users, one transaction)": lambda s: s.users.import_users(
        [User("2001"), User("2002"), User("2003")]
    ),
    "delete_user": lambda s: s.users.delete_user("1001"),
    "set_user_active": lambda s: s.users.set_user_active("1001", False),
    "save_user_record": lambda s: s.users.save_user_record("1001", renamed, "update"),
    "totp_secret (created)": lambda s: s.users.totp_secret("1001"),
    "set_public_pins": lambda s: s.users.set_public_pins(["97531"]),
    "add_department": lambda s: s.organisation.add_department(6, "Yard"),
    "update_department": lambda s: s.organisation.update_department(2, "Operations"),
    "delete_department": lambda s: s.organisation.delete_department(5),
    "put_access_right": lambda s: s.organisation.put_access_right(3, "Office", {}),
    "create_access_right": lambda s: s.organisation.create_access_right(None, "Night", {}),
    "delete_access_right": lambda s: s.organisation.delete_access_right(3),
    "put_access_group": lambda s: s.organisation.put_access_group(4, "Ops", 2, [0]),
    "create_access_group": lambda s: s.organisation.create_access_group(None, None, 2, [3]),
    "delete_access_group": lambda s: s.organisation.delete_access_group(8),
    "add_holidays": lambda s: s.organisation.add_holidays(["2027-12-26"]),
    "remove_holidays": lambda s: s.organisation.remove_holidays(["2027-12-25"]),
}


@pytest.mark.parametrize("write", RULE_WRITES.values(), ids=RULE_WRITES.keys())
def test_a_write_that_moves_the_rules_is_heard_once(site: Stores, write: Write) -> None:
    heard = Heard()
    site.on_rules_changed(heard)
    before = site.engine_state.rules_version()
    write(site)
    assert site.engine_state.rules_version() > before
    assert heard.count == 1


QUIET_WRITES: dict[str, Write] = {
    "set_technician_password": lambda s: s.technicians.set_technician_password(
        "tech", "another long password 2"
    ),
    "set_technician_level": lambda s: s.technicians.set_technician_level("tech", "USERADMIN"),
    "set_technician_disabled": lambda s: s.technicians.set_technician_disabled("tech", True),
    "delete_technician": lambda s: s.technicians.delete_technician("tech"),
    "save_engine_state": lambda s: s.engine_state.save_engine_state({"engine": {"a": 1}}),
    "terminal put": lambda s: s.terminal.put("consent", {"enabled": True}),
    "agents register": lambda s: s.agents.register("http://127.0.0.1:9/push", now=0.0),
    "delete_user of nobody": lambda s: s.users.delete_user("nobody"),
    "totp_secret already there": lambda s: s.users.totp_secret("1001"),
    "add_holidays already there": lambda s: s.organisation.add_holidays(["2027-12-25"]),
    "set_public_pins unchanged": lambda s: s.users.set_public_pins([]),
    "reads": lambda s: (s.users.list_users(), s.organisation.list_access_groups()),
}


@pytest.mark.parametrize("write", QUIET_WRITES.values(), ids=QUIET_WRITES.keys())
def test_a_write_that_changes_no_rule_is_not_heard(site: Stores, write: Write) -> None:
    site.users.totp_secret("1001")  # so that asking again finds it
    heard = Heard()
    site.on_rules_changed(heard)
    before = site.engine_state.rules_version()
    write(site)
    assert site.engine_state.rules_version() == before
    assert heard.count == 0


def test_a_refused_write_is_not_heard_and_stores_nothing(site: Stores) -> None:
    heard = Heard()
    site.on_rules_changed(heard)
    with pytest.raises(ValidationError):
        site.users.add_user(User("1001"))  # the id exists
    with pytest.raises(ValidationError):
        site.organisation.put_access_group(9, "Nowhere", 2, [77])  # no such right
    assert heard.count == 0
    assert site.organisation.get_access_group(9) is None


def test_the_listener_hears_after_the_commit(
    site: Stores, db_path: Path, hasher: PinHasher
) -> None:
    """The reload reads the rules on a connection of its own: by the time the listener is
    told, that connection must see the write."""
    seen: list[bool] = []

    def look_from_elsewhere() -> None:
        with UserStore.open(db_path, hasher) as other:
            seen.append(other.get_user("1002") is not None)

    site.on_rules_changed(look_from_elsewhere)
    site.users.add_user(User("1002"))
    assert seen == [True]


def test_a_failing_listener_does_not_undo_the_write(site: Stores) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    site.on_rules_changed(broken)
    site.users.add_user(User("1002"))  # no exception: the write is committed
    assert site.users.get_user("1002") is not None


@pytest.fixture
def stores_with_listener(db_path: Path, hasher: PinHasher) -> Iterator[tuple[Stores, Heard]]:
    heard = Heard()
    with Stores.open(db_path, hasher) as opened:
        opened.on_rules_changed(heard)
        yield opened, heard


def test_writes_of_another_process_are_not_heard(
    stores_with_listener: tuple[Stores, Heard], db_path: Path, hasher: PinHasher
) -> None:
    """Another process (the CLI) has its own connection: the daemon polls for those."""
    stores, heard = stores_with_listener
    with UserStore.open(db_path, hasher) as cli:
        cli.add_user(User("from-cli"))
    assert heard.count == 0
    assert stores.users.get_user("from-cli") is not None
