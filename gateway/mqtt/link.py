"""One connection to the broker, over aiomqtt (the only module that imports it, and only
once a connection is made: a gateway without `[mqtt]` never loads it).

`connect(config)` is an async context manager that yields a `Link`: publish (waiting for
the broker's acknowledgement at QoS 1), subscribe, and the incoming messages. Each
connection is a fresh client with a clean session: what the gateway must not lose is kept
in its journal, not in the broker, and a command sent while the gateway was away is not
carried out when it comes back (docs/fleet.md). The last will marks the gateway
"offline" (retained) when the connection drops without a goodbye.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway.settings import MqttSettings

if TYPE_CHECKING:
    import aiomqtt

ACK_TIMEOUT_S = 10.0  # a broker that does not acknowledge in this time is taken as lost
MAX_INFLIGHT = 100  # QoS 1 messages on the wire before the broker's acknowledgements


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect. The password is a secret: never shown."""

    host: str
    port: int
    tls: bool
    client_id: str
    will_topic: str
    keepalive_s: int = 30
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @classmethod
    def from_settings(cls, settings: MqttSettings, client_id: str, will_topic: str) -> BrokerConfig:
        """From `[mqtt]`; `ValueError` for a client certificate without its key (or the
        other way round), or TLS files on a plain connection."""
        url = urlsplit(settings.url)
        tls = url.scheme == "mqtts"
        if bool(settings.cert_file) != bool(settings.key_file):
            raise ValueError("[mqtt] cert_file and key_file: give both or neither")
        if not tls and (settings.ca_file or settings.cert_file):
            raise ValueError("[mqtt] ca_file, cert_file and key_file need an mqtts:// url")
        return cls(
            host=url.hostname or "",
            port=url.port or (8883 if tls else 1883),
            tls=tls,
            client_id=client_id,
            will_topic=will_topic,
            keepalive_s=settings.keepalive_s,
            username=settings.username,
            password=settings.password,
            ca_file=settings.ca_file,
            cert_file=settings.cert_file,
            key_file=settings.key_file,
        )

    @property
    def public_url(self) -> str:
        """The broker as status pages show it (no credentials)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Incoming:
    """A message the broker delivered."""

    topic: str
    payload: bytes
    retain: bool


class Link:
    """One live connection."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; `MqttError` when
        the connection is lost or the broker does not answer in time."""
        await self._client.publish(topic, payload, qos=1, retain=retain, timeout=ACK_TIMEOUT_S)

    async def subscribe(self, topic_filter: str) -> None:
        """Subscribe at QoS 1."""
        await self._client.subscribe(topic_filter, qos=1, timeout=ACK_TIMEOUT_S)

    async def messages(self) -> AsyncIterator[Incoming]:
        """The messages of the subscriptions, until the connection is lost (`MqttError`)."""
        async for message in self._client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            yield Incoming(message.topic.value, data, bool(message.retain))


def _tls_context(config: BrokerConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file or None)
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context


@asynccontextmanager
async def connect(config: BrokerConfig) -> AsyncIterator[Link]:
    """A connection with the gateway's last will ("offline", retained)."""
    # Imported here: a gateway without [mqtt] never loads the client library.
    import aiomqtt

    client = aiomqtt.Client(
        config.host,
        config.port,
        username=config.username or None,
        password=config.password or None,
        identifier=config.client_id,
        will=aiomqtt.Will(config.will_topic, b"offline", qos=1, retain=True),
        clean_session=True,
        keepalive=config.keepalive_s,
        timeout=ACK_TIMEOUT_S,
        max_inflight_messages=MAX_INFLIGHT,
        tls_context=_tls_context(config) if config.tls else None,
    )
    async with client:
        yield Link(client)
