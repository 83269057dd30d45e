"""Floors and web relay URLs in CSV/XML: exported with the URL's secret masked, imported
back into the same gateway without losing it, refused elsewhere with the line named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import GrantActions, User
from gateway.store.importexport import ImportFileError, export_users_file, import_users_file
from gateway.store.stores import Stores

SECRET_URL = "https://relay:S3cret-pw@10.0.0.9/state.xml?relay1=1"
PLAIN_URL = "http://10.0.0.11/relay/0?turn=on&who=$name"


@pytest.fixture
def other_stores(tmp_path: Path, hasher: PinHasher) -> Iterator[Stores]:
    opened = Stores.open(tmp_path / "other.db", hasher)
    yield opened
    opened.close()


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_export_masks_and_the_same_gateway_keeps_the_secret(
    stores: Stores, tmp_path: Path, suffix: str
) -> None:
    stores.users.add_user(User("A1", floors=["1", "B2"], web_relay_urls=[SECRET_URL, PLAIN_URL]))
    path = tmp_path / f"users{suffix}"
    export_users_file(stores.users, path)
    text = path.read_text(encoding="utf-8-sig")
    assert "S3cret" not in text and "relay:****@10.0.0.9" in text
    assert import_users_file(stores.users, path) == 1
    assert stores.users.grant_actions("A1") == GrantActions(("1", "B2"), (SECRET_URL, PLAIN_URL))
    again = tmp_path / f"again{suffix}"
    export_users_file(stores.users, again)
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_another_gateway_refuses_a_masked_url_and_imports_nothing(
    stores: Stores, other_stores: Stores, tmp_path: Path, suffix: str
) -> None:
    stores.users.add_user(User("A1", floors=["1"], web_relay_urls=[PLAIN_URL]))
    stores.users.add_user(User("B2", web_relay_urls=[SECRET_URL]))
    path = tmp_path / f"users{suffix}"
    export_users_file(stores.users, path)
    with pytest.raises(ImportFileError) as info:
        import_users_file(other_stores.users, path)
    # B2's row; B2's masked <web_relay_url> element
    masked = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "****" in text]
    line = 3 if suffix == ".csv" else masked[0]
    assert f"line {line}: web_relay_urls: URL 1 is masked" in str(info.value)
    assert "S3cret" not in str(info.value)
    assert other_stores.users.count_users() == 0


def test_a_person_written_csv_with_floors_and_urls(stores: Stores, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        f"user_id,floors,web_relay_urls\nA1,1;3;B2,{SECRET_URL};{PLAIN_URL}\nA2,,\n",
        encoding="utf-8",
    )
    assert import_users_file(stores.users, path) == 2
    assert stores.users.grant_actions("A1") == GrantActions(
        ("1", "3", "B2"), (SECRET_URL, PLAIN_URL)
    )
    assert stores.users.grant_actions("A2") == GrantActions()


def test_a_bad_url_in_a_file_names_its_line_not_its_text(stores: Stores, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "user_id,web_relay_urls\nA1,http://10.0.0.1/x\nA2,ftp://u:Hunter2@h/x\n", encoding="utf-8"
    )
    with pytest.raises(ImportFileError) as info:
        import_users_file(stores.users, path)
    assert "line 3: web_relay_urls: URL 1 is not an http" in str(info.value)
    assert "Hunter2" not in str(info.value)
    assert stores.users.count_users() == 0
