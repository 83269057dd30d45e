"""A small Server-Sent Events client for tests: opens `GET /api/v1/events/stream` on a
running gateway and reads it message by message, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

STREAM = "/api/v1/events/stream"


@dataclass
class Message:
    """One SSE message: its `id:`, `event:` (default "message") and JSON `data:`."""

    id: int | None
    event: str
    data: Any
    comments: list[str] = field(default_factory=list)


class SseReader:
    """Reads the messages of one open stream."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.heartbeats = 0
        self.retry_ms: int | None = None

    async def next(self, timeout: float = 5.0) -> Message:
        """The next message (comments are counted as heartbeats); EOFError at the end."""
        fields: dict[str, str] = {}
        comments: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    seq = fields.get("id")
                    return Message(
                        None if seq is None else int(seq),
                        fields.get("event", "message"),
                        json.loads(fields["data"]),
                        comments,
                    )
                continue
            if line.startswith(":"):
                comments.append(line[1:].strip())
                self.heartbeats += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry_ms = int(value)
            else:
                fields[name] = value

    async def until(self, wanted: int, timeout: float = 10.0) -> list[Message]:
        """Messages until one has the id `wanted` (or a control message ends the stream)."""
        found: list[Message] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - loop.time()))
            found.append(message)
            if (message.id is not None and message.id >= wanted) or message.event != "message":
                return found

    def close(self) -> None:
        """Hang up, as a browser tab closing would."""
        self.response.close()


async def open_stream(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str] | None = None,
    **query: str,
) -> SseReader:
    """Open the stream (raises for an answer other than 200)."""
    response = await http.get(base + STREAM, params=query, headers=headers or {})
    if response.status != 200:
        text = await response.text()
        response.close()
        raise AssertionError(f"stream answered {response.status}: {text}")
    return SseReader(response)
