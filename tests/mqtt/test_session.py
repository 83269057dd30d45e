"""The session's reconnection: a broker that refuses is tried again after 1 s doubling to
the ceiling, a connection that was up starts the doubling again, and each connection
announces the gateway, sends discovery, subscribes to commands and carries them out.
Time is an input: the back-off's waits are recorded, never slept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from gateway.mqtt.commands import CommandHandler
from gateway.mqtt.link import BrokerConfig, Incoming
from gateway.mqtt.publisher import EventPublisher
from gateway.mqtt.session import MqttSession, backoff_delay
from gateway.mqtt.states import StateSources
from gateway.mqtt.topics import Topics, default_prefix
from gateway.settings import MqttSettings
from tests.fakes import ManualClock
from tests.mqtt.test_commands import Doors, Journal
from tests.mqtt.test_publisher import CursorStore
from tests.mqtt.test_publisher import Journal as EventRows

TOPICS = Topics(default_prefix("gw"), "homeassistant", "gw")


def test_the_back_off_doubles_to_its_ceiling_and_is_shortened_at_random() -> None:
    assert [backoff_delay(n, 1.0, 60.0, lambda: 0.0) for n in range(1, 9)] == [
        1, 2, 4, 8, 16, 32, 60, 60,
    ]  # fmt: skip
    assert backoff_delay(1, 1.0, 60.0, lambda: 1.0) == 0.75


class Broker:
    """Refuses the first `refusals` connections; then each link takes a command, and
    drops when the test says so."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.published: list[tuple[str, bytes, bool]] = []
        self.subscribed: list[str] = []
        self.inbox: asyncio.Queue[Incoming | None] = asyncio.Queue()
        self.connections = 0

    @asynccontextmanager
    async def connect(self, config: BrokerConfig) -> AsyncIterator[Broker]:
        if self.refusals > 0:
            self.refusals -= 1
            raise OSError("connection refused")
        self.connections += 1
        yield self

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.published.append((topic, payload, retain))

    async def subscribe(self, topic_filter: str) -> None:
        self.subscribed.append(topic_filter)

    async def messages(self) -> AsyncIterator[Incoming]:
        while (message := await self.inbox.get()) is not None:
            yield message
        raise ConnectionError("dropped")


async def test_reconnection_back_off_and_what_each_connection_carries() -> None:
    broker, waits = Broker(refusals=3), []
    doors, journal = Doors(), Journal()
    executor = ThreadPoolExecutor(max_workers=1)
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    async def flush() -> None:
        return None

    settings = MqttSettings(url="mqtt://broker", retry_initial_s=1.0, retry_max_s=4.0)
    config = BrokerConfig.from_settings(settings, "door-gateway-gw", TOPICS.availability)
    publisher = EventPublisher(EventRows([]), CursorStore(0), TOPICS, "gw", 10, clock, executor)
    states = StateSources(lambda: {"front": {"lock": "locked"}}, lambda: {}, lambda: {})
    discovery = [("homeassistant/lock/gw/door_front/config", {"name": "Door front"})]
    session = MqttSession(
        settings, config, TOPICS, discovery, publisher,
        CommandHandler(["pulse"], doors, journal), states, clock,
        broker.connect, executor, flush, sleep=sleep, rng=lambda: 0.0,
    )  # fmt: skip
    await session.start()
    while not session.connected:
        await asyncio.sleep(0)
    assert waits == [1.0, 2.0, 4.0]  # three refusals: 1 s doubling, at most 4 s
    assert session.status()["failures"] == 0 and session.status()["last_error"]
    assert broker.published[0] == (TOPICS.availability, b"online", True)
    assert broker.published[1][0] == "homeassistant/lock/gw/door_front/config"
    assert broker.subscribed == [TOPICS.command_filter]

    await broker.inbox.put(Incoming(TOPICS.command("front", "pulse"), b"UNLOCK", False))
    while not doors.pulsed:
        await asyncio.sleep(0)
    assert journal.reasons() == ["mqtt_command"]
    state = [p for t, p, _ in broker.published if t == TOPICS.door_state("front")]
    assert json.loads(state[0])["state"] == "LOCKED"

    await broker.inbox.put(None)  # the connection drops: back after the first wait again
    while broker.connections < 2 or not session.connected:
        await asyncio.sleep(0)
    assert waits == [1.0, 2.0, 4.0, 1.0]

    await session.stop()
    assert broker.published[-1] == (TOPICS.availability, b"offline", True)
