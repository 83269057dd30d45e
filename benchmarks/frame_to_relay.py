"""Frame-to-relay: from the last Wiegand edge to the door's relay going active, in real time.

The whole gateway (`gateway.app.Gateway`: readers, collector, engine, door controller,
journal, web server) runs in this process on simulated hardware (gpiozero mock pins), on a
copy of the N-user population. A thread plays each card's 26-bit H10301 frame on D0/D1 as a
reader would: a 50 us low pulse per bit, one bit every 1 ms or 2 ms, sleeping in between.
Edges enter the loop as a Pi's GPIO callbacks do (`call_soon_threadsafe` from another
thread), so the decoder waits for its adaptive end-of-frame gap (three bit intervals,
3..30 ms), then the engine decides and the door controller drives the relay.

- `frame_to_relay_{1,2}ms`: the relay pin's change time minus the last edge's (the rising
  edge that ends the last bit, 50 us after its falling edge as a reader sends it), ms;
- `product_share_{1,2}ms`: the same minus the decoder's end-of-frame wait (counted from the
  last bit's falling edge, as the decoder counts it): what the product itself adds;
- `vs_fixed_100ms_gap_{1,2}ms`: how many times longer a fixed 100 ms end-of-frame gap
  (ESPHome's Wiegand component) would take with the same product share:
  (100 ms + share) / frame-to-relay.

Every sample is a different cardholder; the door is locked again before the next one. On a
busy machine the playing thread can be held up for longer than the end-of-frame wait, so
the decoder sees two short frames and rejects both: that frame is played again (the
product's time is what is measured, not this machine's scheduling).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.daemon_start import free_port
from benchmarks.figures import Sample
from benchmarks.population import cached_state_dir, card_bits, copy_state_dir
from gateway.app import Gateway
from gateway.config import load_settings
from gateway.hw.factory import SimulatedHardware
from gateway.hw.wiegand import MAX_GAP_S, MIN_GAP_S

D0, D1, RELAY = 5, 6, 17
PULSE_S = 50e-6
FIXED_GAP_S = 0.100
FRAMES_PER_REPETITION = 20
DOOR = "front"
READER = "front-wiegand"
RELAY_WAIT_S = 0.5
REST_S = 0.05  # between frames: the lock event is journaled, the lines rest
REPLAYS = 5
SETTLE_S = 1.0

CONFIG = """
[device]
id = "bench"
name = "Benchmark gateway"
timezone = "Europe/London"
state_dir = "{state_dir}"
log_level = "WARNING"

[hardware]
backend = "simulated"

[[doors]]
name = "front"
relay_pin = 17
relay_active_high = true
lock_type = "fail_secure"
relay_pulse_s = 1
auth_mode = "any"
offline_policy = "deny"

[[readers]]
name = "front-wiegand"
kind = "wiegand"
door = "front"
d0_pin = 5
d1_pin = 6
formats = ["H10301"]

[web]
listen = "127.0.0.1:{port}"
"""


def decoder_gap(falling_edges: list[float]) -> float:
    """The end-of-frame wait the decoder applies after these bits (gateway.hw.wiegand)."""
    intervals = [b - a for a, b in itertools.pairwise(falling_edges)]
    if len(intervals) < 2:
        return MAX_GAP_S
    return min(MAX_GAP_S, max(MIN_GAP_S, 3 * statistics.median(intervals)))


def play_frame(hardware: SimulatedHardware, bits: str, interval_s: float) -> list[float]:
    """Play `bits` on D0/D1 in real time; the time of each bit's falling edge."""
    falling: list[float] = []
    due = time.monotonic()
    for bit in bits:
        pin = D0 if bit == "0" else D1
        while (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        hardware.drive(pin, False)
        falling.append(hardware.changed_at(pin))
        time.sleep(PULSE_S)
        hardware.drive(pin, True)
        due += interval_s
    return falling


async def _one_frame(
    gateway: Gateway, hardware: SimulatedHardware, bits: str, interval_s: float
) -> tuple[float, float] | None:
    """One card: (frame-to-relay, product share) in seconds; None when the frame arrived
    split in two (the playing thread was held up longer than the end-of-frame wait)."""
    reader = gateway.readers[READER]
    frames_before = reader.status()["frames_accepted"]
    falling = await asyncio.to_thread(play_frame, hardware, bits, interval_s)
    # A reader releases the line PULSE_S after the last bit; this thread's own release
    # may come late (a sleep overshoots) while the decoder only counts falling edges.
    last_edge = falling[-1] + PULSE_S
    deadline = time.monotonic() + RELAY_WAIT_S
    while not hardware.level(RELAY):
        if time.monotonic() > deadline:
            if reader.status()["frames_accepted"] == frames_before:
                return None  # never decoded whole: not the product's time to measure
            raise RuntimeError(f"the relay did not go active for a cardholder's card {bits}")
        await asyncio.sleep(0.002)
    relay_at = hardware.changed_at(RELAY)
    gateway.doors[DOOR].lock("bench")
    return relay_at - last_edge, relay_at - (falling[-1] + decoder_gap(falling))


async def _timed_frame(
    gateway: Gateway, hardware: SimulatedHardware, bits: str, interval_s: float
) -> tuple[float, float]:
    """`_one_frame`, played again (up to `REPLAYS` times) when it arrived split."""
    for _ in range(REPLAYS):
        timed = await _one_frame(gateway, hardware, bits, interval_s)
        await asyncio.sleep(REST_S)
        if timed is not None:
            return timed
    raise RuntimeError(f"{REPLAYS} frames in a row arrived split: the machine is too busy")


async def _measure(state_dir: Path, users: int, repetitions: int) -> dict[str, Sample]:
    settings_path = state_dir.parent / "bench.toml"
    settings_path.write_text(CONFIG.format(state_dir=state_dir, port=free_port()))
    hardware = SimulatedHardware()
    gateway = Gateway(load_settings(settings_path), hardware=hardware)
    await gateway.start()
    await asyncio.sleep(SETTLE_S)  # start-up work done: the first frame is not special
    rng = random.Random(11)
    figures: dict[str, Sample] = {}
    try:
        for interval_ms in (1, 2):
            totals, shares = [], []
            for _ in range(FRAMES_PER_REPETITION * repetitions):
                bits = card_bits(rng.randrange(users))
                total, share = await _timed_frame(gateway, hardware, bits, interval_ms / 1000)
                totals.append(total * 1000)
                shares.append(share * 1000)
            figures[f"frame_to_relay_{interval_ms}ms"] = Sample.of(totals)
            figures[f"product_share_{interval_ms}ms"] = Sample.of(shares)
            ratios = [(FIXED_GAP_S * 1000 + s) / t for s, t in zip(shares, totals, strict=True)]
            figures[f"vs_fixed_100ms_gap_{interval_ms}ms"] = Sample.of(ratios)
    finally:
        await gateway.stop()
    return figures


def measure(users: int, repetitions: int) -> dict[str, Sample]:
    """The figures of the module docstring, on a copy of the `users` population."""
    logging.getLogger("gateway").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        copy_state_dir(cached_state_dir(users), state_dir)
        return asyncio.run(_measure(state_dir, users, repetitions))
