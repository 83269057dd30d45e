"""The fleet simulator: N gateways publishing through one real mosquitto, checked by one
subscriber (docs/fleet.md, "The fleet simulator").

    python -m benchmarks.fleet [--gateways 100] [--seconds 60] [--interval 2]
                               [--output benchmarks/fleet.json]

One process hosts the N gateways: each is a whole `Gateway` (simulated hardware, its own
state directory and SQLite journal, its own web server on loopback, its own MQTT session
with the real client library) on one event loop, which is how 100 of them fit on a
2-core machine that other work shares (100 daemons would take about 6 GB and a core each
to start). Every gateway is one door with one Wiegand reader (`benchmarks/minimal.toml`)
and a demo user whose card is played on the reader's lines every `interval` seconds,
the gateways' turns spread evenly over the interval (a steady rate of N / interval cards
a second in all).

One subscriber, on a thread and an event loop of its own, takes `door-gateway/+/events`
through a persistent session and checks that every event of every gateway arrived: each
(device, seq) from the gateway's first MQTT cursor to its journal's end. It reports
lost and duplicated events, the latency from the decision's journal time to the
subscriber (p50, p99, max, access decisions only), and the memory of the broker and of
the process hosting the gateways (per gateway: the growth from before the first started,
divided by N). Prints the figures as JSON and writes them to `--output` if given.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt

from benchmarks.mosquitto import Mosquitto, free_port
from gateway.app import Gateway
from gateway.config import load_settings
from gateway.hw.formats import encode_h10301
from gateway.settings import DemoUser, MqttSettings, SimulationSettings
from gateway.simulation import simulation_for

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "benchmarks" / "minimal.toml"
READER = "front-wiegand"
CARD_BITS = encode_h10301(12, 34567)  # the demo user's card, 0C8707
DEMO_USER = DemoUser(user_id="1001", first_name="Ada", cards=("0C8707",))
START_BATCH = 10  # gateways started together
SETTLE_TIMEOUT_S = 120.0


def rss_mib(pid: str = "self") -> float:
    """A process's resident memory (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max": round(ordered[-1], 1),
    }


class Subscriber:
    """Every event of every gateway, on a thread of its own (its loop is not the
    gateways': a busy fleet delays it only as much as it delays a real subscriber)."""

    def __init__(self, broker: Mosquitto) -> None:
        self._broker = broker
        self.received: dict[tuple[str, int], int] = {}  # (device, seq) -> times
        self.latency_ms: list[float] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="fleet-subscriber", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the subscriber did not connect: {self.error!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the caller
            self.error = exc
            self._ready.set()

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        client = aiomqtt.Client(
            "127.0.0.1", self._broker.port, identifier="fleet-checker", clean_session=False
        )
        async with client:
            await client.subscribe("door-gateway/+/events", qos=1)
            self._ready.set()
            reading = asyncio.create_task(self._read(client))
            await self._stop.wait()
            reading.cancel()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            now = time.time()
            body = json.loads(bytes(message.payload))
            key = (str(body["device"]), int(body["seq"]))
            self.received[key] = self.received.get(key, 0) + 1
            if body["type"] == "access" and self.received[key] == 1:
                decided = datetime.fromisoformat(body["time"]).timestamp()
                self.latency_ms.append((now - decided) * 1000)


@dataclasses.dataclass
class FleetGateway:
    """One simulated gateway and where its MQTT publishing started."""

    gateway: Gateway
    first_seq: int
    cards: int = 0

    @property
    def device_id(self) -> str:
        return self.gateway.settings.device.id


async def _start_gateway(index: int, workdir: Path, broker: Mosquitto) -> FleetGateway:
    settings = load_settings(CONFIG)
    device = dataclasses.replace(
        settings.device, id=f"fleet-{index:03d}", state_dir=str(workdir / f"gw{index:03d}")
    )
    settings = dataclasses.replace(
        settings,
        device=device,
        web=dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}"),
        simulation=SimulationSettings(demo_users=(DEMO_USER,)),
        mqtt=MqttSettings(url=broker.url, retry_initial_s=0.5, retry_max_s=5.0),
    )
    gateway = Gateway(settings)
    await gateway.start()
    assert gateway.mqtt is not None
    return FleetGateway(gateway, gateway.mqtt.publisher.cursor)


