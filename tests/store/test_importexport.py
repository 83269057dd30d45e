"""Users import/export: lossless round trips, line-numbered errors, safe XML."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.clock import Instant
from gateway.model import Credential, CredentialKind, User
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.store.importexport import (
    CSV_COLUMNS,
    ImportFileError,
    export_users_file,
    import_users_file,
)
from gateway.store.records import UserRecord
from gateway.store.stores import Stores
from gateway.store.users import UserStore
from tests.durability import FsyncSpy


def populate(stores: Stores) -> None:
    stores.organisation.add_department(2, "Ops")
    stores.organisation.put_access_group(3, "Ops", 2, [0], doors=["front"])
    stores.users.add_user(
        User(
            "A0001",
            first_name="Ben",
            last_name="O'Neil, Jr",
            other_name="Zoë",
            expiry="2027-01-31T00:00:00Z",
            admin_level="USERADMIN",
            departments=[2, 0],
            groups=[3, 0],
            doors=["front", "lab"],
            message='said "hi" & <left>',
            cards=["04:a1:b2:c3", "0011223344"],
            qr_codes=["=HYPERLINK(x)", "'@y", "plain qr"],
            plates=["AB 123"],
            pin="2468",
        )
    )
    stores.users.add_user(User("B2", first_name="-minus", active=False))
    stores.users.add_user(User("C3", first_name="+plus", cards=["FF"], pin="97531"))


@pytest.fixture
def other_stores(tmp_path: Path, hasher: PinHasher) -> Iterator[Stores]:
    opened = Stores.open(tmp_path / "other.db", hasher)
    yield opened
    opened.close()


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_round_trip_is_lossless(
    stores: Stores, other_stores: Stores, tmp_path: Path, suffix: str
) -> None:
    populate(stores)
    other_stores.organisation.add_department(2, "Ops")
    other_stores.organisation.put_access_group(3, "Ops", 2, [0], doors=["front"])
    first = tmp_path / f"first{suffix}"
    second = tmp_path / f"second{suffix}"
    assert export_users_file(stores.users, first) == 3
    assert import_users_file(other_stores.users, first) == 3
    assert export_users_file(other_stores.users, second) == 3
    assert first.read_bytes() == second.read_bytes()
    assert other_stores.users.list_users() == stores.users.list_users()
    assert (
        other_stores.engine_state.load_snapshot().pins.keys()
        == stores.engine_state.load_snapshot().pins.keys()
    )


def disable(users: UserStore, user_id: str, *credentials: tuple[str, str]) -> None:
    """Disable some of a user's credentials, as the ACTAtek API does (keyenabled=false)."""

    def build(record: UserRecord | None) -> UserRecord:
        assert record is not None
        user, profile = record
        flags = {(kind, value): False for kind, value in credentials}
        return user, replace(profile, enabled=flags)

    users.save_user_record(user_id, build, "update")


def door_answer(stores: Stores, hasher: PinHasher, kind: CredentialKind, value: str) -> str:
    """What the front door says to a credential, from the store's rules."""
    door = DoorSettings("front")
    reader = ReaderSettings("r", "wiegand_keypad", "front")
    engine = AccessEngine(
        AccessSettings(),
        {"front": door},
        {"r": reader},
        UTC,
        hasher,
        stores.engine_state.load_snapshot(),
    )
    now = Instant(datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp(), 1_000.0)
    return engine.decide(Credential(kind, value, "r", now.wall), "front", now).reason


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_disabled_credentials_stay_disabled_on_another_gateway(
    stores: Stores, other_stores: Stores, hasher: PinHasher, tmp_path: Path, suffix: str
) -> None:
    populate(stores)
    disable(stores.users, "A0001", ("card", "0011223344"), ("qr", "plain qr"))
    stores.users.import_users([User("P1", pin="8642")])
    disable(stores.users, "P1", ("pin", hasher.hash("8642")))
    other_stores.organisation.add_department(2, "Ops")
    other_stores.organisation.put_access_group(3, "Ops", 2, [0], doors=["front"])
    first, second = tmp_path / f"first{suffix}", tmp_path / f"second{suffix}"
    export_users_file(stores.users, first)
    import_users_file(other_stores.users, first)
    assert door_answer(other_stores, hasher, "card", "0011223344") == "credential_disabled"
    assert door_answer(other_stores, hasher, "qr", "plain qr") == "credential_disabled"
    assert door_answer(other_stores, hasher, "pin", "8642") == "credential_disabled"
    assert door_answer(other_stores, hasher, "card", "04A1B2C3") == "granted"  # A0001's other
    assert door_answer(other_stores, hasher, "pin", "97531") == "granted"  # C3's PIN
    export_users_file(other_stores.users, second)
    assert first.read_bytes() == second.read_bytes()  # still lossless


