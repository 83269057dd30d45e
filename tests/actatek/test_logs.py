"""Section 2: getLogs / getFullLogs from real decisions and door events, every filter, the
`Z`/local rule, the limit, addLog, deleteLogs, resetLog, getLogPhoto and the roles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from gateway.model import Event
from gateway.store.errors import StoreError
from tests.actatek.conftest import PASSWORD, Api
from tests.actatek.terminal_sim import (
    ADA_BITS,
    SERIAL,
    UNKNOWN_BITS,
    journaled,
    journaled_access,
    logs,
    present,
    sim,
)

LONDON = ZoneInfo("Europe/London")  # [device] timezone of config/simulate.toml


def by_trigger(entries: list[dict[str, object]], trigger: str) -> list[dict[str, object]]:
    return [entry for entry in entries if entry["trigger"] == trigger]


async def test_grants_denials_and_door_events_in_both_forms(api: Api) -> None:
    granted = await present(api, ADA_BITS)
    denied = await present(api, UNKNOWN_BITS)
    await sim(api, "input", {"door": "back", "input": "contact", "active": True})
    await journaled(api, "forced_open")
    entries = await logs(api)
    grant = by_trigger(entries, "IN")[0]
    local = datetime.fromisoformat(granted.time.replace("Z", "+00:00")).astimezone(LONDON)
    assert grant == {
        "logID": granted.seq,
        "userID": "1001",
        "userName": "Ada Lovelace",
        "departmentName": "General",
        "timestamp": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "trigger": "IN",
        "terminalSN": SERIAL,
        "terminalName": "Simulated gateway",
        "accessMethod": "CARD",
        "remarks": "#CARD# granted",
        "door": "front",
    }
    deny = by_trigger(entries, "ACCESS DENIED")[0]
    assert (deny["logID"], deny["userID"], deny["userName"]) == (denied.seq, "", "")
    assert deny["remarks"] == "#CARD# unknown_credential"
    assert by_trigger(entries, "DOOR FORCED OPEN")[0]["door"] == "back"
    assert by_trigger(entries, "DOOR UNLOCKED")[0]["userID"] == "1001"
    stamps = [str(entry["timestamp"]) for entry in entries]
    assert stamps == sorted(stamps)  # time order (a decision is stamped when the card was read)
    status, short = await api.call("GET", f"getLogs/{api.sid()}")
    assert status == 200 and len(short) == len(entries)
    assert set(short[0]) == {"logID", "userID", "timestamp", "trigger", "terminalSN"}


async def open_door(api: Api, mode: str) -> None:
    """Ada's card named by an Akuvox device at door 1, entering or leaving (reference 003)."""
    query = {"action": "OpenDoor", "DoorNum": "1", "AntiPassbackMode": mode}
    query.update(UnlockType="RF Card", Code="0C8707")  # Ada's card as the device shows it
    auth = {"Authorization": aiohttp.encode_basic_auth("opendoor", "simulate")}  # simulate.toml
    async with api.http.get(f"{api.base}/fcgi/OpenDoor", params=query, headers=auth) as resp:
        assert resp.status == 200, await resp.text()


async def test_an_opendoor_exit_is_logged_out_and_an_entry_in(api: Api) -> None:
    await open_door(api, "Entry")
    await open_door(api, "Exit")
    passages = [e for e in await logs(api) if e["accessMethod"] == "CARD"]
    assert [(e["userID"], e["trigger"]) for e in passages] == [("1001", "IN"), ("1001", "OUT")]
    status, short = await api.call("GET", f"getLogs/{api.sid()}?trigger=OUT")
    assert status == 200 and [e["logID"] for e in short] == [passages[1]["logID"]]


async def test_a_reader_passage_carries_its_reader_direction(api: Api) -> None:
    entered = await present(api, ADA_BITS)  # front-wiegand: direction "in"
    await sim(api, "card", {"reader": "back-exit", "uid": "0C8707"})  # direction "out"
    left = await journaled_access(api, "back-exit")
    assert (entered.direction, left.direction) == ("in", "out")
    triggers = {e["logID"]: e["trigger"] for e in await logs(api)}
    assert (triggers[entered.seq], triggers[left.seq]) == ("IN", "OUT")


