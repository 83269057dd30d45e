"""The compact rules cache reads back exactly what was put in: card numbers and PIN hashes
keyed by ints, names packed with the policy index, users sharing one policy object."""

from __future__ import annotations

import pytest

from gateway.access.snapshot import (
    MAX_PACKED_INDEX,
    CredentialRef,
    RulesSnapshot,
    UserRule,
    UserTable,
    credential_key,
    credential_value,
)
from gateway.model import CredentialKind

from .rules import HASHER


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("card", "00CAFE"),  # leading zeros kept
        ("card", "CAFE"),
        ("card", "12345678901234567890"),
        ("card", "ab"),  # not canonical: its own text, never the same as "AB"
        ("card", "AB"),
        ("card", "1_0"),  # int() would read it; it stays text
        ("card", " AB"),
        ("pin", HASHER.hash("1234").upper()),  # not a hash as the hasher writes it
        ("pin", "short"),
        ("qr", "CAFE"),
    ],
)
def test_a_credential_key_reads_back_to_its_exact_text(kind: CredentialKind, value: str) -> None:
    assert credential_value(kind, credential_key(kind, value)) == value


def test_a_pin_hash_is_keyed_by_its_first_88_bits() -> None:
    pin = HASHER.hash("1234")
    assert credential_key("pin", pin) == int(pin[:22], 16)
    assert credential_value("pin", credential_key("pin", pin)) == pin[:22]
    assert credential_key("pin", pin[:22] + "z" * 42) == pin[:22] + "z" * 42  # not hex


def test_texts_that_differ_have_different_keys() -> None:
    keys = {credential_key("card", v) for v in ("0A", "A", "00A", "a", "0a")}
    assert len(keys) == 5


def test_card_and_pin_lookups_through_the_snapshot() -> None:
    pin = HASHER.hash("2468")
    snap = RulesSnapshot(
        users={"u1": UserRule("u1")},
        cards={"00CAFE": CredentialRef("u1"), "BEEF": CredentialRef("u1", enabled=False)},
        pins={pin: CredentialRef("u1")},
    )
    assert snap.owner("card", "00CAFE") == CredentialRef("u1")
    assert snap.owner("card", "CAFE") is None
    assert snap.owner("card", "BEEF") == CredentialRef("u1", enabled=False)
    assert snap.owner("pin", pin) == CredentialRef("u1")
    assert set(snap.cards) == {"00CAFE", "BEEF"} and pin in snap.pins and len(snap.pins) == 1


@pytest.mark.parametrize("index", [0, 255, 256, 70_000, MAX_PACKED_INDEX, MAX_PACKED_INDEX + 1])
def test_a_name_packed_with_any_policy_index_reads_back(index: int) -> None:
    table = UserTable()
    table.entries["u1"] = table.pack("u1", "Zoë Ångström", index)
    assert table.unpack("u1", table.entries["u1"]) == ("Zoë Ångström", index)
    table.entries["u1"] = table.pack("u1", "", index)  # renamed to nothing
    assert table.unpack("u1", table.entries["u1"]) == ("", index)
    assert not table.overflow_names


def test_users_with_the_same_rules_share_one_policy() -> None:
    snap = RulesSnapshot(
        users={
            "a": UserRule("a", name="Ada", groups=(1, 2)),
            "b": UserRule("b", name="Bob", groups=(1, 2)),
            "c": UserRule("c", groups=(3,)),
        }
    )
    assert snap.users["a"] == UserRule("a", name="Ada", groups=(1, 2))
    assert snap.users["c"] == UserRule("c", groups=(3,))
    assert snap.user_name("b") == "Bob" and snap.user_name("c") == ""
    assert len(snap._users.policies) == 2
    assert [u.user_id for u in snap.users_called("  bob ")] == ["b"]
    assert [u.user_id for u in snap.users_called("c")] == ["c"]
