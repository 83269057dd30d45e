"""Reader diagnostics and "learn a card" over HTTP, on a simulated gateway: frames played
through /sim/wiegand are explained format by format, a card is learned from its printed
number and enrolled for a user, and is then granted at the door."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.hw.formats import encode_h10301, invert
from gateway.model import User
from tests.web.conftest import PASSWORD, Client

READER = "front-wiegand"  # H10301, door "front" (config/simulate.toml)
NEW_CARD = encode_h10301(12, 40000)  # printed on the card as 12/40000; nobody has it yet
NEW_CANONICAL = "0C9C40"


async def present(client: Client, bits: str, reader: str = READER) -> None:
    status, body, _ = await client.call(
        "POST", "/sim/wiegand", json={"reader": reader, "bits": bits}
    )
    assert status == 200, body


async def get_frames(client: Client, headers: dict[str, str], reader: str = READER) -> Any:
    status, body, _ = await client.call("GET", f"/api/v1/readers/{reader}/frames", headers=headers)
    assert status == 200, body
    return body


async def post(
    client: Client, headers: dict[str, str], path: str, body: dict[str, Any]
) -> tuple[int, Any]:
    status, answer, _ = await client.call("POST", path, headers=headers, json=body)
    return status, answer


def damaged(bits: str) -> str:
    """The frame with its last data bit flipped: the trailing parity no longer holds."""
    return bits[:-2] + ("0" if bits[-2] == "1" else "1") + bits[-1]


async def test_a_frame_with_bad_parity_is_explained(client: Client) -> None:
    admin = await client.token_headers()
    await present(client, damaged(NEW_CARD))
    body = await get_frames(client, admin)
    newest = body["frames"][0]
    assert (newest["result"], newest["parity"]) == ("parity", "bad")
    (verdict,) = newest["formats"]
    assert verdict["format"] == "H10301" and verdict["result"] == "parity"
    assert "bit 25 (odd over bits 13-24) is wrong" in verdict["why"]
    assert newest["min_interval_us"] <= newest["median_interval_us"] <= newest["max_interval_us"]
    assert body["frames_rejected"]["parity"] == 1


async def test_crossed_lines_give_the_swap_hint_and_newest_comes_first(client: Client) -> None:
    admin = await client.token_headers()
    await present(client, NEW_CARD)
    await present(client, invert(NEW_CARD))
    body = await get_frames(client, admin)
    crossed, good = body["frames"][:2]
    assert crossed["id"] == good["id"] + 1
    assert "DATA0/DATA1 look swapped" in crossed["swap_hint"]
    assert good["parity"] == "ok" and good["swap_hint"] is None
    assert body["warning"] is not None


async def test_a_role_without_logs_sees_the_shape_of_frames_not_their_bits(
    client: Client,
) -> None:
    client.gateway.stores.technicians.set_technician_password("net", PASSWORD, level="NETWORKADMIN")
    network = await client.token_headers("net", PASSWORD)
    await present(client, NEW_CARD)
    body = await get_frames(client, network)
    shown = json.dumps(body)
    assert NEW_CARD not in shown and NEW_CANONICAL not in shown and "40000" not in shown
    assert body["frames"][0]["result"] == "accepted"
    assert body["frames"][0]["parity"] == "ok"


async def test_unknown_readers_answer_404(client: Client) -> None:
    admin = await client.token_headers()
    path = "/api/v1/readers/nowhere"
    status, _, _ = await client.call("GET", f"{path}/frames", headers=admin)
    assert status == 404
    status, body = await post(client, admin, f"{path}/learn", {"frame": 1, "printed": "1"})
    assert status == 404 and "nowhere" in body["message"]
    status, body = await post(client, admin, f"{path}/enroll", {"frame": 1, "user_id": "1002"})
    assert status == 404


async def test_learn_and_enroll_a_card_then_it_opens_the_door(client: Client) -> None:
    admin = await client.token_headers()
    await present(client, NEW_CARD)
    frame = (await get_frames(client, admin))["frames"][0]
    learn = f"/api/v1/readers/{READER}/learn"
    status, body = await post(client, admin, learn, {"frame": frame["id"], "printed": "12/40000"})
    assert status == 200, body
    best = body["candidates"][0]
    assert (best["format"], best["mode"], best["canonical"]) == (
        "H10301",
        "facility/card",
        "0C9C40",
    )
    assert body["enroll_card"] == NEW_CANONICAL and body["enroll_refused"] is None

    enroll = f"/api/v1/readers/{READER}/enroll"
    status, body = await post(client, admin, enroll, {"frame": frame["id"], "user_id": "1002"})
    assert (status, body["card"], body["user_id"]) == (200, NEW_CANONICAL, "1002")

    await present(client, NEW_CARD)
    for _ in range(100):
        granted = await client.events(type="access", credential=NEW_CANONICAL, granted=True)
        if granted:
            break
        await asyncio.sleep(0.02)
    assert granted and granted[0]["user_id"] == "1002"
    assert await client.events(type="api", reason="card_enrolled")


async def test_a_garbage_printed_number_is_a_clear_error(client: Client) -> None:
    admin = await client.token_headers()
    await present(client, NEW_CARD)
    frame = (await get_frames(client, admin))["frames"][0]
    learn = f"/api/v1/readers/{READER}/learn"
    status, body = await post(client, admin, learn, {"frame": frame["id"], "printed": "hello!"})
    assert status == 400 and "type the number printed on the card" in body["message"]
    status, body = await post(client, admin, learn, {"frame": "1", "printed": "12/40000"})
    assert status == 400 and body["message"].startswith("frame:")
    status, body = await post(client, admin, learn, {"frame": 999, "printed": "12/40000"})
    assert status == 404 and "present the card again" in body["message"]


async def test_nothing_is_stored_for_a_refused_enrollment(client: Client) -> None:
    admin = await client.token_headers()
    users = client.gateway.stores.users
    before = [u.cards for u in users.list_users()]
    enroll = f"/api/v1/readers/{READER}/enroll"
    await present(client, damaged(NEW_CARD))
    bad = (await get_frames(client, admin))["frames"][0]["id"]
    status, body = await post(client, admin, enroll, {"frame": bad, "user_id": "1002"})
    assert status == 400 and "did not accept this frame" in body["message"]
    await present(client, NEW_CARD)
    good = (await get_frames(client, admin))["frames"][0]["id"]
    status, body = await post(client, admin, enroll, {"frame": good, "user_id": "nobody"})
    assert status == 404
    status, body = await post(client, admin, enroll, {"frame": good, "user_id": "1001", "x": 1})
    assert status == 400
    # Ada's card belongs to Ada: enrolling it for Grace names the owner to this admin.
    await present(client, encode_h10301(12, 34567))
    ada = (await get_frames(client, admin))["frames"][0]["id"]
    status, body = await post(client, admin, enroll, {"frame": ada, "user_id": "1002"})
    assert status == 409
    assert [u.cards for u in users.list_users()] == before


async def test_a_keypad_frame_cannot_be_learned(client: Client) -> None:
    admin = await client.token_headers()
    await present(client, "0001", reader="front-keypad")
    frame = (await get_frames(client, admin, "front-keypad"))["frames"][0]
    assert set(frame["bits"]) == {"*"}
    path = "/api/v1/readers/front-keypad/learn"
    status, body = await post(client, admin, path, {"frame": frame["id"], "printed": "1"})
    assert status == 400 and "PIN digits" in body["message"]


async def test_a_useradmin_cannot_give_a_superadmin_user_a_card(client: Client) -> None:
    """The ACTAtek API's rule: a card of a SUPERADMIN user (or one with the lockdown
    override) would carry their rights to whoever enrolled it."""
    client.gateway.stores.users.add_user(User("boss", admin_level="SUPERADMIN"))
    client.gateway.stores.technicians.set_technician_password(
        "useradmin", PASSWORD, level="USERADMIN"
    )
    useradmin = await client.token_headers("useradmin", PASSWORD)
    await present(client, NEW_CARD)
    frame = (await get_frames(client, useradmin))["frames"][0]["id"]
    enroll = f"/api/v1/readers/{READER}/enroll"
    status, body = await post(client, useradmin, enroll, {"frame": frame, "user_id": "boss"})
    assert status == 403 and "SUPERADMIN" in body["message"]
    (boss,) = [u for u in client.gateway.stores.users.list_users() if u.user_id == "boss"]
    assert boss.cards == []
    # A SUPERADMIN may.
    admin = await client.token_headers()
    status, body = await post(client, admin, enroll, {"frame": frame, "user_id": "boss"})
    assert status == 200, body


async def test_an_nfc_reader_lists_its_uids_but_is_not_learned_here(client: Client) -> None:
    admin = await client.token_headers()
    status, body, _ = await client.call(
        "POST", "/sim/card", json={"reader": "back-nfc", "uid": "04A1B2C3"}
    )
    assert status == 200, body
    for _ in range(100):  # the NFC reader delivers from its own thread
        found = await get_frames(client, admin, "back-nfc")
        if found["frames"]:
            break
        await asyncio.sleep(0.02)
    assert found["learnable"] is False and found["frames"][0]["uid"] == "04A1B2C3"
    path = "/api/v1/readers/back-nfc/learn"
    status, body = await post(client, admin, path, {"frame": 1, "printed": "04A1B2C3"})
    assert status == 400 and "Wiegand" in body["message"]
