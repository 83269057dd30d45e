"""The ACTAtek user record's floorNo and webRelayURLs: stored, read back with the URL's
secret masked, kept by an update that leaves them out or sends them back masked, and
refused with the common error (nothing stored) when bad."""

from __future__ import annotations

import json

from gateway.model import GrantActions
from tests.actatek.conftest import Api
from tests.actatek.test_users import refused_without_change, user_path

SECRET_URL = "https://relay:S3cret-pw@10.0.0.9/state.xml?relay1=1&who=$name"
MASKED_URL = "https://relay:****@10.0.0.9/state.xml?relay1=1&who=$name"
PLAIN_URL = "http://10.0.0.11/relay/0?turn=on"


async def test_floors_and_web_relay_urls_round_trip_masked(api: Api) -> None:
    body = {"userID": "L1", "floorNo": ["1", 3, "B2"], "webRelayURLs": [SECRET_URL, PLAIN_URL]}
    status, answer = await api.call("POST", user_path(api), body)
    assert (status, answer["status"]) == (200, "success"), answer
    status, users = await api.call("GET", f"{user_path(api)}?userID=L1")
    assert status == 200
    assert users[0]["floorNo"] == ["1", "3", "B2"]
    assert users[0]["webRelayURLs"] == [MASKED_URL, PLAIN_URL]
    assert "S3cret" not in json.dumps(users)
    stored = api.gateway.stores.users
    assert stored.grant_actions("L1") == GrantActions(("1", "3", "B2"), (SECRET_URL, PLAIN_URL))

    # An update that leaves them out keeps them; one that sends them back masked too.
    await api.call("PUT", user_path(api), {"userID": "L1", "firstName": "Lift"})
    assert stored.grant_actions("L1") == GrantActions(("1", "3", "B2"), (SECRET_URL, PLAIN_URL))
    users[0]["webRelayURLs"] = [PLAIN_URL, MASKED_URL]
    users[0]["floorNo"] = ["7"]
    for key in ("status",):  # the read-back shape minus the derived status flags
        users[0].pop(key)
    status, answer = await api.call("PUT", user_path(api), users[0])
    assert status == 200, answer
    assert stored.grant_actions("L1") == GrantActions(("7",), (PLAIN_URL, SECRET_URL))
    # [] removes them.
    await api.call("PUT", user_path(api), {"userID": "L1", "floorNo": [], "webRelayURLs": []})
    assert stored.grant_actions("L1") == GrantActions()


async def test_bad_floors_or_urls_are_the_common_error_and_store_nothing(api: Api) -> None:
    bad = [
        ({"userID": "L2", "webRelayURLs": ["ftp://u:Hunter2@h/x"]}, "webRelayURLs: URL 1"),
        ({"userID": "L2", "webRelayURLs": "http://h/x"}, "webRelayURLs: expected an array"),
        ({"userID": "L2", "webRelayURLs": [f"http://h/{n}" for n in range(11)]}, "webRelayURLs"),
        ({"userID": "L2", "floorNo": ["top floor"]}, "floorNo:"),
        ({"userID": "L2", "floorNo": [True]}, "floorNo:"),
        ({"userID": "L2", "floorNo": "1,2"}, "floorNo: expected an array"),
    ]
    for body, start in bad:
        message = await refused_without_change(api, "POST", user_path(api), body)
        assert message.startswith(start), (body, message)
        assert "Hunter2" not in message


async def test_a_personal_user_cannot_give_themself_floors(api: Api) -> None:
    body = {"userID": "personaluser", "floorNo": ["1"]}
    status, answer = await api.call("PUT", f"myself/{api.sid('PERSONALUSER')}", body)
    assert status == 400 and "floorNo" in answer["message"], answer
    assert api.gateway.stores.users.grant_actions("personaluser") == GrantActions()
