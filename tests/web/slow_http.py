"""A raw HTTP/1.1 client on an asyncio socket that sends a request body in pieces, with a
pause between them, as a slow or distant client does: the server sees the body arrive in
several TCP segments instead of one buffer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

PAUSE_S = 0.02  # long enough for the server to see each piece as its own read
ANSWER_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RawAnswer:
    """The status line's code, the headers (lower-case names) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def pieces_of(body: bytes, size: int) -> list[bytes]:
    """`body` cut into pieces of `size` bytes (the last one shorter)."""
    return [body[start : start + size] for start in range(0, len(body), size)]


def chunked(pieces: list[bytes], last: bool = True) -> list[bytes]:
    """Each piece as one chunk of `Transfer-Encoding: chunked`; `last` adds the final 0-chunk
    (without it the body never ends)."""
    encoded = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces]
    return [*encoded, b"0\r\n\r\n"] if last else encoded


async def send_slowly(
    port: int,
    path: str,
    pieces: list[bytes],
    *,
    content_length: int | None = None,
    headers: dict[str, str] | None = None,
    pause_s: float = PAUSE_S,
) -> RawAnswer:
    """POST `pieces` one by one with `pause_s` between them and return the answer.

    With `content_length` the body is announced with that length, otherwise it is sent
    chunked (the pieces must then come from `chunked`). The answer is read as soon as it
    comes, even before every piece is sent (a server may refuse a body early)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
        if content_length is None:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {content_length}")
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        answer = asyncio.ensure_future(_read_answer(reader))
        for piece in pieces:
            if answer.done():
                break
            await asyncio.sleep(pause_s)
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break  # the server answered and hung up: its answer is what counts
        return await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
    finally:
        writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawAnswer(int(status_line.split()[1]), headers, body)
