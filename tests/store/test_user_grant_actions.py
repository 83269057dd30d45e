"""A user's elevator floors and web relay URLs: stored, bounded, read back with the
password masked, and a masked URL written back keeps the stored one."""

from __future__ import annotations

import pytest

from gateway.model import GrantActions, User
from gateway.store.errors import ValidationError
from gateway.store.stores import Stores
from gateway.store.users import UserStore

SECRET_URL = "https://relay:S3cret-pw@10.0.0.9/state.xml?relay1=1&name=$name"
TOKEN_URL = "http://10.0.0.10/api/open?door=2&token=abcdef123"
PLAIN_URL = "http://10.0.0.11/relay/0?turn=on"


def test_floors_and_urls_are_stored_and_read_back_masked(users: UserStore) -> None:
    users.add_user(User("A1", floors=["1", "3", "B2"], web_relay_urls=[SECRET_URL, TOKEN_URL]))
    read = users.get_user("A1")
    assert read is not None
    assert read.floors == ["1", "3", "B2"]
    assert read.web_relay_urls == [
        "https://relay:****@10.0.0.9/state.xml?relay1=1&name=$name",
        "http://10.0.0.10/api/open?door=2&token=****",
    ]
    assert "S3cret" not in repr(users.list_users())
    # The sender alone reads them in full.
    assert users.grant_actions("A1") == GrantActions(("1", "3", "B2"), (SECRET_URL, TOKEN_URL))
    assert users.grant_actions("nobody") == GrantActions()


def test_a_user_written_back_as_read_keeps_the_secrets(users: UserStore) -> None:
    users.add_user(User("A1", floors=["2"], web_relay_urls=[SECRET_URL, TOKEN_URL]))
    read = users.get_user("A1")
    assert read is not None
    read.first_name = "Ada"
    read.web_relay_urls = [read.web_relay_urls[1], read.web_relay_urls[0], PLAIN_URL]
    users.update_user(read)
    assert users.grant_actions("A1").web_relay_urls == (TOKEN_URL, SECRET_URL, PLAIN_URL)


def test_a_masked_url_that_matches_nothing_stored_is_refused(users: UserStore) -> None:
    users.add_user(User("A1", web_relay_urls=[SECRET_URL]))
    other = User("A1", web_relay_urls=["https://relay:****@10.0.0.99/state.xml"])
    with pytest.raises(ValidationError) as info:
        users.update_user(other)
    assert info.value.field == "web_relay_urls"
    assert users.grant_actions("A1").web_relay_urls == (SECRET_URL,)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (User("A1", web_relay_urls=["ftp://10.0.0.9/x"]), "URL 1 is not an http"),
        (User("A1", web_relay_urls=["http://"]), "URL 1 is not an http"),
        (User("A1", web_relay_urls=[PLAIN_URL, "javascript:alert(1)"]), "URL 2 is not"),
        (User("A1", web_relay_urls=["http://h/" + "x" * 1100]), "longer than 1024"),
        (User("A1", web_relay_urls=["http://h/a b"]), "must not contain spaces"),
        (User("A1", web_relay_urls=["http://h/a;b"]), "must not contain spaces"),
        (User("A1", web_relay_urls=[f"http://h/{i}" for i in range(11)]), "at most 10"),
        (User("A1", web_relay_urls=[PLAIN_URL, PLAIN_URL]), "listed twice"),
        (User("A1", floors=["a floor"]), "not a floor name"),
        (User("A1", floors=["1", "1"]), "listed twice"),
        (User("A1", floors=[str(i) for i in range(129)]), "at most 128"),
    ],
)
def test_bad_floors_or_urls_store_nothing(stores: Stores, user: User, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        stores.users.add_user(user)
    assert message in str(info.value)
    assert stores.users.count_users() == 0


def test_a_refusal_never_quotes_the_url(users: UserStore) -> None:
    with pytest.raises(ValidationError) as info:
        users.add_user(User("A1", web_relay_urls=["gopher://u:Hunter2@h/x"]))
    assert "Hunter2" not in str(info.value)


def test_import_keeps_floors_and_resolves_masked_urls(users: UserStore) -> None:
    users.add_user(User("A1", web_relay_urls=[SECRET_URL]))
    read = users.get_user("A1")
    assert read is not None
    users.import_users([read, User("B2", floors=["7", "8"], web_relay_urls=[PLAIN_URL])])
    assert users.grant_actions("A1").web_relay_urls == (SECRET_URL,)
    assert users.grant_actions("B2") == GrantActions(("7", "8"), (PLAIN_URL,))
    users.delete_user("B2")
    assert users.grant_actions("B2") == GrantActions()
