"""Soak, input noise: the whole daemon is fed random Wiegand frames (lengths, parity,
timing), random keypad strings on both keypads, and random bytes on two serial readers
(an RDM6300 module and a line-based card reader, each on a pseudo-terminal).

What must hold: a decision is journaled only for what is a credential by the protocol's
own rules, judged here independently of the decoders (a valid frame, a submitted PIN,
a checksummed RDM6300 frame, a number on a line); nothing opens but a known card or PIN;
the daemon does not crash and decides a real card on every reader afterwards; its memory
stays flat.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections import Counter
from functools import reduce
from operator import xor
from pathlib import Path
from typing import Any

import aiohttp

from gateway.hw.formats import FORMATS
from gateway.hw.wiegand import MAX_BITS, MAX_GAP_S, WiegandReader
from gateway.model import PIN_MASK
from tests.daemon.conftest import start_daemon
from tests.hw.test_wiegand_reader import reader_settings, rig
from tests.soak.chaos_support import (
    Journal,
    PinModel,
    SerialDevice,
    burst_key,
    h10301_card,
    key_burst_noise,
    key_noise,
    line_cards,
    line_noise,
    login,
    part_seconds,
    part_timeout,
    rdm6300_cards,
    rdm6300_noise,
    serial_device,
    sim_post,
    wiegand_edges,
    wiegand_noise,
)
from tests.soak.chaos_support import (
    write_config as simulation_file,
)
from tests.soak.conftest import rss_kib, seeded_random

CARD_READER = "front-wiegand"
WIEGAND_KEYPAD = "front-keypad"
MATRIX_KEYPAD = "front-exit-keypad"
KEYPADS = (WIEGAND_KEYPAD, MATRIX_KEYPAD)
RDM, LINE = "noise-rdm6300", "noise-line"
CARD_BYTES = 3  # the serial readers keep a card's last 3 bytes, as the demo cards have
DEMO_CARDS = ["0C8707", "0D10E1", "0C2B67"]  # the last one's holder is inactive
REAL_CARD = "0C8707"  # Ada Lovelace: opens both doors
OPENING_CARDS = {"0C8707", "0D10E1"}
OPENING_PINS = {"1234", "2468"}
NOISE_S, EDGES_S = 20.0, 6.0  # the short forms' lengths
RSS_GROWTH_KIB = 3 * 1024  # after warm-up, however long the run (seen: 0.1 to 0.2 MiB)


def serial_readers(rdm: SerialDevice, line: SerialDevice) -> str:
    """Two serial card readers at the back door, on the test's pseudo-terminals."""
    return f"""
[[readers]]
name = "{RDM}"
kind = "serial"
door = "back"
direction = "in"
port = "{rdm.path}"
protocol = "rdm6300"
card_bytes = {CARD_BYTES}

[[readers]]
name = "{LINE}"
kind = "serial"
door = "back"
direction = "in"
port = "{line.path}"
protocol = "line"
credential_kind = "card"
card_bytes = {CARD_BYTES}
"""


def rdm6300_frame(card: str) -> bytes:
    """A valid RDM6300 frame for a 3-byte card (version and first byte zero)."""
    data = bytes.fromhex(f"0000{card}")
    return b"\x02" + f"{data.hex().upper()}{reduce(xor, data):02X}".encode() + b"\x03"


class NoiseRun:
    """What was sent to each reader, and what the protocols say it should make."""

    def __init__(self) -> None:
        self.wiegand_cards: list[str] = []
        self.keypad_cards: list[str] = []
        self.matrix_keys = 0
        self.pin_models = {name: PinModel() for name in KEYPADS}
        self.pins: dict[str, list[str]] = {name: [] for name in KEYPADS}
        self.streams = {RDM: bytearray(), LINE: bytearray()}

    def press(self, keypad: str, keys: str) -> None:
        """Keys typed on a keypad: the PINs they submit."""
        self.pins[keypad] += self.pin_models[keypad].press(keys)
        if keypad == MATRIX_KEYPAD:
            self.matrix_keys += len(keys)

    def expected_serial(self, reader: str) -> list[str]:
        stream = bytes(self.streams[reader])
        if reader == RDM:
            return rdm6300_cards(stream, CARD_BYTES)
        return line_cards(stream, CARD_BYTES)


