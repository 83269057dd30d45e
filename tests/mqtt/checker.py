"""The subscriber side of the tests: every event of a gateway, by seq, through a persistent
session (what is published while the checker or the broker is away waits for it), and
the retained messages."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt

from benchmarks.mosquitto import Mosquitto


class EventChecker:
    """A persistent subscriber to `events` of every gateway."""

    def __init__(self, broker: Mosquitto, client_id: str = "checker", **auth: str) -> None:
        self.broker = broker
        self.client_id = client_id
        self.auth = auth
        self.seqs: Counter[tuple[str, int]] = Counter()  # (device, seq) -> times received
        self.payloads: dict[tuple[str, int], dict[str, Any]] = {}

    async def subscribe_once(self) -> None:
        """Make the persistent session (then leave it: the broker keeps what arrives)."""
        async with self._client() as client:
            await client.subscribe("door-gateway/+/events", qos=1)

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.broker.port,
            identifier=self.client_id,
            clean_session=False,
            username=self.auth.get("username"),
            password=self.auth.get("password"),
        )

    async def collect(self, wanted: set[tuple[str, int]], timeout: float) -> None:
        """Receive until every (device, seq) of `wanted` arrived or `timeout` passed."""
        async with self._client() as client:
            await client.subscribe("door-gateway/+/events", qos=1)
            try:
                async with asyncio.timeout(timeout):
                    if wanted <= set(self.seqs):
                        return
                    async for message in client.messages:
                        body = json.loads(bytes(message.payload))
                        key = (body["device"], body["seq"])
                        self.seqs[key] += 1
                        self.payloads[key] = body
                        if wanted <= set(self.seqs):
                            return
            except TimeoutError:
                return

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.seqs.values())


async def retained(
    broker: Mosquitto, topic_filter: str, tls: tuple[Path, Path, Path] | None = None
) -> dict[str, bytes]:
    """The retained messages under `topic_filter`, as a fresh subscriber gets them (with a
    client certificate: `tls` is CA, certificate, key)."""
    found: dict[str, bytes] = {}
    params = None
    if tls is not None:
        ca, cert, key = tls
        params = aiomqtt.TLSParameters(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
    async with aiomqtt.Client("127.0.0.1", broker.port, tls_params=params) as client:
        await client.subscribe(topic_filter, qos=1)
        try:
            async with asyncio.timeout(1.0):
                async for message in client.messages:
                    if message.retain:
                        found[message.topic.value] = bytes(message.payload)
        except TimeoutError:
            pass
    return found
