"""Users: validation limits, PIN handling, and all-or-nothing writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import User
from gateway.store.errors import NotFoundError, ValidationError
from gateway.store.stores import Stores
from gateway.store.users import UserStore
from gateway.store.validate import canonical_card

SECRET_PIN = "58213947"


def test_add_and_get_user_normalises_and_hides_the_pin(users: UserStore) -> None:
    users.add_user(
        User(
            "A0001",
            first_name="Ben",
            last_name="John",
            cards=["04:a1:b2 c3", "0011223344"],
            pin="1234",
            expiry="2027-01-31T01:00:00+01:00",
            qr_codes=["visitor-42"],
            plates=["AB 123 CD"],
        )
    )
    user = users.get_user("A0001")
    assert user is not None
    assert user.cards == ["04A1B2C3", "0011223344"]
    assert user.expiry == "2027-01-31T00:00:00Z"
    assert user.pin is None and user.has_pin
    assert user.qr_codes == ["visitor-42"] and user.plates == ["AB 123 CD"]
    assert user.departments == [0] and user.groups == [0] and user.doors == []
    assert users.count_users() == 1
    assert users.get_user("nobody") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("04a1b2c3", "04A1B2C3"),
        ("04:A1:B2:C3", "04A1B2C3"),
        (" 04 a1 ", "04A1"),
        ("ab", "AB"),
        ("AB", "AB"),
        ("00" * 10, "00" * 10),
    ],
)
def test_canonical_card_accepts_what_people_type(text: str, expected: str) -> None:
    assert canonical_card(text) == expected


@pytest.mark.parametrize(
    "text", ["", "xyz", "04A1B", "A", "00" * 11, "04-A1", "0x04A1", "\uff10\uff10"]
)
def test_canonical_card_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        canonical_card(text)
    assert info.value.field == "cards"


def assert_nothing_stored(stores: Stores) -> None:
    assert stores.users.count_users() == 0
    snapshot = stores.engine_state.load_snapshot()
    assert not snapshot.cards and not snapshot.pins and not snapshot.users


@pytest.mark.parametrize(
    ("user", "field"),
    [
        (User("A1", cards=[f"0{i}" for i in range(6)]), "cards"),
        (User("A1", cards=["zz"]), "cards"),
        (User("A1", cards=["04A1", "04:a1"]), "cards"),
        (User("A1", pin="123456789"), "pin"),
        (User("A1", pin="1"), "pin"),
        (User("A1", pin="12a4"), "pin"),
        (User("A1", plates=[f"P{i}" for i in range(6)]), "plates"),
        (User("A1", qr_codes=["x" * 257]), "qr_codes"),
        (User("A1", qr_codes=["a;b"]), "qr_codes"),
        (User(""), "user_id"),
        (User("has space"), "user_id"),
        (User("x" * 33), "user_id"),
        (User("A1", admin_level="ROOT"), "admin_level"),  # type: ignore[arg-type]
        (User("A1", groups=[7]), "groups"),
        (User("A1", groups=[]), "groups"),
        (User("A1", departments=[3]), "departments"),
        (User("A1", expiry="2027-01-31T00:00:00"), "expiry"),
        (User("A1", expiry="tomorrow"), "expiry"),
        (User("A1", first_name="line\nbreak"), "first_name"),
    ],
)
def test_refused_user_stores_nothing(stores: Stores, user: User, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        stores.users.add_user(user)
    assert info.value.field == field
    assert_nothing_stored(stores)


def test_user_id_limits(users: UserStore) -> None:
    users.add_user(User("x" * 32))
    users.add_user(User("A-0001/ä"))
    assert users.count_users() == 2


def test_five_cards_is_the_limit(users: UserStore) -> None:
    users.add_user(User("A1", cards=[f"0{i}" for i in range(5)]))
    user = users.get_user("A1")
    assert user is not None and len(user.cards) == 5


def test_private_pin_is_unique_without_naming_the_owner(stores: Stores) -> None:
    stores.users.add_user(User("alice", pin="2468"))
    with pytest.raises(ValidationError) as info:
        stores.users.add_user(User("bob", pin="2468", cards=["0B0B"]))
    assert info.value.field == "pin"
    assert "in use" in str(info.value)
    assert "alice" not in str(info.value) and "2468" not in str(info.value)
    assert stores.users.get_user("bob") is None
    assert "0B0B" not in stores.engine_state.load_snapshot().cards


def test_card_owned_by_someone_else_is_refused(users: UserStore) -> None:
    users.add_user(User("alice", cards=["04A1"]))
    with pytest.raises(ValidationError, match="already assigned to user alice"):
        users.add_user(User("bob", cards=["04:a1"]))
    assert users.get_user("bob") is None


def test_private_pin_cannot_be_a_public_pin_and_back(users: UserStore) -> None:
    users.set_public_pins(["1357", "24680"])
    assert users.count_public_pins() == 2
    with pytest.raises(ValidationError, match="public PIN") as info:
        users.add_user(User("A1", pin="1357"))
    assert info.value.field == "pin"
    users.add_user(User("A1", pin="9999"))
    with pytest.raises(ValidationError) as public:
        users.set_public_pins(["9999"])
    assert public.value.field == "public_pins"
    assert users.count_public_pins() == 2


@pytest.mark.parametrize("pins", [["123"], ["123456789"], ["1", "2", "3", "4"], ["1234"] * 2])
def test_public_pin_limits(users: UserStore, pins: list[str]) -> None:
    with pytest.raises(ValidationError):
        users.set_public_pins(pins)
    assert users.count_public_pins() == 0


def test_pin_is_stored_only_as_its_keyed_hash(
    db_path: Path, hasher: PinHasher, stores: Stores
) -> None:
    stores.users.add_user(User("A1", pin=SECRET_PIN))
    stores.users.set_public_pins(["73910462"])
    assert only_pin(stores, hasher.hash(SECRET_PIN))
    stores.close()
    for path in db_path.parent.iterdir():
        data = path.read_bytes()
        assert SECRET_PIN.encode() not in data, path
        assert b"73910462" not in data, path


def test_update_keeps_the_pin_unless_told_otherwise(stores: Stores, hasher: PinHasher) -> None:
    stores.users.add_user(User("A1", pin="4321", cards=["01"]))
    user = stores.users.get_user("A1")
    assert user is not None
    user.first_name = "Renamed"
    stores.users.update_user(user)  # read back: pin=None, has_pin=True -> kept
    assert only_pin(stores, hasher.hash("4321"))
    user.pin = "8765"
    stores.users.update_user(user)
    assert only_pin(stores, hasher.hash("8765"))
    user.pin, user.has_pin = None, False
    stores.users.update_user(user)
    assert not stores.engine_state.load_snapshot().pins
    updated = stores.users.get_user("A1")
    assert updated is not None and updated.first_name == "Renamed" and not updated.has_pin


def test_add_update_upsert_delete(users: UserStore) -> None:
    with pytest.raises(NotFoundError):
        users.update_user(User("A1"))
    assert users.upsert_user(User("A1")) is True
    assert users.upsert_user(User("A1", first_name="B")) is False
    with pytest.raises(ValidationError, match="already exists"):
        users.add_user(User("A1"))
    users.set_user_active("A1", False)
    user = users.get_user("A1")
    assert user is not None and not user.active and user.first_name == "B"
    assert users.delete_user("A1") is True
    assert users.delete_user("A1") is False
    with pytest.raises(NotFoundError):
        users.set_user_active("A1", True)


def test_deleting_a_user_frees_their_credentials(stores: Stores) -> None:
    stores.users.add_user(User("A1", cards=["04A1"], pin="1111"))
    stores.users.delete_user("A1")
    stores.users.add_user(User("B1", cards=["04A1"], pin="1111"))
    assert stores.engine_state.load_snapshot().cards["04A1"].user_id == "B1"


def test_list_users_is_sorted_and_complete(stores: Stores) -> None:
    stores.organisation.add_department(5, "Lab")
    stores.organisation.put_access_group(3, "Lab staff", 5, [0], doors=["lab"])
    stores.users.add_user(User("b", departments=[5, 0], groups=[3, 0], doors=["lab", "front"]))
    stores.users.add_user(User("a"))
    users = stores.users.list_users()
    assert [u.user_id for u in users] == ["a", "b"]
    assert users[1].departments == [5, 0]
    assert users[1].groups == [3, 0]
    assert users[1].doors == ["lab", "front"]


def test_import_users_is_all_or_nothing(users: UserStore) -> None:
    users.add_user(User("keep", cards=["0F"]))
    batch = [User("n1", cards=["01"]), User("n2", cards=["0F"]), User("n3")]
    with pytest.raises(ValidationError) as info:
        users.import_users(batch)
    assert info.value.index == 1 and info.value.field == "cards"
    assert [u.user_id for u in users.list_users()] == ["keep"]


def test_import_users_refuses_a_duplicate_id(users: UserStore) -> None:
    with pytest.raises(ValidationError) as info:
        users.import_users([User("n1"), User("n1")])
    assert info.value.index == 1
    assert users.count_users() == 0


def test_import_users_replace_drops_the_others(users: UserStore) -> None:
    users.add_user(User("old"))
    users.add_user(User("kept", first_name="x"))
    assert users.import_users([User("kept", first_name="y"), User("new")], replace=True) == 2
    assert [u.user_id for u in users.list_users()] == ["kept", "new"]


def test_import_users_with_pin_hashes(stores: Stores, hasher: PinHasher) -> None:
    hashed = hasher.hash("1234")
    stores.users.import_users([User("A1")], pin_hashes={"A1": hashed})
    assert stores.engine_state.load_snapshot().pins[hashed].user_id == "A1"
    with pytest.raises(ValidationError) as info:
        stores.users.import_users([User("A2")], pin_hashes={"A2": "1234"})
    assert info.value.field == "pin_hash"


@pytest.mark.parametrize("user_id", ["a b", "a\tb", "a\u00a0b", "a\u3000b", "a\u2028b", "a\x1fb"])
def test_a_user_id_with_any_kind_of_space_is_refused(users: UserStore, user_id: str) -> None:
    with pytest.raises(ValidationError, match="printable characters without spaces"):
        users.add_user(User(user_id))
    users.add_user(User("Zoë-№7"))
    assert users.count_users() == 1


def test_import_users_names_the_refused_user_past_the_first_batch(
    users: UserStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.store.users.IMPORT_BATCH", 2)
    batch = [User(f"n{n}", cards=[f"{n + 1:02X}"]) for n in range(5)] + [User("x", cards=["04"])]
    with pytest.raises(ValidationError) as info:
        users.import_users(batch)
    assert info.value.index == 5
    assert info.value.message == "card 04 is already assigned to user n3"
    assert users.count_users() == 0


def only_pin(stores: Stores, pin_hash: str) -> bool:
    """The engine's rules hold exactly one private PIN, the one with `pin_hash`."""
    pins = stores.engine_state.load_snapshot().pins
    return len(pins) == 1 and pin_hash in pins
