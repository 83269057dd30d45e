"""The gateway's PIN settings (`[access] pin_min_digits` ...) in the user store: every way
a PIN is set refuses a PIN of another length with one error, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import User
from gateway.store.errors import ValidationError
from gateway.store.importexport import ImportFileError, import_users_file
from gateway.store.stores import Stores
from gateway.store.users import UserStore
from gateway.store.validate import PinLengths

SIX_TO_EIGHT = PinLengths(private=(6, 8), public=(6, 6))


@pytest.fixture
def strict(db_path: Path, hasher: PinHasher) -> Iterator[UserStore]:
    opened = Stores.open(db_path, hasher, SIX_TO_EIGHT)
    yield opened.users
    opened.close()


def test_a_pin_shorter_than_the_settings_is_refused_and_nothing_stored(strict: UserStore) -> None:
    with pytest.raises(ValidationError) as refused:
        strict.add_user(User("1001", pin="1234"))
    assert refused.value.field == "pin"
    assert "6 to 8 digits" in refused.value.message and "1234" not in refused.value.message
    assert strict.get_user("1001") is None


def test_a_pin_of_an_allowed_length_is_stored(strict: UserStore) -> None:
    strict.add_user(User("1001", pin="123456"))
    stored = strict.get_user("1001")
    assert stored is not None and stored.has_pin


def test_an_update_and_an_upsert_keep_to_the_settings(strict: UserStore) -> None:
    strict.add_user(User("1001", pin="123456"))
    for write in (strict.update_user, strict.upsert_user):
        with pytest.raises(ValidationError):
            write(User("1001", pin="123456789"))  # 9 digits
    assert strict.upsert_user(User("1002", pin="12345678")) is True


def test_an_import_refuses_the_whole_batch_and_names_the_row(strict: UserStore) -> None:
    batch = [User("1001", pin="123456"), User("1002", pin="12345")]
    with pytest.raises(ValidationError) as refused:
        strict.import_users(batch)
    assert (refused.value.field, refused.value.index) == ("pin", 1)
    assert strict.get_user("1001") is None


def test_a_csv_import_names_the_line(strict: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id,pin\n1001,123456\n1002,1234\n")
    with pytest.raises(ImportFileError) as refused:
        import_users_file(strict, path)
    assert "line 3" in str(refused.value) and "6 to 8 digits" in str(refused.value)
    assert strict.get_user("1001") is None


def test_public_pins_keep_to_their_own_length(strict: UserStore) -> None:
    with pytest.raises(ValidationError) as refused:
        strict.set_public_pins(["1234"])
    assert refused.value.field == "public_pins" and "6 to 6 digits" in refused.value.message
    assert strict.set_public_pins(["135790"]) is True


def test_the_default_is_the_akuvox_range(users: UserStore) -> None:
    users.add_user(User("1001", pin="12"))  # private PINs: 2-8 digits
    with pytest.raises(ValidationError):
        users.set_public_pins(["123"])  # public PINs: 4-8 digits
