"""Helpers for the chaos and noise parts of the soak: how long a part runs, the daemon's
configuration and memory, the journal read over HTTP, and a pseudo-terminal to play a
serial device.

A part runs its short form (a few seconds, inside `make test`) unless SOAK_MINUTES is set;
then each part gets its share of it (SHARES in tests/soak/conftest.py).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pty
import random
import re
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from operator import xor
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.cardnumbers import reader_canonical
from gateway.hw.formats import FORMATS
from gateway.hw.serial_rfid import MAX_LINE_BYTES, card_number_bytes
from tests.daemon.conftest import SIMULATE
from tests.soak.conftest import soak_minutes, soak_seconds

UPSTREAM_LINE = (
    'url = ""                     # no upstream server: decisions come from the local cache'
)


def part_seconds(part: str, short_s: float, share: float = 1.0) -> float:
    """How long `part` ("chaos" or "noise") runs: `short_s` in the short form; with
    SOAK_MINUTES set, `share` of the part's own share of the soak (conftest's SHARES)."""
    if soak_minutes() is None:
        return short_s
    return soak_seconds(part, short_s) * share


def part_timeout(part: str, short_s: float) -> pytest.MarkDecorator:
    """A pytest-timeout mark for a part: its run time plus two minutes to start and check."""
    return pytest.mark.timeout(part_seconds(part, short_s) + 120)


def write_config(
    tmp_path: Path, upstream: str = "", readers: str = "", lockout_failures: int = 5
) -> Path:
    """The simulation file with `upstream` lines in [upstream] and `readers` appended."""
    text = SIMULATE.read_text()
    assert UPSTREAM_LINE in text
    if upstream:
        text = text.replace(UPSTREAM_LINE, upstream)
    text = text.replace("max_failures = 5", f"max_failures = {lockout_failures}")
    path = tmp_path / "soak.toml"
    path.write_text(text + readers)
    return path


@dataclass
class Journal:
    """Reads the daemon's journal over the API, page by page, from where it stopped."""

    session: aiohttp.ClientSession
    base: str
    headers: dict[str, str]
    after: int = 0

    async def read_new(self) -> list[dict[str, Any]]:
        """Every event journaled since the last call, oldest first."""
        events: list[dict[str, Any]] = []
        while True:
            url = f"{self.base}/api/v1/events?after={self.after}&limit=1000"
            async with self.session.get(url, headers=self.headers) as resp:
                assert resp.status == 200, await resp.text()
                page = (await resp.json())["events"]
            if not page:
                return events
            events += page
            self.after = page[-1]["seq"]


