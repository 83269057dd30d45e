"""Schedules, groups, departments, holidays, technicians, engine state and the snapshot."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.access.snapshot import ALWAYS_PATTERN, PATTERN_DAYS
from gateway.model import User
from gateway.store.engine_state import EngineStateStore
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.organisation import OrganisationStore
from gateway.store.records import AccessGroup, Department, HolidayChange, Technician
from gateway.store.stores import Stores
from gateway.store.technicians import TechnicianStore
from gateway.store.users import UserStore

OFFICE = "0" * 16 + "1" * 20 + "0" * 12  # 08:00-18:00


def test_seeded_records(organisation: OrganisationStore) -> None:
    assert organisation.list_departments() == [Department(0, "General", "General")]
    always = organisation.get_access_right(0)
    assert always is not None and always.name == "Always"
    assert always.patterns == dict.fromkeys(PATTERN_DAYS, ALWAYS_PATTERN)
    assert organisation.list_access_groups() == [AccessGroup(0, "General", 0, (0,), None)]


def test_access_right_crud_and_validation(organisation: OrganisationStore) -> None:
    organisation.put_access_right(3, "Office", {"monday": OFFICE, "FRIDAY": OFFICE}, "weekdays")
    right = organisation.get_access_right(3)
    assert right is not None
    assert right.patterns == {"MONDAY": OFFICE, "FRIDAY": OFFICE}
    assert right.description == "weekdays"
    organisation.put_access_right(3, "Office", {"HOLIDAY": "0" * 48})
    right = organisation.get_access_right(3)
    assert right is not None and right.patterns == {"HOLIDAY": "0" * 48}
    for bad in ({"FUNDAY": OFFICE}, {"MONDAY": "1" * 47}, {"MONDAY": "2" * 48}):
        with pytest.raises(ValidationError) as info:
            organisation.put_access_right(4, "Bad", bad)
        assert info.value.field == "patterns"
    assert organisation.get_access_right(4) is None
    organisation.put_access_right(0, "Always (edited)", {"MONDAY": OFFICE})  # 0 may change...
    with pytest.raises(ValidationError):
        organisation.delete_access_right(0)  # ...but not go
    assert organisation.delete_access_right(3) is True
    assert organisation.delete_access_right(3) is False


def test_access_groups(organisation: OrganisationStore) -> None:
    organisation.put_access_right(3, "Office", {"MONDAY": OFFICE})
    organisation.add_department(2, "Ops", "Operations")
    organisation.put_access_group(7, "Ops staff", 2, [3, 0], doors=["front", "lab"])
    assert organisation.get_access_group(7) == AccessGroup(
        7, "Ops staff", 2, (0, 3), ("front", "lab")
    )
    with pytest.raises(ValidationError, match="access right 9"):
        organisation.put_access_group(8, "x", 0, [9])
    with pytest.raises(ValidationError) as info:
        organisation.put_access_group(8, "x", 4, [0])
    assert info.value.field == "department_id"
    with pytest.raises(ValidationError):
        organisation.put_access_group(8, "x", 0, [0], doors=[])
    assert organisation.get_access_group(8) is None
    # Deleting a right: groups lose it.
    organisation.delete_access_right(3)
    group = organisation.get_access_group(7)
    assert group is not None and group.rights == (0,)


def test_group_deletion_rules(stores: Stores) -> None:
    stores.organisation.put_access_group(7, "Ops", 0, [0])
    stores.users.add_user(User("A1", groups=[7]))
    with pytest.raises(ValidationError, match="still has 1 user"):
        stores.organisation.delete_access_group(7)
    with pytest.raises(ValidationError):
        stores.organisation.delete_access_group(0)
    stores.organisation.put_access_group(0, "Everyone", 0, [])  # group 0 can be modified
    stores.users.update_user(User("A1", groups=[0]))
    assert stores.organisation.delete_access_group(7) is True
    assert stores.organisation.delete_access_group(7) is False


def test_departments(stores: Stores) -> None:
    stores.organisation.add_department(2, "Ops")
    with pytest.raises(ValidationError, match="already exists"):
        stores.organisation.add_department(2, "Ops again")
    stores.organisation.update_department(2, "Operations", "the ops team")
    assert stores.organisation.get_department(2) == Department(2, "Operations", "the ops team")
    with pytest.raises(NotFoundError):
        stores.organisation.update_department(9, "x")
    with pytest.raises(ValidationError):
        stores.organisation.add_department(3, "")
    stores.organisation.put_access_group(5, "Ops", 2, [0])
    with pytest.raises(ValidationError, match="access groups 5"):
        stores.organisation.delete_department(2)
    stores.organisation.put_access_group(5, "Ops", 0, [0])
    stores.users.add_user(User("A1", departments=[2]))
    assert stores.organisation.delete_department(2) is True
    user = stores.users.get_user("A1")
    assert user is not None and user.departments == [0]  # fell back to General
    with pytest.raises(ValidationError):
        stores.organisation.delete_department(0)


def test_holidays(organisation: OrganisationStore) -> None:
    change = organisation.add_holidays(["2026-12-25", date(2027, 1, 1), "2025-13-01", "soon"])
    assert change == HolidayChange(
        changed=(date(2026, 12, 25), date(2027, 1, 1)), invalid=("2025-13-01", "soon")
    )
    assert organisation.add_holidays(["2026-12-25"]).changed == ()  # already there
    assert organisation.list_holidays() == [date(2026, 12, 25), date(2027, 1, 1)]
    removed = organisation.remove_holidays(["2026-12-25", "2026-05-01"])
    assert removed == HolidayChange(changed=(date(2026, 12, 25),), invalid=("2026-05-01",))
    assert organisation.list_holidays() == [date(2027, 1, 1)]


def test_technicians(technicians: TechnicianStore) -> None:
    assert not technicians.technician_exists("admin")
    technicians.set_technician_password("admin", "s3cret-pass", must_change=True)
    assert technicians.technician_exists("admin")
    assert technicians.verify_technician("admin", "s3cret-pass") == Technician(
        "admin", "SUPERADMIN", True
    )
    assert technicians.verify_technician("admin", "wrong") is None
    assert technicians.verify_technician("nobody", "s3cret-pass") is None
    technicians.set_technician_password("admin", "other", level="USERADMIN")
    assert technicians.verify_technician("admin", "s3cret-pass") is None
    # Every change moves the credential version (sessions opened before it end).
    assert technicians.list_technicians() == [Technician("admin", "USERADMIN", False, False, 2)]
    assert technicians.technician_credential_version("admin") == 2
    assert technicians.set_technician_level("admin", "PERSONALUSER")
    assert technicians.set_technician_disabled("admin", True)
    assert technicians.technician_credential_version("admin") is None  # disabled: no session
    assert technicians.verify_technician("admin", "other") is None  # nor a login
    assert technicians.set_technician_disabled("admin", False)
    assert technicians.technician_credential_version("admin") == 5
    assert technicians.verify_technician("admin", "other") == Technician(
        "admin", "PERSONALUSER", False, False, 5
    )
    assert not technicians.set_technician_level("nobody", "USERADMIN")
    assert technicians.technician_credential_version("nobody") is None
    with pytest.raises(ValidationError):
        technicians.set_technician_password("bob", "pw", level="GOD")
    with pytest.raises(ValidationError):
        technicians.set_technician_password("bad name", "pw")
    with pytest.raises(ValidationError):
        technicians.set_technician_password("bob", "")
    assert technicians.delete_technician("admin") is True
    assert technicians.list_technicians() == []


def test_technician_password_is_not_stored_in_clear(stores: Stores, db_path: Path) -> None:
    stores.technicians.set_technician_password("admin", "correct-horse-battery")
    stores.close()
    for path in db_path.parent.iterdir():
        assert b"correct-horse-battery" not in path.read_bytes()


def test_engine_state_round_trip(engine_state: EngineStateStore) -> None:
    assert engine_state.load_engine_state() == {}
    state: dict[str, object] = {"apb": {"A1": "in"}, "lockouts": [["r1", 12.5]], "n": 3}
    engine_state.save_engine_state(state)
    assert engine_state.load_engine_state() == state
    engine_state.save_engine_state({"n": 4})
    assert engine_state.load_engine_state() == {"n": 4}


def test_snapshot_contents(stores: Stores, hasher: PinHasher) -> None:
    stores.organisation.put_access_right(3, "Office", {"MONDAY": OFFICE, "HOLIDAY": "0" * 48})
    stores.organisation.put_access_group(7, "Ops", 0, [3], doors=["front"])
    stores.users.add_user(
        User(
            "A1",
            first_name="Ben",
            last_name="John",
            groups=[7, 0],
            doors=["front", "back"],
            cards=["04a1b2c3"],
            pin="2468",
            qr_codes=["QR-1"],
            plates=["AB123"],
            expiry="2027-01-31T00:00:00Z",
            admin_level="USERADMIN",
            lockdown_override=True,
        )
    )
    stores.users.add_user(User("B2", active=False, admin_level="SUPERADMIN"))
    stores.users.set_public_pins(["1357"])
    stores.organisation.add_holidays(["2026-12-25"])
    snap = stores.engine_state.load_snapshot()
    a1 = snap.users["A1"]
    assert a1.name == "Ben John"
    assert a1.expiry == datetime(2027, 1, 31, tzinfo=UTC).timestamp()
    assert a1.groups == (7, 0)
    assert a1.doors == frozenset({"front", "back"})
    assert a1.lockdown_override is True
    assert snap.users["B2"].lockdown_override is False  # an admin level is not the override
    assert snap.users["B2"].active is False and snap.users["B2"].doors is None
    assert snap.users["B2"].expiry is None
    assert snap.owner("card", "04A1B2C3") is not None
    assert snap.cards["04A1B2C3"].user_id == "A1"
    assert snap.pins[hasher.hash("2468")].user_id == "A1"
    assert snap.qr_codes["QR-1"].user_id == "A1"
    assert snap.plates["AB123"].enabled
    assert snap.public_pins == frozenset({hasher.hash("1357")})
    assert snap.groups[7].rights == (3,) and snap.groups[7].doors == frozenset({"front"})
    assert snap.groups[0].doors is None
    assert snap.rights[3].patterns == {"MONDAY": OFFICE, "HOLIDAY": "0" * 48}
    assert snap.rights[3].allows("MONDAY", 16) and not snap.rights[3].allows("TUESDAY", 16)
    assert snap.holidays == frozenset({date(2026, 12, 25)})
    assert snap.version == stores.engine_state.rules_version()
    assert snap.counts()["users"] == 2


def test_rules_version_moves_on_every_rule_write(stores: Stores) -> None:
    seen = [stores.engine_state.rules_version()]

    def bumped() -> None:
        seen.append(stores.engine_state.rules_version())
        assert seen[-1] > seen[-2]

    stores.users.add_user(User("A1"))
    bumped()
    stores.users.set_public_pins(["1357"])
    bumped()
    stores.organisation.add_department(2, "Ops")
    bumped()
    stores.organisation.put_access_right(3, "x", {})
    bumped()
    stores.organisation.put_access_group(4, "x", 0, [3])
    bumped()
    stores.organisation.add_holidays(["2026-12-25"])
    bumped()
    stores.users.delete_user("A1")
    bumped()
    before = stores.engine_state.rules_version()
    stores.engine_state.save_engine_state({"x": 1})
    stores.technicians.set_technician_password("admin", "pw")
    assert stores.engine_state.rules_version() == before  # not rules


def test_rules_version_sees_writes_by_another_connection(
    engine_state: EngineStateStore, db_path: Path
) -> None:
    before_data = engine_state.data_version()
    before_rules = engine_state.rules_version()
    other = sqlite3.connect(db_path)
    other.execute("INSERT INTO holidays (date) VALUES ('2027-07-14')")
    other.commit()
    other.close()
    assert engine_state.data_version() != before_data
    assert engine_state.rules_version() > before_rules
    assert date(2027, 7, 14) in engine_state.load_snapshot().holidays


def test_a_second_store_sees_the_first_ones_users(
    engine_state: EngineStateStore, db_path: Path, hasher: PinHasher
) -> None:
    cli = UserStore.open(db_path, hasher)
    try:
        version = engine_state.rules_version()
        cli.add_user(User("from-cli", cards=["0A0B"]))
    finally:
        cli.close()
    assert engine_state.rules_version() > version
    assert engine_state.load_snapshot().cards["0A0B"].user_id == "from-cli"
