"""An audit trail nobody can flush: administrative noise (a PERSONALUSER changing their
own record in a loop) never pushes access events out of the journal; the noise is
summarised and what was dropped is itself an event."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.model import Event, StoredEvent
from gateway.store.journal import MAX_READ_LIMIT, EventJournal
from gateway.store.noise import PER_SOURCE, WINDOW_S
from tests.web.conftest import PASSWORD, Client, Start, stop

JOURNAL_ROWS = 10_000
FLOOD = 10_500
BURST = 5_000  # as fast as the server answers, within one minute
PACED = 100  # then a hundred a minute, for 55 minutes
PARALLEL = 8


def card_grant(n: int, when: float) -> Event:
    return Event(
        "access",
        when,
        door="front",
        reader="front-in",
        user_id="1001",
        credential_kind="card",
        credential=f"{n:06X}",
        granted=True,
        reason="granted",
        source="cache",
    )


async def personal_session(client: Client) -> str:
    client.gateway.stores.technicians.set_technician_password("pat", PASSWORD, level="PERSONALUSER")
    status, body, _ = await client.call(
        "POST", "/cgi-bin/restapi/login", json={"username": "pat", "password": PASSWORD}
    )
    assert status == 200, body
    return str(body["sessionid"])


async def put_myself(client: Client, sid: str, calls: range) -> None:
    for n in calls:
        body = {"userID": "pat", "firstName": f"Pat{n}"}
        status, answer, _ = await client.call("PUT", f"/cgi-bin/restapi/myself/{sid}", json=body)
        assert status == 200, answer


def journal_rows(path: Path) -> list[StoredEvent]:
    journal = EventJournal(path, ZoneInfo("UTC"), max_events=JOURNAL_ROWS)
    try:
        rows, after = [], 0
        while batch := journal.read(after, MAX_READ_LIMIT):
            rows += batch
            after = batch[-1].seq
        return rows
    finally:
        journal.close()


async def put_myself_in_parallel(client: Client, sid: str, calls: range) -> None:
    shares = [calls[i::PARALLEL] for i in range(PARALLEL)]
    await asyncio.gather(*(put_myself(client, sid, share) for share in shares))


async def test_a_personaluser_flooding_put_myself_pushes_out_no_access_event(
    start: Start,
) -> None:
    client = await start()
    gateway = client.gateway
    await gateway.recorder.flush()  # `started` is written before the evidence goes in
    gateway.journal.set_max_events(JOURNAL_ROWS)
    now = client.clock.time()
    evidence = gateway.journal.append_batch([card_grant(n, now) for n in range(JOURNAL_ROWS)])
    sid = await personal_session(client)

    await put_myself_in_parallel(client, sid, range(BURST))
    for first in range(BURST, FLOOD, PACED):
        client.clock.advance(WINDOW_S)
        await put_myself_in_parallel(client, sid, range(first, min(first + PACED, FLOOD)))
    await stop(client)  # a stop writes the summary of the unfinished minute

    rows = journal_rows(gateway.journal.path)
    access = [row.seq for row in rows if row.type == "access"]
    # Only later evidence (the stop) made room, oldest first: the noise pushed out nothing.
    later = [row for row in rows if row.type != "api" and row.seq > evidence[-1]]
    assert [row.reason for row in later] == ["stopping"]
    assert access == evidence[len(later) :]
    summaries = [row for row in rows if row.reason == "events_summarised"]
    assert summaries[-1].trace.startswith(f"{PACED - PER_SOURCE} more myself_updated by pat ")
    dropped = [row for row in rows if row.reason == "admin_events_dropped"]
    assert dropped and re.match(r"\d+ administrative events dropped", dropped[-1].trace)
    administrative = [row for row in rows if row.type == "api"]
    assert len(administrative) <= gateway.journal.max_admin_events
