"""The MQTT side of a gateway: one connection at a time, reconnecting with back-off, and
on each connection the availability, the discovery messages, the journal, the retained
state and the command subscription.

Nothing here is on a door's path: the doors journal their events and decide without
waiting for anything MQTT does. A broker that is down, refuses the gateway or stops
acknowledging only delays publication (the journal keeps the events; the publisher's
cursor says where to resume) and shows in `status()` and the service log. The session
never ends on an error of its own: it logs it, waits (1 s doubling to `retry_max_s`, with
jitter, so a fleet that lost its broker together does not come back together) and
connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.mqtt.commands import CommandHandler
from gateway.mqtt.discovery import OFFLINE, ONLINE
from gateway.mqtt.link import BrokerConfig, Incoming
from gateway.mqtt.payloads import encode
from gateway.mqtt.publisher import EventPublisher
from gateway.mqtt.states import StateSources, state_messages
from gateway.mqtt.topics import Topics
from gateway.settings import MqttSettings

log = logging.getLogger(__name__)

RETRY_JITTER = 0.25
STOP_TIMEOUT_S = 1.0  # each step of a stop: the door locked already, the exit waits for it
DRAIN_POLL_S = 0.02


class BrokerLink(Protocol):
    """One live connection (`gateway.mqtt.link.Link`)."""

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...

    async def subscribe(self, topic_filter: str) -> None: ...

    def messages(self) -> AsyncIterator[Incoming]: ...


Connect = Callable[[BrokerConfig], AbstractAsyncContextManager[BrokerLink]]


def backoff_delay(
    failures: int, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """`initial` doubling per failure up to `maximum`, shortened by up to 25% at random."""
    base = min(maximum, initial * 2.0 ** min(max(failures, 1) - 1, 32))
    return base * (1.0 - RETRY_JITTER * rng())


class MqttSession:
    """Keeps the gateway connected to its broker and runs what each connection carries."""

    def __init__(
        self,
        settings: MqttSettings,
        broker: BrokerConfig,
        topics: Topics,
        discovery: list[tuple[str, dict[str, Any]]],
        publisher: EventPublisher,
        commands: CommandHandler,
        states: StateSources,
        clock: Clock,
        connect: Connect,
        executor: ThreadPoolExecutor,  # the publisher's store thread: shut down on stop
        flush: Callable[[], Awaitable[None]],  # every event emitted so far made durable
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # the back-off's wait
        rng: Callable[[], float] = random.random,  # the back-off's jitter
    ) -> None:
        self.settings = settings
        self._broker = broker
        self._topics = topics
        self._discovery = discovery
        self.publisher = publisher
        self.commands = commands
        self._states = states
        self._clock = clock
        self._connect = connect
        self._executor = executor
        self._flush = flush
        self._sleep, self._rng = sleep, rng
        self._task: asyncio.Task[None] | None = None
        self._link: BrokerLink | None = None
        self.connected = False
        self.connections = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_state_publish: float | None = None

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Read the cursor and start connecting (in the background: this never waits for
        the broker)."""
        await self.publisher.load()
        self._task = asyncio.create_task(self._run(), name="mqtt")

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """If connected: publish what the stop journaled so far (the doors locked,
        `stopping`) and say "offline", each step bounded; then close the connection and
        the thread. What is left is published at the next start."""
        link = self._link
        if link is not None and self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain(), timeout)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    link.publish(self._topics.availability, OFFLINE.encode(), retain=True),
                    timeout,
                )
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=timeout)
        shutdown = asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown, timeout)

    async def _drain(self) -> None:
        await self._flush()
        while self.connected and self.publisher.backlog > 0:
            await asyncio.sleep(DRAIN_POLL_S)

    def notify(self, seq: int) -> None:
        """A journal row is durable: wake the publisher (a journal writer listener)."""
        self.publisher.notify(seq)

    # -- the connection -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                async with self._connect(self._broker) as link:
                    await self._serve(link)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever happens, the daemon goes on
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("mqtt: %s: %s", self._broker.public_url, self.last_error)
            finally:
                self.connected, self._link = False, None
            delay = backoff_delay(
                self.failures, self.settings.retry_initial_s, self.settings.retry_max_s, self._rng
            )
            await self._sleep(delay)

    async def _serve(self, link: BrokerLink) -> None:
        self._link = link
        await link.publish(self._topics.availability, ONLINE.encode(), retain=True)
        for topic, config in self._discovery:
            await link.publish(topic, encode(config), retain=True)
        await link.subscribe(self._topics.command_filter)
        # Connected: announced, discovered, and listening for commands.
        self.connected = True
        self.connections += 1
        self.failures = 0
        log.info("mqtt: connected to %s", self._broker.public_url)
        await _first_failure(
            self.publisher.run(link.publish),
            self._publish_states(link),
            self._take_commands(link),
        )

    async def _publish_states(self, link: BrokerLink) -> None:
        sent: dict[str, bytes] = {}  # this connection's: a new one sends everything again
        while True:
            for topic, payload in state_messages(self._states, self._topics):
                if sent.get(topic) != payload:
                    await link.publish(topic, payload, retain=True)
                    sent[topic] = payload
                    self.last_state_publish = self._clock.time()
            await asyncio.sleep(self.settings.state_interval_s)

    async def _take_commands(self, link: BrokerLink) -> None:
        async for message in link.messages():
            parsed = self._topics.parse_command(message.topic)
            if parsed is not None:
                door, command = parsed
                self.commands.handle(door, command, message.payload, message.retain)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Connected or not, the broker, the last publish, the backlog, the commands."""
        return {
            "configured": True,
            "broker": self._broker.public_url,
            "connected": self.connected,
            "connections": self.connections,
            "failures": self.failures,
            "last_error": self.last_error,
            "topic_prefix": self._topics.prefix,
            **self.publisher.status(),
            "last_state_publish": self.last_state_publish,
            "commands": self.commands.status(),
        }


async def _first_failure(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run the jobs together until one ends; cancel the others and raise its error."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()  # raises the job's error
    raise ConnectionError("the broker ended the message stream")