async def wait_until_online(session: aiohttp.ClientSession, journal: Journal) -> None:
    """Both serial readers have opened their ports."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with session.get(f"{journal.base}/api/v1/status", headers=journal.headers) as resp:
            readers = (await resp.json())["readers"]
        if all(readers[name]["online"] for name in (RDM, LINE)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"serial readers not online: {readers}")


@part_timeout("noise", NOISE_S)
async def test_noise_makes_no_credentials_and_every_reader_still_decides(
    tmp_path: Path,
) -> None:
    rng, seed = seeded_random("input noise")
    run = NoiseRun()
    decided: list[dict[str, Any]] = []
    with serial_device() as rdm, serial_device() as line:
        config = simulation_file(tmp_path, readers=serial_readers(rdm, line))
        daemon = start_daemon(tmp_path / "state", config)
        devices = {RDM: rdm, LINE: line}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                base = daemon.base_url
                journal = Journal(session, base, await login(session, base))
                await wait_until_online(session, journal)

                duration = part_seconds("noise", NOISE_S, share=0.75)
                started = time.monotonic()
                warm_rss: int | None = None
                rss_samples: list[int] = []  # KiB, every tenth of the run
                sent = 0
                while time.monotonic() - started < duration:
                    await _one_noise(rng, run, session, base, devices)
                    sent += 1
                    await asyncio.sleep(0.005)
                    elapsed = time.monotonic() - started
                    if elapsed > len(rss_samples) * duration / 10:
                        rss_samples.append(rss_kib(daemon.process.pid))
                    if warm_rss is None and elapsed > duration / 4:
                        warm_rss = rss_kib(daemon.process.pid)
                    if sent % 20 == 0:  # as a client would poll: small pages
                        decided += await journal.read_new()

                # Then a real card on every card reader, a real PIN on every keypad.
                await sim_post(session, base, "wiegand", _card_frame(REAL_CARD))
                run.wiegand_cards.append(REAL_CARD)
                _send(run, devices, RDM, rdm6300_frame(REAL_CARD))
                _send(run, devices, LINE, f"\r\n{REAL_CARD}\r\n".encode())
                for name in KEYPADS:
                    await sim_post(session, base, "keys", {"reader": name, "keys": "*1234#"})
                    run.press(name, "*1234#")
                decided += await _all_decisions(journal, run)
                end_rss = rss_kib(daemon.process.pid)
                readers = await _reader_status(session, journal)
            assert daemon.process.poll() is None, "the daemon died of noise"
        finally:
            daemon.stop()
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]
    # Long PINs only: a 4-digit one may be part of a port number or a count by chance.
    shown = {pin for pins in run.pins.values() for pin in pins if len(pin) >= 6 and pin in log}
    assert not shown, f"seed {seed}: PINs in the daemon's log"
    every_key = _check_keypads(run, readers, seed)
    _check(run, [e for e in decided if e["type"] == "access"], seed, every_key)
    assert warm_rss is not None
    print(f"input noise (seed {seed}): RSS {warm_rss} KiB after warm-up, {end_rss} KiB at end")
    print(f"  RSS KiB every tenth of the run: {rss_samples}")
    assert end_rss - warm_rss < RSS_GROWTH_KIB, f"memory grew from {warm_rss} to {end_rss} KiB"


async def _one_noise(
    rng: Any,
    run: NoiseRun,
    session: aiohttp.ClientSession,
    base: str,
    devices: dict[str, SerialDevice],
) -> None:
    """Send one piece of noise to one reader, and note what it should make."""
    choice = rng.random()
    if choice < 0.35:
        frame = wiegand_noise(rng, DEMO_CARDS)
        body = {
            "reader": CARD_READER,
            "bits": frame.bits,
            "bit_interval_us": frame.interval_us,
            "pulse_us": frame.pulse_us,
        }
        await sim_post(session, base, "wiegand", body)
        if frame.card is not None:
            run.wiegand_cards.append(frame.card)
    elif choice < 0.5:
        name, keys = rng.choice(KEYPADS), key_noise(rng)
        await sim_post(session, base, "keys", {"reader": name, "keys": keys})
        run.press(name, keys)
    elif choice < 0.6:  # raw bursts on the Wiegand keypad's lines
        bits = key_burst_noise(rng)
        await sim_post(session, base, "wiegand", {"reader": WIEGAND_KEYPAD, "bits": bits})
        key = burst_key(bits)
        if key is not None:
            run.pins[WIEGAND_KEYPAD] += run.pin_models[WIEGAND_KEYPAD].press(key)
        elif (card := h10301_card(bits)) is not None:
            run.keypad_cards.append(card)  # a keypad with a card reader in it
    elif choice < 0.8:
        _send(run, devices, RDM, rdm6300_noise(rng))
    else:
        _send(run, devices, LINE, line_noise(rng))


def _send(run: NoiseRun, devices: dict[str, SerialDevice], reader: str, data: bytes) -> None:
    devices[reader].write(data)
    run.streams[reader] += data


def _card_frame(card: str) -> dict[str, Any]:
    bits = FORMATS["H10301"].encode_data(int(card, 16))
    return {"reader": CARD_READER, "bits": bits}


async def _all_decisions(journal: Journal, run: NoiseRun) -> list[dict[str, Any]]:
    """Read the journal until every reader's last real input is decided (bounded)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        events += await journal.read_new()
        last = {e["reader"]: e for e in events if e["type"] == "access"}
        pins = Counter(e["reader"] for e in events if e["credential_kind"] == "pin")
        cards_done = all(
            last.get(name, {}).get("credential") == REAL_CARD for name in (CARD_READER, RDM, LINE)
        )
        if cards_done and all(pins[name] >= 1 for name in KEYPADS):
            await asyncio.sleep(0.5)  # anything still on its way
            return events + await journal.read_new()
        await asyncio.sleep(0.1)
    return events


