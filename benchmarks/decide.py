"""Decision latency of the access engine on the rules of N users (`benchmarks.population`).

The snapshot is loaded from the population's database as the daemon loads it, then
`AccessEngine.decide` is timed one call at a time for cached cards, cached PINs and cards
nobody holds, picked at random across the whole population. Each call is one run of the
figure: the median and p99 are over every call.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.figures import Sample
from benchmarks.population import (
    cached_state_dir,
    card_value,
    copy_state_dir,
    pin_of,
    unknown_card_value,
)
from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.clock import Instant, SystemClock
from gateway.model import Credential
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.storage import DB_FILE
from gateway.store.secrets import load_or_create_device_key
from gateway.store.stores import Stores

CARDS_PER_REPETITION = 10_000
PINS_PER_REPETITION = 1_000  # a PIN lookup hashes first; fewer keep the run short
UNKNOWN_PER_REPETITION = 1_000
DOOR, READER = "front", "front-wiegand"


def _time_decisions(engine: AccessEngine, credentials: list[Credential]) -> Sample:
    """Microseconds per `decide` call, one call at a time."""
    samples = []
    now = Instant.read(SystemClock())
    for credential in credentials:
        started = time.perf_counter()
        engine.decide(credential, DOOR, now)
        samples.append((time.perf_counter() - started) * 1e6)
    return Sample.of(samples)


def _check(engine: AccessEngine, credential: Credential, granted: bool) -> None:
    """Refuse to time an engine that decides wrongly: its figures would mean nothing."""
    decision = engine.decide(credential, DOOR, Instant.read(SystemClock()))
    if decision.granted != granted:
        raise RuntimeError(f"{credential.kind} decided {decision.reason}, expected {granted}")


def measure(users: int, repetitions: int) -> dict[str, Sample]:
    """decide_cached_card, decide_cached_pin, decide_unknown_card, in microseconds."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        copy_state_dir(cached_state_dir(users), state_dir)
        hasher = PinHasher(load_or_create_device_key(state_dir))
        with Stores.open(state_dir / DB_FILE, hasher) as stores:
            snapshot = stores.engine_state.load_snapshot()
    engine = AccessEngine(
        AccessSettings(),
        {DOOR: DoorSettings(name=DOOR)},
        {READER: ReaderSettings(name=READER, kind="wiegand", door=DOOR)},
        ZoneInfo("Europe/London"),
        hasher,
        snapshot,
    )

    def picks(count: int) -> list[int]:
        return [rng.randrange(users) for _ in range(count * repetitions)]

    cards = [Credential("card", card_value(i), READER, 0.0) for i in picks(CARDS_PER_REPETITION)]
    pins = [Credential("pin", pin_of(i), READER, 0.0) for i in picks(PINS_PER_REPETITION)]
    unknown = [
        Credential("card", unknown_card_value(i), READER, 0.0)
        for i in picks(UNKNOWN_PER_REPETITION)
    ]
    _check(engine, cards[0], True)
    _check(engine, pins[0], True)
    _check(engine, unknown[0], False)
    return {
        "decide_cached_card": _time_decisions(engine, cards),
        "decide_cached_pin": _time_decisions(engine, pins),
        "decide_unknown_card": _time_decisions(engine, unknown),
    }
