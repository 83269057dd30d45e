"""The fleet simulator's short form: 5 gateways for 20 s through one real mosquitto, and
every event of every gateway arrives, once (`make fleet` runs 100 for the README)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.fleet import run_fleet
from benchmarks.mosquitto import Mosquitto


async def test_five_gateways_report_every_event_through_one_broker(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    figures = await run_fleet(gateways=5, seconds=20, interval=2.0, workdir=tmp_path)
    assert figures["cards"] == 50
    # Each card is at least its access decision; the door's own events come on top.
    assert figures["events_expected"] >= figures["cards"]
    assert figures["events_lost"] == 0 and figures["duplicates"] == 0
    assert figures["events_received"] == figures["events_expected"]
    assert figures["decision_to_subscriber_ms"]["p99"] < 2000  # generous: a shared machine
    assert figures["broker_rss_mib"] > 0 and figures["per_gateway_rss_mib"] > 0