async def _reader_status(
    session: aiohttp.ClientSession, journal: Journal
) -> dict[str, dict[str, Any]]:
    """Every reader's status()."""
    async with session.get(f"{journal.base}/api/v1/status", headers=journal.headers) as resp:
        readers: dict[str, dict[str, Any]] = (await resp.json())["readers"]
    return readers


def _check_keypads(run: NoiseRun, readers: dict[str, dict[str, Any]], seed: int) -> bool:
    """No key from nowhere on the matrix keypad, and no key bits in the Wiegand keypad's
    diagnostics (only a card-length frame's). True when the matrix keypad saw every key.

    The simulation holds a matrix key for three scan intervals (30 ms): on a machine busy
    enough to stall the daemon's loop that long, a key can be missed (a finger is held
    for 100 ms or more). A missed key changes which PINs are typed, so the PIN count of
    that keypad is only compared when none was missed."""
    for frame in readers[WIEGAND_KEYPAD]["recent"]:
        if frame["bit_count"] != FORMATS["H10301"].length:
            assert frame["bits"] == "*" * frame["bit_count"], f"key bits shown: {frame}"
    accepted: int = readers[MATRIX_KEYPAD]["keys_accepted"]
    assert accepted <= run.matrix_keys, f"seed {seed}: {accepted} keys of {run.matrix_keys}"
    if accepted < run.matrix_keys:
        print(f"  matrix keypad missed {run.matrix_keys - accepted} of {run.matrix_keys} keys")
    return accepted == run.matrix_keys


def _check(run: NoiseRun, access: list[dict[str, Any]], seed: int, every_key: bool) -> None:
    """Every decision against what the protocols say the noise made."""
    by_reader: dict[str, list[dict[str, Any]]] = {}
    for event in access:
        by_reader.setdefault(event["reader"], []).append(event)
    why = f"seed {seed}"
    assert set(by_reader) <= {CARD_READER, RDM, LINE, *KEYPADS}, f"{why}: {set(by_reader)}"

    wiegand = by_reader.get(CARD_READER, [])
    assert [e["credential"] for e in wiegand] == run.wiegand_cards, why
    keypad_cards = [e for e in by_reader.get(WIEGAND_KEYPAD, []) if e["credential_kind"] != "pin"]
    assert [e["credential"] for e in keypad_cards] == run.keypad_cards, why
    for name in (RDM, LINE):
        cards = [e["credential"] for e in by_reader.get(name, [])]
        expected = run.expected_serial(name)
        # The same card again within debounce_s is one presentation: compare as sets.
        assert set(cards) == set(expected) and len(cards) <= len(expected), f"{why}: {name}"
        assert cards[-1] == REAL_CARD, f"{why}: {name} did not decide the real card last"
    for event in wiegand + keypad_cards + by_reader.get(RDM, []) + by_reader.get(LINE, []):
        if event["granted"]:
            assert event["credential"] in OPENING_CARDS, f"{why}: {event}"
    for final in (wiegand[-1], by_reader[RDM][-1], by_reader[LINE][-1]):
        assert final["granted"] is True, f"{why}: real card refused after noise: {final}"

    for name in KEYPADS:
        pins = [e for e in by_reader.get(name, []) if e["credential_kind"] == "pin"]
        submitted = run.pins[name]
        if name == WIEGAND_KEYPAD or every_key:
            assert len(pins) == len(submitted), f"{why}: {name} {len(pins)} != {len(submitted)}"
        assert all(e["credential"] == PIN_MASK and not e["raw"] for e in pins), f"{why}: PIN shown"
        granted = sum(1 for e in pins if e["granted"])
        assert granted <= sum(1 for pin in submitted if pin in OPENING_PINS), f"{why}: {name}"
    counts = {name: len(events) for name, events in sorted(by_reader.items())}
    print(f"input noise (seed {seed}): decisions by reader {counts}")


