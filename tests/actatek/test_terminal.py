"""Section 11: opendoor, relay actions moving the simulated outputs, terminalstatus,
consent, what this terminal does not have, and the roles."""

from __future__ import annotations

from typing import Any

from tests.actatek.conftest import Api
from tests.actatek.terminal_sim import SERIAL, logs, outputs


def relay(api: Api, door: str) -> str:
    return str(api.gateway.doors[door].status()["lock"])


def second(api: Api, door: str = "front") -> Any:
    return api.gateway.doors[door].status()["second_relay"]["state"]


async def test_open_door_pulses_the_first_door_and_logs_a_remote_open(api: Api) -> None:
    assert (await outputs(api))["doors"]["front"]["relay"] == "locked"
    status, body = await api.call("POST", f"opendoor/{api.sid('NETWORKADMIN')}")
    assert (status, body) == (200, {"status": "success", "message": "Main door opened"})
    assert (await outputs(api))["doors"]["front"]["relay"] == "unlocked"
    remote = [e for e in await logs(api) if e["trigger"] == "REMOTE DOOR OPEN"]
    assert remote[0]["userID"] == "networkadmin" and remote[0]["terminalSN"] == SERIAL
    rows = await api.gateway.recorder.read_events(0, 1000)
    pulses = [e for e in rows if e.reason == "remote_pulse"]
    assert (pulses[0].user_id, pulses[0].trace) == ("networkadmin", "door=front")
    status, body = await api.call("POST", f"opendoor/{api.sid()}?door=back")
    assert (status, body["message"]) == (200, "door back opened")
    assert (await outputs(api))["doors"]["back"]["relay"] == "unlocked"
    status, body = await api.call("POST", f"opendoor/{api.sid()}?door=garage")
    assert status == 400 and "garage" in body["message"]


async def test_open_door_is_refused_in_lockdown(api: Api) -> None:
    api.gateway.door_commands.set_lockdown("front", True, "test")
    for path in ("opendoor", "relay"):
        suffix = "/open/ONE" if path == "relay" else ""
        status, body = await api.call("POST", f"{path}/{api.sid()}{suffix}")
        assert status == 400 and "lockdown" in body["message"]
    assert relay(api, "front") == "locked"
    status, body = await api.call("GET", f"terminalstatus/{api.sid()}")
    assert body["currentStatus"] == "Lockdown"


async def test_relay_actions_move_the_outputs(api: Api) -> None:
    sid = api.sid()
    assert await api.call("POST", f"relay/{sid}/open/ALL") == (
        200,
        {"status": "success", "message": "Relay ALL opened"},
    )
    assert (await outputs(api))["doors"]["front"]["relay"] == "unlocked"
    assert second(api) == "on"
    assert (await api.call("POST", f"relay/{sid}/close/ONE"))[1]["message"] == "Relay ONE closed"
    assert (await outputs(api))["doors"]["front"]["relay"] == "locked"
    assert (await api.call("POST", f"relay/{sid}/close/TWO"))[0] == 200
    assert second(api) == "off"
    assert (await api.call("POST", f"relay/{sid}/open/TWO"))[0] == 200
    assert second(api) == "on" and relay(api, "front") == "locked"
    assert (await api.call("POST", f"relay/{sid}/open/ONE?door=back"))[0] == 200
    assert (await outputs(api))["doors"]["back"]["relay"] == "unlocked"
    rows = await api.gateway.recorder.read_events(0, 1000)
    details = [e.trace for e in rows if e.reason == "relay_action"]
    assert "door=front relay=ALL action=open" in details
    for bad in ("open/THREE", "toggle/ONE", "open/TWO?door=back", "open/ONE?door=x", "open/one"):
        status, body = await api.call("POST", f"relay/{sid}/{bad}")
        assert status == 400 and body["status"] == "error", bad


async def test_terminal_status_and_what_this_terminal_lacks(api: Api) -> None:
    status, body = await api.call("GET", f"terminalstatus/{api.sid('NETWORKADMIN')}")
    assert status == 200
    assert body == {
        "serialNumber": SERIAL,
        "FAMVersion": "NO FAM",
        "description": "Simulated gateway",
        "registeredUsers": 3,
        "maximumUsers": 20000,
        "automatchUsers": 0,
        "maximumAutomatchUsers": 0,
        "currentStatus": "Online",
        "firmwareVersion": body["firmwareVersion"],
    }
    assert body["firmwareVersion"].startswith("door-gateway ")
    sid = api.sid()
    for method, path in (
        ("GET", f"getCaptureFingerprint/{sid}/"),
        ("GET", f"rtpsetting/{sid}/ONE"),
        ("GET", f"rtpsetting/{sid}"),
        ("PUT", f"rtpsetting/{sid}/"),
    ):
        status, body = await api.call(method, path)
        assert status == 400 and "not supported" in body["message"], path


async def test_consent_is_stored_and_answered(api: Api) -> None:
    sid = api.sid()
    _, body = await api.call("GET", f"consent/{sid}")
    assert body == {"status": "success", "enable": False, "display_name": "Simulated gateway"}
    assert await api.call("PUT", f"consent/{sid}/enable/JakinID") == (
        200,
        {"status": "success", "message": "Consent is enable"},
    )
    assert (await api.call("GET", f"consent/{sid}"))[1] == {
        "status": "success",
        "enable": True,
        "display_name": "JakinID",
    }
    assert (await api.call("PUT", f"consent/{sid}/disable/Front%20desk"))[0] == 200
    assert (await api.call("GET", f"consent/{sid}"))[1]["display_name"] == "Front desk"
    assert (await api.call("PUT", f"consent/{sid}/maybe/JakinID"))[0] == 400
    assert (await api.call("GET", f"consent/{sid}"))[1]["enable"] is False


async def test_roles(api: Api) -> None:
    for role in ("USERADMIN", "PERSONALUSER"):
        for method, path in (
            ("POST", f"opendoor/{api.sid(role)}"),
            ("POST", f"relay/{api.sid(role)}/open/ONE"),
            ("GET", f"terminalstatus/{api.sid(role)}"),
            ("PUT", f"logUnauthorizedEvent/{api.sid(role)}/false"),
        ):
            status, body = await api.call(method, path)
            assert status == 400 and "may not" in body["message"], (role, path)
    assert relay(api, "front") == "locked"