def test_an_older_export_without_the_flags_imports_everything_enabled(
    stores: Stores, hasher: PinHasher, tmp_path: Path
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "user_id,active,cards,qr_codes,plates,pin,pin_hash\n"
        "A1,true,04A1B2C3;0B0C,q1,AB 123,1234,\n",
        encoding="utf-8",
    )
    import_users_file(stores.users, path)
    for kind, value in [("card", "0B0C"), ("qr", "q1"), ("plate", "AB 123"), ("pin", "1234")]:
        assert door_answer(stores, hasher, kind, value) == "granted", kind  # type: ignore[arg-type]


def test_a_file_without_the_flags_keeps_the_flags_already_stored(
    stores: Stores, hasher: PinHasher, tmp_path: Path
) -> None:
    stores.users.import_users([User("A1", cards=["0B0C"])])
    disable(stores.users, "A1", ("card", "0B0C"))
    path = tmp_path / "names.csv"
    path.write_text("user_id,first_name,cards\nA1,Ann,0B0C\n", encoding="utf-8")
    import_users_file(stores.users, path)  # a file that says nothing about flags re-enables nothing
    assert door_answer(stores, hasher, "card", "0B0C") == "credential_disabled"
    path.write_text("user_id,cards,disabled_cards\nA1,0B0C,\n", encoding="utf-8")
    import_users_file(stores.users, path)  # one that has the column is the authority
    assert door_answer(stores, hasher, "card", "0B0C") == "granted"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A1,0B0C,0b:0d,,", "line 2: disabled_cards: '0b:0d' is not one of this user's cards"),
        ("A1,0B0C,,q9,", "line 2: disabled_qr_codes: 'q9' is not one of this user's QR codes"),
        ("A1,0B0C,,,maybe", "line 2: pin_enabled: 'maybe' is not true or false"),
        ("A1,0B0C,0b:0c;0B0C,,", "line 2: disabled_cards: '0B0C' is listed twice"),
    ],
)
def test_bad_flags_are_refused_with_their_line(
    users: UserStore, tmp_path: Path, row: str, expected: str
) -> None:
    path = tmp_path / "flags.csv"
    header = "user_id,cards,disabled_cards,disabled_qr_codes,pin_enabled"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as refused:
        import_users_file(users, path)
    assert expected in str(refused.value)
    assert users.count_users() == 0