# ----------------------------------------------------------------------------- raw edges

EDGE_FORMATS = ("H10301", "H10306", "UID32")
D0, D1 = 5, 6
TRACED_GROWTH_BYTES = 64 * 1024  # allocations by the gateway's code after warm-up


def expected_card(bits: str) -> str | None:
    """The card of `bits` if it is a valid frame of one of EDGE_FORMATS (re-encoding its
    own data bits gives it back), else None."""
    for name in EDGE_FORMATS:
        fmt = FORMATS[name]
        if len(bits) == fmt.length and fmt.encode_data(fmt.data.read(bits)) == bits:
            return fmt.canonical(bits)
    return None


def edge_noise_bits(rng: Any) -> str:
    """Random bits of a random length (past the decoder's limit too), or a valid frame
    of a configured format, or one with a bit flipped."""
    choice = rng.random()
    if choice < 0.4:
        return "".join(rng.choice("01") for _ in range(rng.randint(1, MAX_BITS + 20)))
    fmt = FORMATS[rng.choice(EDGE_FORMATS)]
    bits = fmt.encode_data(rng.getrandbits(fmt.data.width))
    if choice < 0.7:
        flip = rng.randrange(len(bits))
        bits = bits[:flip] + ("1" if bits[flip] == "0" else "0") + bits[flip + 1 :]
    return bits


@part_timeout("noise", EDGES_S)
async def test_random_wiegand_edges_make_only_valid_frames_and_memory_stays_flat() -> None:
    rng, seed = seeded_random("wiegand edges")
    settings = reader_settings(formats=EDGE_FORMATS)
    cards = 0
    async with rig(settings) as r:
        tick = time.monotonic()
        duration = part_seconds("noise", EDGES_S, share=0.25)
        started = time.monotonic()
        warm: int | None = None
        bursts = 0
        while time.monotonic() - started < duration:
            bits, overlap = edge_noise_bits(rng), rng.random() < 0.2
            edges, tick = wiegand_edges(rng, bits, tick + 1.0, overlap)
            for edge in edges:
                r.hardware.drive_at(D1 if edge.line else D0, not edge.low, edge.tick)
            card = None if overlap or len(bits) > MAX_BITS else expected_card(bits)
            bursts += 1
            await _frame_closed(r.reader, bursts)
            # Checked and dropped at once: the test keeps nothing that grows with the run.
            got = [(c.value, expected_card(c.raw)) for c in r.sink.credentials]
            assert got == ([(card, card)] if card else []), f"seed {seed}: {bits} -> {got}"
            r.sink.credentials.clear()
            cards += card is not None
            if warm is None and time.monotonic() - started > duration / 4:
                tracemalloc.start()
                warm = _gateway_bytes()
        grown = _gateway_bytes() - (warm or 0)
        tracemalloc.stop()

        # The reader still reads a clean card at the end.
        clean = FORMATS["H10301"].encode_data(0x0C8707)
        await r.send(clean)
        assert r.values[-1] == "0C8707", f"seed {seed}"
    print(f"wiegand edges (seed {seed}): {cards} cards in {bursts} bursts, +{grown} B kept")
    assert grown < TRACED_GROWTH_BYTES, f"seed {seed}: the reader kept {grown} bytes"


async def _frame_closed(reader: WiegandReader, frames: int) -> None:
    """Wait until the reader has closed its `frames`-th frame (after a quiet gap)."""
    deadline = time.monotonic() + 1.0
    while reader.stats.frames < frames:
        assert time.monotonic() < deadline, f"frame {frames} never closed"
        await asyncio.sleep(MAX_GAP_S / 4)


def _gateway_bytes() -> int:
    """Bytes currently allocated by the gateway's own code (tracemalloc)."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*/gateway/*")])
    return sum(stat.size for stat in snapshot.statistics("filename"))