async def test_every_filter(api: Api) -> None:
    await present(api, ADA_BITS)
    await present(api, UNKNOWN_BITS)
    ada = await logs(api, "?employeeID=1001")
    assert ada and all(entry["userID"] == "1001" for entry in ada)
    assert await logs(api, "?employeeName=LOVE") == ada  # part of the name, any case
    assert await logs(api, "?employeeName=Grace") == []
    assert await logs(api, "?departmentID=0") == ada  # General
    assert await logs(api, "?departmentID=7") == []
    denied = await logs(api, "?trigger=access%20denied")
    assert [entry["trigger"] for entry in denied] == ["ACCESS DENIED"]
    assert [e["trigger"] for e in await logs(api, "?trigger=IN&employeeID=1001")] == ["IN"]
    assert len(await logs(api, f"?terminalSN={SERIAL}")) == len(await logs(api))
    assert await logs(api, "?terminalSN=00111D000000") == []
    for bad in ("departmentID=General", "from=yesterday", "colour=red", "to=2025-13-01T00:00:00"):
        status, body = await api.call("GET", f"getLogs/{api.sid()}?{bad}")
        assert status == 400 and body["status"] == "error", bad


async def test_z_means_utc_in_and_out_and_local_otherwise(api: Api) -> None:
    event = await present(api, ADA_BITS)
    when = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    second = when.replace(microsecond=0)
    utc_from = (second - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    utc_to = second.strftime("%Y-%m-%dT%H:%M:%SZ")  # inclusive to its second
    entry = by_trigger(await logs(api, f"?from={utc_from}&to={utc_to}"), "IN")[0]
    assert entry["timestamp"] == second.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = second.astimezone(LONDON)
    local_from = (local - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    local_to = local.strftime("%Y-%m-%dT%H:%M:%S")
    entry = by_trigger(await logs(api, f"?from={local_from}&to={local_to}"), "IN")[0]
    assert entry["timestamp"] == local.strftime("%Y-%m-%dT%H:%M:%S")  # no Z
    mixed = by_trigger(await logs(api, f"?from={utc_from}&to={local_to}"), "IN")[0]
    assert not str(mixed["timestamp"]).endswith("Z")  # both must be UTC for UTC output
    later = (second + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_trigger(await logs(api, f"?from={later}"), "IN") == []
    status, body = await api.call("GET", f"getLogs/{api.sid()}?from={later}&to={utc_from}")
    assert status == 400 and "after" in body["message"]


async def test_limit_caps_the_answer_oldest_first(api: Api) -> None:
    first = await present(api, ADA_BITS)
    await present(api, UNKNOWN_BITS)
    every = await logs(api)
    assert len(every) >= 3
    one = await logs(api, limit=1)
    assert one == every[:1] and one[0]["logID"] <= first.seq
    assert await logs(api, limit=2) == every[:2]
    status, body = await api.call("GET", f"getLogs/{api.sid()}/abc")
    assert status == 400 and body["status"] == "error"


async def test_add_log_lists_it_with_who_added_it(api: Api) -> None:
    sid = api.sid()
    status, body = await api.call("POST", f"addLog/{sid}/2025-07-20T10:20:30/1001/IN")
    assert (status, body) == (200, {"status": "success", "message": "log added"})
    added = await logs(api, "?from=2025-07-20T00:00:00&to=2025-07-21T00:00:00")
    assert len(added) == 1
    assert added[0]["timestamp"] == "2025-07-20T10:20:30"
    assert (added[0]["userID"], added[0]["trigger"]) == ("1001", "IN")
    assert added[0]["remarks"] == "added by superadmin"
    events = await api.gateway.recorder.read_events(0, 10_000)
    journaled = [e for e in events if e.reason == "log_added"]
    assert journaled[0].type == "api" and "by=superadmin" in journaled[0].trace
    in_utc = await logs(api, "?trigger=in&from=2025-07-20T09:20:30Z&to=2025-07-20T09:20:30Z")
    assert in_utc[0]["timestamp"] == "2025-07-20T09:20:30Z"  # London is UTC+1 in July


async def test_add_log_is_not_acknowledged_while_the_journal_cannot_be_written(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(events: list[Event]) -> list[int]:
        raise StoreError("no space left on /var/lib/door-gateway (0 KiB free): free space")

    await api.gateway.recorder.flush()
    monkeypatch.setattr(api.gateway.journal, "append_batch", full_disk)
    status, body = await api.call("POST", f"addLog/{api.sid()}/2025-07-20T10:20:30/1001/IN")
    assert (status, body["status"]) == (500, "error")  # never "log added"
    day = "?from=2025-07-20T00:00:00&to=2025-07-21T00:00:00"
    assert await logs(api, day) == []

    monkeypatch.undo()  # space again: the log waited in the queue and is written now
    for _ in range(100):
        if api.gateway.writer.fault is None:
            break
        await asyncio.sleep(0.05)
    assert len(await logs(api, day)) == 1


async def test_add_log_refuses_bad_input_and_stores_nothing(api: Api) -> None:
    sid = api.sid()
    before = await logs(api)
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for path in (
        f"addLog/{sid}/2025-07-20T10:20:30/nobody/IN",
        f"addLog/{sid}/2025-07-20T10:20:30/1001/SIDEWAYS",
        f"addLog/{sid}/2025-07-20T25:20:30/1001/IN",
        f"addLog/{sid}/20250720/1001/IN",
        f"addLog/{sid}/{future}/1001/OUT",
        f"addLog/{api.sid('NETWORKADMIN')}/2025-07-20T10:20:30/1001/IN",
    ):
        status, body = await api.call("POST", path)
        assert status == 400 and body["status"] == "error", path
    assert await logs(api) == before


async def test_delete_logs_and_reset_never_move_the_sequence_back(api: Api) -> None:
    old = await present(api, ADA_BITS)
    status, body = await api.call("DELETE", f"deleteLogs/{api.sid()}/1")
    assert status == 200 and body["message"] == "0 logs deleted"  # everything is recent
    status, body = await api.call("DELETE", f"deleteLogs/{api.sid()}/0")
    assert status == 200 and body["status"] == "success"
    assert await logs(api) == []
    newer = await present(api, ADA_BITS)
    assert newer.seq > old.seq
    assert await logs(api) != []
    status, body = await api.call("DELETE", f"resetLog/{api.sid('USERADMIN')}")
    assert status == 200 and body["status"] == "success"
    assert await logs(api) == []
    latest = await present(api, ADA_BITS)
    assert latest.seq > newer.seq
    assert api.gateway.journal.last_seq() >= latest.seq
    rows = await api.gateway.recorder.read_events(0, 10_000)
    reasons = [e.reason for e in rows if e.type == "api"]
    assert "logs_reset" in reasons  # journaled after the reset, with who and how many
    assert (await api.call("DELETE", f"deleteLogs/{api.sid()}/-1"))[0] == 400


async def native_events(api: Api) -> list[dict[str, Any]]:
    """The whole journal as `GET /api/v1/events` shows it (a technician's token)."""
    async with api.http.post(
        f"{api.base}/api/v1/login", json={"username": "superadmin", "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{api.base}/api/v1/events?after=0&limit=1000"
    async with api.http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        events: list[dict[str, Any]] = (await resp.json())["events"]
        return events


async def test_delete_logs_removes_the_access_log_and_keeps_the_audit_trail(api: Api) -> None:
    sid = api.sid()
    assert (await api.call("POST", f"user/{sid}", {"userID": "A77", "firstName": "Al"}))[0] == 200
    assert (await api.call("PUT", f"logUnauthorizedEvent/{sid}/true"))[0] == 200
    await present(api, ADA_BITS)
    await present(api, UNKNOWN_BITS)
    await sim(api, "input", {"door": "back", "input": "contact", "active": True})
    await journaled(api, "forced_open")
    listed = await logs(api)
    assert len(listed) >= 4  # a grant, its door events, a refusal, an alarm
    before = {e["seq"]: e for e in await native_events(api)}
    audit = {
        seq: e["reason"]
        for seq, e in before.items()
        if e["reason"] in ("login", "user_added", "log_unauthorized_set")
    }
    assert sorted(set(audit.values())) == ["log_unauthorized_set", "login", "user_added"]

    status, body = await api.call("DELETE", f"deleteLogs/{api.sid('USERADMIN')}/0")
    assert (status, body) == (200, {"status": "success", "message": f"{len(listed)} logs deleted"})
    assert await logs(api) == []
    after = {e["seq"]: e for e in await native_events(api)}
    assert {seq: after[seq]["reason"] for seq in audit if seq in after} == audit
    assert not {e["logID"] for e in listed} & set(after)  # no agent: the rows are gone
    (deletion,) = [e for e in after.values() if e["reason"] == "logs_deleted"]
    assert deletion["type"] == "api" and deletion["user_id"] == "useradmin"
    assert f"deleted={len(listed)}" in deletion["trace"]
    assert deletion["seq"] > max(before)  # the sequence never goes back
    assert await logs(api) == []  # the deletion itself is not an access log


async def test_roles_and_the_missing_camera(api: Api) -> None:
    for role in ("NETWORKADMIN", "PERSONALUSER"):
        status, body = await api.call("GET", f"getLogs/{api.sid(role)}")
        assert status == 400 and "may not" in body["message"]
        status, _ = await api.call("DELETE", f"resetLog/{api.sid(role)}")
        assert status == 400
    assert (await api.call("GET", f"getLogs/{api.sid('USERADMIN')}"))[0] == 200
    status, body = await api.call(
        "GET", f"getLogPhoto/{api.sid()}/2025-07-20T00:00:00?terminalSN={SERIAL}"
    )
    assert status == 400 and body["status"] == "error" and "camera" in body["message"]
    status, body = await api.call("GET", "getLogs/12345")
    assert status == 400 and body["status"] == "error"