async def _present_cards(fleet: list[FleetGateway], seconds: float, interval: float) -> None:
    """Each gateway's card every `interval` s, the gateways' turns spread evenly."""
    sims = [
        simulation_for(g.gateway.hardware, g.gateway.chain, g.gateway.doors,
                       g.gateway.door_inputs, g.gateway.clock)
        for g in fleet
    ]  # fmt: skip
    loop = asyncio.get_running_loop()
    started = loop.time()
    step = interval / len(fleet)
    turn = 0
    tasks: set[asyncio.Task[None]] = set()
    while loop.time() - started < seconds:
        index = turn % len(fleet)
        sim = sims[index]
        assert sim is not None
        task = asyncio.create_task(sim.wiegand(READER, CARD_BITS, 2000, 50))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        fleet[index].cards += 1
        turn += 1
        await asyncio.sleep(max(0.0, started + turn * step - loop.time()))
    if tasks:
        await asyncio.gather(*tasks)


async def run_fleet(
    gateways: int, seconds: float, interval: float, workdir: Path
) -> dict[str, Any]:
    """Start a broker and `gateways` gateways, present cards for `seconds`, and check that
    every event arrived. The figures as a dict."""
    broker = Mosquitto(workdir / "broker")
    broker.start()
    subscriber = Subscriber(broker)
    try:
        subscriber.start()
        rss_before = rss_mib()
        async with AsyncExitStack() as stack:
            fleet: list[FleetGateway] = []
            start_began = time.monotonic()
            for first in range(0, gateways, START_BATCH):
                batch = range(first, min(gateways, first + START_BATCH))
                started = await asyncio.gather(*(_start_gateway(i, workdir, broker) for i in batch))
                for member in started:
                    stack.push_async_callback(member.gateway.stop)
                fleet.extend(started)
            start_s = time.monotonic() - start_began
            await _connected(fleet)
            rss_started = rss_mib()
            await _present_cards(fleet, seconds, interval)
            wanted = await _expected(fleet)
            settle_began = time.monotonic()
            while not wanted <= subscriber.received.keys():
                if time.monotonic() - settle_began > SETTLE_TIMEOUT_S:
                    break
                await asyncio.sleep(0.2)
            settle_s = time.monotonic() - settle_began
            rss_after = rss_mib()
            broker_rss = broker.rss_kib() / 1024
        received = subscriber.received
        missing = wanted - received.keys()
        return {
            "gateways": gateways,
            "seconds": seconds,
            "card_interval_s": interval,
            "cards": sum(member.cards for member in fleet),
            "events_expected": len(wanted),
            "events_received": len(wanted & received.keys()),
            "events_lost": len(missing),
            "duplicates": sum(count - 1 for count in received.values()),
            "decision_to_subscriber_ms": _summary(subscriber.latency_ms),
            "settle_after_last_card_s": round(settle_s, 2),
            "start_all_s": round(start_s, 1),
            "broker_rss_mib": round(broker_rss, 1),
            "process_rss_mib": round(rss_after, 1),
            "per_gateway_rss_mib": round((rss_started - rss_before) / gateways, 1),
        }
    finally:
        subscriber.stop()
        broker.stop()


async def _connected(fleet: list[FleetGateway], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(m.gateway.mqtt is not None and m.gateway.mqtt.connected for m in fleet):
        if time.monotonic() > deadline:
            raise RuntimeError("not every gateway connected to the broker")
        await asyncio.sleep(0.1)


async def _expected(fleet: list[FleetGateway]) -> set[tuple[str, int]]:
    """(device, seq) of every event each gateway journaled after its first cursor."""
    wanted: set[tuple[str, int]] = set()
    for member in fleet:
        await member.gateway.recorder.flush()
        last = member.gateway.journal.last_seq()
        wanted |= {(member.device_id, seq) for seq in range(member.first_seq + 1, last + 1)}
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--gateways", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between cards")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleet-") as workdir:
        figures = asyncio.run(run_fleet(args.gateways, args.seconds, args.interval, Path(workdir)))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0 if figures["events_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