def test_a_disabled_pin_needs_a_pin(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "nopin.xml"
    path.write_text(
        "<users><user><user_id>A1</user_id><pin_hash/><pin_enabled>false</pin_enabled>"
        "</user></users>",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError, match="pin_enabled: false, but this user has no PIN"):
        import_users_file(users, path)


def test_csv_and_xml_carry_the_same_users(
    stores: Stores, other_stores: Stores, tmp_path: Path
) -> None:
    populate(stores)
    other_stores.organisation.add_department(2, "Ops")
    other_stores.organisation.put_access_group(3, "Ops", 2, [0])
    export_users_file(stores.users, tmp_path / "a.csv")
    import_users_file(other_stores.users, tmp_path / "a.csv")
    export_users_file(other_stores.users, tmp_path / "b.xml")
    export_users_file(stores.users, tmp_path / "a.xml")
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


def test_csv_header_and_formula_guard(stores: Stores, tmp_path: Path) -> None:
    populate(stores)
    path = tmp_path / "users.csv"
    export_users_file(stores.users, path)
    text = path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "'=HYPERLINK(x);'@y;plain qr" in text  # only the cell's start matters
    assert "''@y" not in text
    assert ",'-minus," in text and ",'+plus," in text
    assert "2468" not in text and "97531" not in text


def test_a_person_written_csv(stores: Stores, hasher: PinHasher, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "User_ID , First_Name,cards,pin,active,groups\n"
        "A1,Ann,04 a1 ; 0b:0c,1234,yes,\n"
        "\n"
        "A2,Bob,,,no,0\n"
        "A3,Cid\n",
        encoding="utf-8",
    )
    assert import_users_file(stores.users, path) == 3
    a1 = stores.users.get_user("A1")
    assert a1 is not None and a1.cards == ["04A1", "0B0C"] and a1.groups == [0]
    assert stores.engine_state.load_snapshot().pins[hasher.hash("1234")].user_id == "A1"
    a2 = stores.users.get_user("A2")
    assert a2 is not None and not a2.active and not a2.has_pin
    a3 = stores.users.get_user("A3")
    assert a3 is not None and a3.first_name == "Cid" and a3.active


def test_bad_csv_row_imports_nothing_and_names_the_line(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "user_id,first_name,cards,pin\n"
        'A1,"two\nlines",01,\n'  # one record on lines 2-3
        "A2,Bob,02,\n"  # line 4
        "A3,Cid,nothex,\n"  # line 5
        "A4,Dan,03,123456789\n",  # line 6
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    message = str(info.value)
    assert f"{path}:line 5: cards: " in message
    assert f"{path}:line 6: pin: " in message
    assert "123456789" not in message  # a refused PIN is not echoed either
    # Line 2's name has a line break: refused too, at the record's first line.
    assert f"{path}:line 2: first_name: " in message
    assert users.count_users() == 0


def test_conflict_between_rows_is_caught_in_the_transaction(
    users: UserStore, tmp_path: Path
) -> None:
    users.add_user(User("existing", pin="5555"))
    path = tmp_path / "users.csv"
    path.write_text(
        "user_id,cards,pin\nA1,01,\nA2,01,\nA3,,5555\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    assert str(info.value) == f"{path}:line 3: cards: card 01 is already assigned to user A1"
    assert [u.user_id for u in users.list_users()] == ["existing"]
    path.write_text("user_id,pin\nA1,\nA3,5555\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 3: pin: this PIN is already in use"):
        import_users_file(users, path)
    assert users.count_users() == 1


def test_duplicate_user_id_in_a_file(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user_id\nA1\nA2\nA1\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"line 4: user_id: user A1 is already on line 2"):
        import_users_file(users, path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "line 1: the file is empty"),
        ("first_name\nAnn\n", "line 1: user_id: required column is missing"),
        ("user_id,badge\nA1,1\n", "line 1: badge: unknown column"),
        ("user_id,cards,cards\n", "line 1: cards: column appears twice"),
        ("user_id\nA1,extra\n", "line 2: has 2 cells but the header has 1 columns"),
        ("user_id,active\nA1,maybe\n", "line 2: active: 'maybe' is not true or false"),
        ("user_id,groups\nA1,0;x\n", "line 2: groups: 'x' is not a number"),
        ("user_id,groups\nA1,9\n", "line 2: groups: access group 9 does not exist"),
        ("user_id,pin_hash\nA1,abc\n", "line 2: pin_hash: must be 64 lowercase hex"),
    ],
)
def test_csv_structure_errors(
    users: UserStore, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "users.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    assert f"{path}:{expected}" in str(info.value)
    assert users.count_users() == 0


def test_unknown_extension_is_refused(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"unknown file type '\.json'; use \.csv or \.xml"):
        import_users_file(users, path)
    with pytest.raises(ImportFileError, match=r"use \.csv or \.xml"):
        export_users_file(users, tmp_path / "users.txt")
    assert not (tmp_path / "users.txt").exists()


def test_bad_xml_element_imports_nothing_and_names_its_line(
    users: UserStore, tmp_path: Path
) -> None:
    path = tmp_path / "users.xml"
    path.write_text(
        "<?xml version='1.0'?>\n"
        "<users>\n"
        "  <user><user_id>A1</user_id><card>01</card></user>\n"
        "  <user>\n"
        "    <user_id>A2</user_id>\n"
        "    <card>02</card>\n"
        "    <card>zz</card>\n"  # line 7... but the field's first element is line 6
        "  </user>\n"
        "  <user>\n"
        "    <user_id>A3</user_id>\n"
        "    <badge>1</badge>\n"  # line 11
        "  </user>\n"
        "</users>\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    assert f"{path}:line 11: unknown element <badge>" in str(info.value)
    assert users.count_users() == 0
    text = path.read_text(encoding="utf-8").replace("    <badge>1</badge>\n", "")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFileError) as again:
        import_users_file(users, path)
    assert f"{path}:line 6: cards: 'zz' is not a hexadecimal card number" in str(again.value)
    assert users.count_users() == 0


def test_xml_conflict_points_at_the_element(users: UserStore, tmp_path: Path) -> None:
    path = tmp_path / "users.xml"
    path.write_text(
        "<users>\n"
        "<user><user_id>A1</user_id><plate>AB1</plate></user>\n"
        "<user>\n<user_id>A2</user_id>\n<plate>AB1</plate>\n</user>\n"
        "</users>\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError, match=r":line 5: plates: plate AB1 is already"):
        import_users_file(users, path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE users [\n<!ENTITY lol "lol">\n]>\n'
            "<users><user><user_id>&lol;</user_id></user></users>\n",
            "line 2: DTDs and entity declarations are not allowed",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE users SYSTEM "file:///etc/passwd">\n<users/>\n',
            "line 2: DTDs and entity declarations are not allowed",
        ),
        ("<users><user><user_id>&lol;</user_id></user></users>", "line 1: not well-formed"),
        ("<users><user>", "not well-formed XML"),
        ("<people/>", "line 1: the root element must be <users>"),
        ("<users>\n<person/>\n</users>", "line 2: unexpected <person>"),
        (
            "<users><user><user_id>A</user_id><user_id>B</user_id></user></users>",
            "<user_id> appears twice",
        ),
        ("<users><user><card><b>1</b></card></user></users>", "<card> must contain text only"),
    ],
)
def test_xml_refusals(users: UserStore, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "users.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    assert expected in str(info.value)
    assert users.count_users() == 0


def test_billion_laughs_is_refused_quickly(users: UserStore, tmp_path: Path) -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    path = tmp_path / "bomb.xml"
    path.write_text(
        f"<?xml version='1.0'?><!DOCTYPE users [{entities}]>"
        "<users><user><user_id>&a9;</user_id></user></users>",
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError, match="DTDs and entity declarations are not allowed"):
        import_users_file(users, path)


def test_pin_columns_keep_replace_or_clear(
    stores: Stores, hasher: PinHasher, tmp_path: Path
) -> None:
    stores.users.add_user(User("A1", pin="1111"))
    path = tmp_path / "users.csv"
    path.write_text("user_id,first_name\nA1,Ann\n", encoding="utf-8")
    import_users_file(stores.users, path)  # no PIN columns: the PIN is kept
    assert only_pin(stores, hasher.hash("1111"))
    path.write_text(f"user_id,pin,pin_hash\nA1,2222,{hasher.hash('1111')}\n", encoding="utf-8")
    import_users_file(stores.users, path)  # a typed PIN wins over the exported hash
    assert only_pin(stores, hasher.hash("2222"))
    path.write_text("user_id,pin,pin_hash\nA1,,\n", encoding="utf-8")
    import_users_file(stores.users, path)  # columns present and empty: no PIN
    assert not stores.engine_state.load_snapshot().pins


def test_replace_deletes_users_not_in_the_file(users: UserStore, tmp_path: Path) -> None:
    users.add_user(User("gone"))
    path = tmp_path / "users.xml"
    path.write_text("<users><user><user_id>A1</user_id></user></users>", encoding="utf-8")
    assert import_users_file(users, path, replace=True) == 1
    assert [u.user_id for u in users.list_users()] == ["A1"]


def test_export_replaces_the_file_atomically(stores: Stores, tmp_path: Path) -> None:
    populate(stores)
    path = tmp_path / "users.xml"
    path.write_text("old", encoding="utf-8")
    assert export_users_file(stores.users, path) == 3
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0"')
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".users")) == []