async def login(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    """A bearer token for the simulation's technician."""
    async with session.post(
        f"{base}/api/v1/login", json={"username": "admin", "password": "simulate"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        token = (await resp.json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def sim_post(session: aiohttp.ClientSession, base: str, path: str, body: object) -> None:
    """POST to the simulation API; it must accept the input."""
    async with session.post(f"{base}/sim/{path}", json=body) as resp:
        assert resp.status == 200, f"/sim/{path} {body}: {resp.status} {await resp.text()}"


@dataclass
class SerialDevice:
    """The device side of a pseudo-terminal: the daemon opens `path` as its serial port."""

    master: int
    path: str

    def write(self, data: bytes) -> None:
        """Send bytes as the device would (all of them)."""
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]


@contextmanager
def serial_device() -> Iterator[SerialDevice]:
    """A raw pseudo-terminal pair; the slave's path is what a reader's `port` names."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no line discipline: bytes arrive as sent, CR and NUL included
    try:
        yield SerialDevice(master, os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)


# ----------------------------------------------------------------------------- upstream chaos

BEHAVIOURS = (
    "grant", "deny", "stall", "reset", "refuse", "garbage", "not_http", "bad_http", "http_500",
    "redirect", "slow_before", "slow_after", "trickle_before", "trickle_after",
    "duplicate_keys",
)  # fmt: skip
TRICKLE_CHUNKS = 8  # a trickled answer comes in this many pieces
SLOW_MARGIN_S = 0.15  # "just before" / "just after" the client's deadline
GRANT_BODY = b'{"isvalid": true, "message": "welcome"}'
GARBAGE_BODIES = (
    b'{"isvalid": tr',
    b'{"isvalid": "1"}',
    b'{"isvalid": 1.0}',
    b'{"validation_result": 1}',
    b'{"isvalid": true, "validation_result": "0"}',
    b"[true]",
    b"true",
    b"<html><body>isvalid: true</body></html>",
    b'{"isvalid": NaN}',
    b'{"ISVALID": true}',
    b'{"isvalid": true}\x00',
    b"\xff\xfe{\x00}\x00",
    b"",
)
# A grant inside a response whose HTTP framing is broken: it must not count.
BAD_HTTP_GRANTS = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nContent-Length: 40\r\n\r\n"
    b'{"isvalid": true}{"isvalid": false, "pad": 1}',
    b'HTTP/1.1 200 OK\r\nContent-Length: 17\r\nTransfer-Encoding: chunked\r\n\r\n{"isvalid": true}',
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nBroken header\r\n\r\n{"isvalid": true}',
    b'HTTP/1.1 999 OK\r\nContent-Length: 17\r\n\r\n{"isvalid": true}',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n{"isvalid": true}\r\nZZ\r\n',
)
DUPLICATE_BODIES = (
    b'{"isvalid": false, "isvalid": true}',
    b'{"isvalid": true, "isvalid": false}',
    b'{"validation_result": "0", "validation_result": "1"}',
    b'{"isvalid": true, "x": {"a": 1, "a": 2}}',
    b'{"isvalid": false, "is\\u0076alid": true}',  # the same key, escaped
    b'\xef\xbb\xbf{"isvalid": false, "isvalid": 1}',
)


@dataclass
class ChaosRequest:
    """One verify request as the chaos server saw and answered it (monotonic times)."""

    card: str
    behaviour: str
    received: float
    answered: float | None = None  # when a correct grant body was handed to the socket


class ChaosUpstream:
    """An Akuvox verify server on loopback that answers each request in a way picked at
    random: a correct grant or denial, a stall, a reset, garbage, a 500, a grant just
    before or just after the client's deadline, duplicate JSON keys.

    `requests` records every card asked about, what was done, and when a correct grant
    was sent, so a test can tell a grant the gateway was entitled to from one it was not.
    """

    def __init__(self, rng: random.Random, deadline_s: float) -> None:
        self._rng = rng
        self._deadline_s = deadline_s
        self.requests: dict[str, ChaosRequest] = {}
        # In turn rather than at random, so that a short run sees each one.
        self._bad_http = itertools.cycle(BAD_HTTP_GRANTS)
        self._duplicates = itertools.cycle(DUPLICATE_BODIES)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/verify", self._verify)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/verify?card={{Card}}&device={{DeviceID}}"

    def entitled_grant(self, card: str) -> bool:
        """True when the server sent a correct grant for `card` within the deadline (as the
        server measures it: the client cannot have seen it any earlier)."""
        request = self.requests.get(card)
        if request is None or request.answered is None:
            return False
        return request.answered - request.received < self._deadline_s

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        card = request.query.get("card", "")
        behaviour = self._rng.choice(BEHAVIOURS)
        seen = ChaosRequest(card, behaviour, time.monotonic())
        self.requests[card] = seen
        if behaviour == "grant":
            return self._granted(seen)
        if behaviour == "deny":
            return _json(b'{"isvalid": false}')
        if behaviour == "stall":
            await asyncio.sleep(self._deadline_s * 3)
            return self._granted(seen)
        if behaviour in ("reset", "refuse"):
            return await _drop(request, mid_body=behaviour == "reset")
        if behaviour == "garbage":
            return _json(self._rng.choice((*GARBAGE_BODIES, self._rng.randbytes(40))))
        if behaviour == "bad_http":
            return _not_http(request, next(self._bad_http), end_headers=False)
        if behaviour == "not_http":
            return _not_http(request, self._rng.randbytes(self._rng.randint(1, 200)))
        if behaviour == "http_500":
            return _json(GRANT_BODY, status=500)
        if behaviour == "redirect":
            raise web.HTTPFound(f"/verify?card={card}&again=1")
        if behaviour == "duplicate_keys":
            return _json(next(self._duplicates))
        margin = -SLOW_MARGIN_S if behaviour.endswith("_before") else SLOW_MARGIN_S
        done_at = seen.received + self._deadline_s + margin
        if behaviour.startswith("trickle"):
            return await self._trickle(request, seen, done_at)
        await asyncio.sleep(max(0.0, done_at - time.monotonic()))
        return self._granted(seen)

    @staticmethod
    async def _trickle(
        request: web.Request, seen: ChaosRequest, done_at: float
    ) -> web.StreamResponse:
        """Headers at once, then a grant body in pieces, the last one at `done_at`."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(GRANT_BODY)
        await response.prepare(request)
        step = len(GRANT_BODY) // TRICKLE_CHUNKS + 1
        pieces = [GRANT_BODY[i : i + step] for i in range(0, len(GRANT_BODY), step)]
        try:
            for index, piece in enumerate(pieces):
                left = len(pieces) - index
                await asyncio.sleep(max(0.0, (done_at - time.monotonic()) / left))
                if index == len(pieces) - 1:
                    seen.answered = time.monotonic()
                await response.write(piece)
        except (ConnectionError, RuntimeError):
            pass  # the client gave up at its deadline
        return response

    @staticmethod
    def _granted(seen: ChaosRequest) -> web.Response:
        seen.answered = time.monotonic()
        return _json(GRANT_BODY)


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _not_http(request: web.Request, garbage: bytes, end_headers: bool = True) -> web.Response:
    """Answer with bytes that are not (valid) HTTP, then close; `end_headers` adds the
    blank line that ends a header block, so a parser cannot wait for more."""
    transport = request.transport
    assert transport is not None
    transport.write(garbage + (b"\r\n\r\n" if end_headers else b""))
    transport.close()
    return web.Response()


async def _drop(request: web.Request, mid_body: bool) -> web.StreamResponse:
    """Close the connection: after the start of a grant (`mid_body`), or before a word."""
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    if mid_body:
        await response.prepare(request)
        await response.write(b'{"isvalid": tr')
    transport = request.transport
    assert transport is not None
    transport.abort()  # RST rather than FIN where the kernel can
    return response


# ----------------------------------------------------------------------------- input noise

H10301 = FORMATS["H10301"]
KEYS = "0123456789*#"
PIN_MIN, PIN_MAX = 2, 8  # the PIN collector's default bounds
RDM_STX, RDM_ETX = b"\x02", b"\x03"
HEX = b"0123456789ABCDEFabcdef"
LINE_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True)
class WiegandNoise:
    """One frame of noise for /sim/wiegand, and the card it carries if it is valid."""

    bits: str
    interval_us: int
    pulse_us: int
    card: str | None


def wiegand_noise(rng: random.Random, cards: list[str]) -> WiegandNoise:
    """Random bits of a random length, a valid H10301 frame (sometimes one of `cards`), or
    a valid frame with one bit flipped; at a random bit interval and pulse width.

    Validity is judged here, not by the decoder: a frame is a card when re-encoding its
    own data bits gives it back exactly.
    """
    choice = rng.random()
    if choice < 0.4:
        length = rng.choice((rng.randint(1, 128), rng.randint(24, 28), 26))
        bits = "".join(rng.choice("01") for _ in range(length))
    else:
        known = rng.random() < 0.2
        value = int(rng.choice(cards), 16) if known else rng.getrandbits(24)
        bits = H10301.encode_data(value)
        if choice < 0.7:
            flip = rng.randrange(len(bits))
            bits = bits[:flip] + ("1" if bits[flip] == "0" else "0") + bits[flip + 1 :]
    interval = rng.randint(200, 3000)
    pulse = rng.randint(20, min(100, interval - 1))
    return WiegandNoise(bits, interval, pulse, h10301_card(bits))


class PinModel:
    """What a keypad's PIN entry makes of key presses (`*` clears, `#` submits 2 to 8
    digits): the PINs a string of keys submits, to count against the journal."""

    def __init__(self) -> None:
        self._digits = ""

    def press(self, keys: str) -> list[str]:
        """The PINs these keys submit."""
        submitted: list[str] = []
        for key in keys:
            if key == "*":
                self._digits = ""
            elif key == "#":
                if PIN_MIN <= len(self._digits) <= PIN_MAX:
                    submitted.append(self._digits)
                self._digits = ""
            else:
                self._digits += key
        return submitted


def key_burst_noise(rng: random.Random) -> str:
    """Bits for a Wiegand keypad's lines: mostly 4- and 8-bit bursts (8-bit ones with a
    right or wrong complement nibble), sometimes a frame of another length."""
    length = rng.choice((4, 8, 8, 26, rng.randint(1, 40)))
    if length == 8 and rng.random() < 0.6:
        key = rng.randrange(16)
        return f"{15 - key:04b}{key:04b}"
    return "".join(rng.choice("01") for _ in range(length))


def burst_key(bits: str) -> str | None:
    """The key a 4- or 8-bit keypad burst stands for: a 4-bit key number, or the key
    number after its complement nibble; keys are 0-9, 10 = `*`, 11 = `#`."""
    if len(bits) == 4:
        number = int(bits, 2)
    elif len(bits) == 8 and int(bits[:4], 2) + int(bits[4:], 2) == 15:
        number = int(bits[4:], 2)
    else:
        return None
    return KEYS[number] if number < len(KEYS) else None


def h10301_card(bits: str) -> str | None:
    """The card of a valid H10301 frame (re-encoding its data bits gives it back)."""
    valid = len(bits) == H10301.length and H10301.encode_data(H10301.data.read(bits)) == bits
    return H10301.canonical(bits) if valid else None


def key_noise(rng: random.Random) -> str:
    """A random string of keypad keys."""
    return "".join(rng.choice(KEYS) for _ in range(rng.randint(1, 12)))


def rdm6300_noise(rng: random.Random) -> bytes:
    """Bytes for an RDM6300 port: random bytes, STX and ETX runs, valid frames of random
    cards, frames of random hex (a right checksum now and then), frames cut short."""
    choice = rng.random()
    if choice < 0.3:
        return rng.randbytes(rng.randint(1, 80))
    if choice < 0.4:
        return bytes(rng.choice(b"\x02\x03") for _ in range(rng.randint(1, 20)))
    if choice < 0.5:  # a valid frame of a random card: noise can be a card, too
        data = rng.randbytes(5)
        return RDM_STX + f"{data.hex().upper()}{reduce(xor, data):02X}".encode() + RDM_ETX
    body = bytes(rng.choice(HEX) for _ in range(rng.randint(8, 13)))
    frame = RDM_STX + body + rng.choice((RDM_ETX, b"", rng.randbytes(1)))
    return frame if choice < 0.9 else frame[: rng.randint(1, len(frame))]


def rdm6300_cards(stream: bytes, card_bytes: int) -> list[str]:
    """Every valid RDM6300 frame in `stream`: STX, 10 hex digits of data, 2 of their XOR,
    ETX, and no other STX inside; all-zero and all-FF data are a module's noise."""
    cards = []
    for match in re.finditer(rb"(?=\x02([0-9A-Fa-f]{10})([0-9A-Fa-f]{2})\x03)", stream):
        data, checksum = bytes.fromhex(match[1].decode()), int(match[2], 16)
        if reduce(xor, data) == checksum and data not in (b"\x00" * 5, b"\xff" * 5):
            cards.append(reader_canonical(data, "normal", card_bytes))
    return cards


def line_noise(rng: random.Random) -> bytes:
    """Short lines for a line-based card reader: hex or decimal digits, spaces, STX/ETX
    framing, other text, random bytes, now and then a line far too long; ended by CR, LF
    or CRLF (or not yet ended)."""
    parts = (HEX, b"0123456789", b" \t", b"\x02\x03", b"ID:-xyz", bytes(range(256)))
    length = rng.randint(0, 24) if rng.random() < 0.97 else rng.randint(1000, 3000)
    line = bytes(rng.choice(rng.choice(parts)) for _ in range(length))
    return line + rng.choice((b"\r", b"\n", b"\r\n", b""))


def line_cards(stream: bytes, card_bytes: int) -> list[str]:
    """The card of every complete line in `stream` (no line_pattern): a line of at most
    MAX_LINE_BYTES, decoded as UTF-8, white space and STX/ETX framing stripped, a decimal
    or hex number."""
    *lines, _rest = LINE_END.split(stream)
    cards = []
    for raw in lines:
        if len(raw) > MAX_LINE_BYTES:
            continue
        try:
            text = raw.decode("utf-8").strip().strip("\x02\x03").strip()
        except UnicodeDecodeError:
            continue
        uid = card_number_bytes(text) if text and text.isprintable() else None
        if uid is not None:
            cards.append(reader_canonical(uid, "normal", card_bytes))
    return cards


@dataclass(frozen=True)
class Edge:
    """One level change on a Wiegand line: `line` 0 (DATA0) or 1, low or released."""

    tick: float
    line: int
    low: bool


def wiegand_edges(
    rng: random.Random, bits: str, start: float, overlap: bool
) -> tuple[list[Edge], float]:
    """The edges of `bits` with a random interval before each bit (50 us to 25 ms, beyond
    the SIA range both ways) and a random pulse width; with `overlap`, the other line
    also goes low during one pulse (what a short or crosstalk looks like). Returns the
    edges in time order and the tick after the last one."""
    edges: list[Edge] = []
    tick = start
    glitch_at = rng.randrange(len(bits)) if overlap else -1
    for index, bit in enumerate(bits):
        tick += rng.uniform(50e-6, 25e-3) if index else 0.0
        line, pulse = int(bit), rng.uniform(1e-6, 40e-6)
        edges += [Edge(tick, line, True), Edge(tick + pulse, line, False)]
        if index == glitch_at:
            inside = tick + pulse / 2
            edges += [Edge(inside, 1 - line, True), Edge(tick + pulse * 1.5, 1 - line, False)]
    edges.sort(key=lambda edge: edge.tick)
    return edges, edges[-1].tick
