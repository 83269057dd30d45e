"""Issue 10 item 3: opening a door in lockdown is its own privilege.

The attack on the old code: any door user whose ACTAtek adminLevel was not PERSONALUSER
opened a door in lockdown (card, PIN, or OpenDoor by Name alone), and a USERADMIN session
could create such users. Now only an explicit per-user flag (`lockdownOverride`, set by a
SUPERADMIN session) overrides a lockdown, OpenDoor by Name alone never does, an upgrade
gives the flag to nobody, and an import never grants it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.model import Credential, User
from gateway.store import db
from gateway.store.importexport import (
    ImportFileError,
    export_users_file,
    import_users_file,
)
from gateway.store.schema import MIGRATIONS
from gateway.store.stores import Stores
from tests.security.roles import Site, site_with_roles
from tests.web.conftest import GRACE_CARD, Client, basic

CARD = {"UnlockType": "RF Card"}
ONLY_SUPERADMIN = "lockdownOverride: only a SUPERADMIN session may"


@pytest.fixture
async def site(client: Client) -> Site:
    return await site_with_roles(client)


def lock(site: Site) -> str:
    return str(site.client.gateway.doors["front"].status()["lock"])


async def present_card(site: Site, card: str) -> None:
    """A card at the front door's Wiegand reader, through the real pipeline."""
    gateway = site.client.gateway
    gateway.pipeline.credential(Credential("card", card, "front-wiegand", gateway.clock.time()))
    await gateway.writer.flush()


async def lockdown(site: Site) -> None:
    site.client.gateway.door_commands.set_lockdown("front", True, "tester")


async def test_a_user_with_an_admin_level_made_by_a_useradmin_stays_out_in_lockdown(
    site: Site,
) -> None:
    admin = site.sid("USERADMIN")
    for number, level in enumerate(("USERADMIN", "NETWORKADMIN"), start=1):
        user = {"userID": f"200{number}", "adminLevel": level, "cardsn": f"0E000{number}"}
        status, body = await site.call("POST", f"user/{admin}", user)
        assert status == 200, body
    await lockdown(site)
    for card in ("0E0001", "0E0002"):
        await present_card(site, card)
        assert lock(site) == "locked", card
    refused = await site.events(type="access", reason="lockdown")
    assert [e["user_id"] for e in refused] == ["2001", "2002"]


async def test_a_superadmin_door_user_without_the_flag_stays_out_in_lockdown(
    site: Site,
) -> None:
    status, body = await site.call(
        "PUT", f"user/{site.sid('SUPERADMIN')}", {"userID": "1002", "adminLevel": "SUPERADMIN"}
    )
    assert status == 200, body
    await lockdown(site)
    await present_card(site, GRACE_CARD)
    assert lock(site) == "locked"


async def test_only_a_superadmin_session_grants_or_revokes_the_override(site: Site) -> None:
    admin, super_ = site.sid("USERADMIN"), site.sid("SUPERADMIN")
    grant = {"userID": "1002", "lockdownOverride": True}
    status, body = await site.call("PUT", f"user/{admin}", grant)
    assert status == 400 and body["message"].startswith(ONLY_SUPERADMIN), body
    new = {"userID": "2001", "cardsn": "0E0001", "lockdownOverride": True}
    status, body = await site.call("POST", f"user/{admin}", new)
    assert status == 400 and body["message"].startswith(ONLY_SUPERADMIN), body
    assert site.client.gateway.stores.users.get_user("2001") is None

    assert (await site.call("PUT", f"user/{super_}", grant))[0] == 200
    _, (grace,) = await site.call("GET", f"user/{admin}?userID=1002")
    assert grace["lockdownOverride"] is True
    _, (ada,) = await site.call("GET", f"user/{admin}?userID=1001")
    assert ada["lockdownOverride"] is False
    await lockdown(site)
    await present_card(site, GRACE_CARD)
    assert lock(site) == "unlocked"
    (unlocked,) = await site.events(type="door", reason="unlocked", user_id="1002")
    assert unlocked["trace"] == "granted:lockdown_override"

    revoke = {"userID": "1002", "lockdownOverride": False}
    status, body = await site.call("PUT", f"user/{admin}", revoke)
    assert status == 400 and body["message"].startswith(ONLY_SUPERADMIN), body
    assert (await site.call("PUT", f"user/{super_}", revoke))[0] == 200
    assert site.client.gateway.engine.snapshot.users["1002"].lockdown_override is False


