"""`make bench`: decision latency and memory with a large user base, printed as JSON.

Figures only, nothing asserted. Builds a real SQLite store with 20,000 users (one card
and one PIN each), loads the in-memory snapshot (tracemalloc measures it: slower than a
plain load), and times `AccessEngine.decide` for cached cards, cached PINs and unknown
cards.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.access.engine import AccessEngine
from gateway.access.pins import PinHasher
from gateway.clock import Instant, SystemClock
from gateway.model import Credential, User
from gateway.settings import AccessSettings, DoorSettings, ReaderSettings
from gateway.store.stores import Stores

USERS = 20_000
DECISIONS = 20_000


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 2),
        "max_us": round(ordered[-1] * 1e6, 2),
    }


def _time_decisions(engine: AccessEngine, credentials: list[Credential]) -> dict[str, float]:
    samples = []
    now = Instant.read(SystemClock())
    for credential in credentials:
        started = time.perf_counter()
        engine.decide(credential, "front", now)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def main() -> int:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        hasher = PinHasher(b"b" * 32)
        stores = Stores.open(Path(tmp) / "bench.db", hasher)
        users = [
            User(user_id=str(100000 + i), cards=[f"{i:08X}"], pin=f"{10_000_000 + i}")
            for i in range(USERS)
        ]
        started = time.perf_counter()
        stores.users.import_users(users)
        import_s = time.perf_counter() - started
        tracemalloc.start()
        started = time.perf_counter()
        snapshot = stores.engine_state.load_snapshot()
        snapshot_s = time.perf_counter() - started
        snapshot_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        engine = AccessEngine(
            AccessSettings(),
            {"front": DoorSettings(name="front")},
            {"r": ReaderSettings(name="r", kind="wiegand", door="front")},
            ZoneInfo("Europe/London"),
            hasher,
            snapshot,
        )
        picks = [rng.randrange(USERS) for _ in range(DECISIONS)]
        cards = [Credential("card", f"{i:08X}", "r", 0.0) for i in picks]
        pins = [Credential("pin", f"{10_000_000 + i}", "r", 0.0) for i in picks[:1000]]
        unknown = [Credential("card", f"F{i:07X}", "r", 0.0) for i in picks[:1000]]
        result = {
            "users": USERS,
            "import_s": round(import_s, 3),
            "snapshot_load_s": round(snapshot_s, 3),
            "snapshot_mib": round(snapshot_bytes / 2**20, 1),
            "decide_cached_card": _time_decisions(engine, cards),
            "decide_cached_pin": _time_decisions(engine, pins),
            "decide_unknown_card": _time_decisions(engine, unknown),
            "max_rss_mib": round(_rss_mib(), 1),
        }
        stores.close()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
