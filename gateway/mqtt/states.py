"""The retained state messages: each door, each reader's health, the upstream server.

The sources are the components' own `status()` (the same as the status API's); the
session publishes a message only when its bytes changed since the last one it sent on the
same connection, so a quiet gateway sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.mqtt.payloads import door_state, encode, reader_health, upstream_state
from gateway.mqtt.topics import Topics

StatusMap = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class StateSources:
    """Where the state comes from: doors and readers by name, and the upstream server."""

    doors: Callable[[], StatusMap]
    readers: Callable[[], StatusMap]
    upstream: Callable[[], Mapping[str, Any]]


def state_messages(sources: StateSources, topics: Topics) -> list[tuple[str, bytes]]:
    """(topic, payload) of every retained state message, as things are now."""
    messages = [
        (topics.door_state(name), encode(door_state(status)))
        for name, status in sources.doors().items()
    ]
    messages += [
        (topics.reader_health(name), encode(reader_health(status)))
        for name, status in sources.readers().items()
    ]
    messages.append((topics.upstream, encode(upstream_state(sources.upstream()))))
    return messages