async def test_a_useradmin_cannot_take_over_a_user_who_holds_the_override(site: Site) -> None:
    """Changing the card, PIN or TOTP of an override holder would be holding the override."""
    admin = site.sid("USERADMIN")
    grant = {"userID": "1002", "lockdownOverride": True}
    assert (await site.call("PUT", f"user/{site.sid('SUPERADMIN')}", grant))[0] == 200
    before = site.client.gateway.stores.users.find_user_records()
    for method, path, body in (
        ("PUT", f"user/{admin}", {"userID": "1002", "cardsn": "0E0009"}),
        ("PUT", f"user/{admin}", {"userID": "1002", "password": "86420"}),
        ("PUT", f"user/{admin}", {"userID": "1002", "lockdownOverride": True, "lastName": "X"}),
        ("DELETE", f"activateUser/{admin}/1002", None),
        ("DELETE", f"user/{admin}/1002", None),
        ("GET", f"UserAPITOTP/{admin}/1002/OTP_PASSCODE", None),
    ):
        status, answer = await site.call(method, path, body)
        assert status == 400 and "SUPERADMIN" in answer["message"], (path, body, answer)
    assert site.client.gateway.stores.users.find_user_records() == before
    # The SUPERADMIN may.
    status, answer = await site.call(
        "GET", f"UserAPITOTP/{site.sid('SUPERADMIN')}/1002/OTP_PASSCODE"
    )
    assert status == 200, answer


async def test_opendoor_by_name_alone_never_overrides_a_lockdown(site: Site) -> None:
    client = site.client
    body = {"userID": "1002", "adminLevel": "SUPERADMIN"}
    assert (await site.call("PUT", f"user/{site.sid('SUPERADMIN')}", body))[0] == 200
    await lockdown(site)
    status, answer, _ = await client.open_door(Name="Grace Hopper")
    assert (status, answer) == (403, {"result": "denied", "reason": "lockdown"})

    body = {"userID": "1002", "lockdownOverride": True}
    assert (await site.call("PUT", f"user/{site.sid('SUPERADMIN')}", body))[0] == 200
    for by_name in ({"Name": "Grace Hopper"}, {"Name": "1002"}):
        status, answer, _ = await client.open_door(**by_name)
        assert (status, answer) == (403, {"result": "denied", "reason": "lockdown"}), by_name
    assert lock(site) == "locked"
    status, answer, _ = await client.open_door(Code=GRACE_CARD, **CARD)
    assert (status, answer) == (200, {"result": "granted"})
    assert lock(site) == "unlocked"
    status, answer, _ = await client.open_door(auth=basic())  # a plain remote unlock
    assert status == 403


def _version_six_database(path: Path, hasher: PinHasher, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database as the last release left it (schema 6), with admin-level door users."""
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS[:6])
    monkeypatch.setattr(db, "LATEST_VERSION", 6)
    conn = db.open_database(path)
    with conn:
        admins = (("boss", "SUPERADMIN", "0E0001"), ("hr", "USERADMIN", "0E0002"))
        for user_id, level, card in admins:
            conn.execute("INSERT INTO users (user_id, admin_level) VALUES (?, ?)", (user_id, level))
            conn.execute("INSERT INTO user_groups VALUES (?, 0, 0)", (user_id,))
            conn.execute(
                "INSERT INTO credentials (kind, value, user_id) VALUES ('card', ?, ?)",
                (card, user_id),
            )
    conn.close()
    monkeypatch.undo()


def test_on_upgrade_no_existing_user_gets_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = PinHasher(b"k" * 32)
    path = tmp_path / "gateway.db"
    _version_six_database(path, hasher, monkeypatch)
    stores = Stores.open(path, hasher)
    try:
        snapshot = stores.engine_state.load_snapshot()
        assert {u: r.lockdown_override for u, r in snapshot.users.items()} == {
            "boss": False,
            "hr": False,
        }
        boss = stores.users.get_user("boss")
        assert boss is not None and boss.admin_level == "SUPERADMIN"
        assert boss.lockdown_override is False
    finally:
        stores.close()


def test_an_import_never_grants_or_revokes_the_override(tmp_path: Path) -> None:
    stores = Stores.open(tmp_path / "gateway.db", PinHasher(b"k" * 32))
    try:
        stores.users.add_user(User("boss", cards=["0E0001"], lockdown_override=True))
        stores.users.add_user(User("guard", cards=["0E0002"]))
        exported = tmp_path / "users.csv"
        export_users_file(stores.users, exported)
        assert "lockdown" not in exported.read_text(encoding="utf-8-sig")
        # A file that tries to grant it is refused as a whole.
        granting = tmp_path / "grant.csv"
        granting.write_text("user_id,lockdown_override\nguard,true\n", encoding="utf-8")
        with pytest.raises(ImportFileError, match="lockdown_override: unknown column"):
            import_users_file(stores.users, granting)
        # A re-import (or one that names the holder) keeps what a SUPERADMIN set;
        # a user new to the device starts without it.
        names = tmp_path / "names.csv"
        names.write_text(
            "user_id,first_name,cards\nboss,Boss,0E0001\nguard,G,0E0002\nnew,N,0E0003\n",
            encoding="utf-8",
        )
        assert import_users_file(stores.users, names) == 3
        flags = {u.user_id: u.lockdown_override for u in stores.users.list_users()}
        assert flags == {"boss": True, "guard": False, "new": False}
        assert stores.engine_state.load_snapshot().users["boss"].lockdown_override is True
    finally:
        stores.close()