@pytest.mark.parametrize("suffix", [".csv", ".xml"])
def test_an_export_is_on_disk_and_private_when_the_command_returns(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    populate(stores)
    path = tmp_path / f"users{suffix}"
    spy = FsyncSpy(monkeypatch)
    export_users_file(stores.users, path)
    assert spy.made_durable(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # PIN hashes inside


def test_missing_file_is_an_import_error(users: UserStore, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file"):
        import_users_file(users, tmp_path / "absent.csv")


DOCS = Path(__file__).resolve().parents[2] / "docs" / "import-export.md"


def doc_examples(language: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    parts = text.split(f"```{language}\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


@pytest.mark.parametrize(("language", "count"), [("csv", 2), ("xml", 1)])
def test_the_documented_examples_import(
    hasher: PinHasher, tmp_path: Path, language: str, count: int
) -> None:
    examples = doc_examples(language)
    assert len(examples) == count
    for n, example in enumerate(examples):
        fresh = Stores.open(tmp_path / f"{language}{n}.db", hasher)
        try:
            fresh.organisation.add_department(2, "Ops")
            fresh.organisation.put_access_group(3, "Ops", 2, [0])
            path = tmp_path / f"example{n}.{language}"
            path.write_text(example, encoding="utf-8")
            assert import_users_file(fresh.users, path) >= 2
        finally:
            fresh.close()


def only_pin(stores: Stores, pin_hash: str) -> bool:
    """The engine's rules hold exactly one private PIN, the one with `pin_hash`."""
    pins = stores.engine_state.load_snapshot().pins
    return len(pins) == 1 and pin_hash in pins


def test_codes_typed_with_stray_spaces_are_trimmed_and_names_keep_theirs(
    users: UserStore, hasher: PinHasher, tmp_path: Path
) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "user_id,first_name,active,expiry,admin_level,cards,pin\n"
        "A1, Ann , no , 2027-01-31T00:00:00Z , useradmin , 04:a1 ; 0b ,  2468 \n",
        encoding="utf-8",
    )
    import_users_file(users, path)
    (exported,) = users.users_for_export()
    user = exported.user
    assert (user.first_name, user.active, user.expiry, user.admin_level, user.cards) == (
        " Ann ",
        False,
        "2027-01-31T00:00:00Z",
        "USERADMIN",
        ["04A1", "0B"],
    )
    assert exported.pin_hash == hasher.hash("2468")
    # A refused code is quoted as trimmed, on the line it is on.
    path.write_text("user_id,active,admin_level\nA2, maybe ,\nA3,, boss \n", encoding="utf-8")
    with pytest.raises(ImportFileError) as info:
        import_users_file(users, path)
    assert str(info.value) == (
        f"{path}:line 2: active: 'maybe' is not true or false\n"
        f"{path}:line 3: admin_level: 'boss' is not one of "
        "PERSONALUSER, USERADMIN, NETWORKADMIN, SUPERADMIN"
    )
