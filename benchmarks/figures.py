"""What `make bench` measures: every figure with its unit, its target and where it comes from.

A figure's value comes from a *source*: a function `(users, repetitions) -> {name: Sample}`
that measures a few related figures at once (one daemon start gives start-up time and RSS).
A source that cannot run (its module is not there yet, or it fails) leaves its figures "not
measured", which fails their targets: the table never shows a number that was not measured.

Targets are the product's performance targets (README, "Performance"). A target stated
"at 1M users" also holds for fewer users (what must hold at a million must hold at ten
thousand); where a tighter bound is given for fewer users (RSS: < 60 MB at 10k) that one
applies up to its user count.
"""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

MILLION = 1_000_000


@dataclass(frozen=True)
class Sample:
    """One figure's repeated runs: the median, the 99th percentile and how many runs."""

    median: float
    p99: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Sample:
        """The median and p99 (nearest rank) of `values` (at least one)."""
        if not values:
            raise ValueError("a sample needs at least one value")
        ordered = sorted(values)
        rank = min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))
        return cls(statistics.median(ordered), ordered[rank], len(ordered))


@dataclass(frozen=True)
class Target:
    """`statistic` of the figure must be below (`<`) or above (`>`) `limit`, for any run
    with at most `up_to_users` users."""

    op: Literal["<", ">"]
    limit: float
    statistic: Literal["median", "p99"] = "median"
    up_to_users: int = MILLION

    def passes(self, sample: Sample) -> bool:
        """True when the sample meets this target."""
        value = sample.p99 if self.statistic == "p99" else sample.median
        return value < self.limit if self.op == "<" else value > self.limit

    def text(self) -> str:
        """How the table shows it, e.g. `p99 < 50`."""
        return f"{self.statistic} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class Figure:
    """One measured quantity: `source` names the function that measures it."""

    name: str
    unit: str
    source: str
    description: str
    targets: tuple[Target, ...] = ()

    def target_for(self, users: int | None) -> Target | None:
        """The target that applies at `users` (None: the figure does not depend on it)."""
        for target in sorted(self.targets, key=lambda t: t.up_to_users):
            if users is None or users <= target.up_to_users:
                return target
        return None


Measure = Callable[[int, int], dict[str, Sample]]


@dataclass(frozen=True)
class Source:
    """A function measuring some figures: `module:function` in this package, imported
    only when it runs. `per_users`: measured at every user count (else once per run, at
    the smallest user count, and reported without one)."""

    name: str
    function: str
    per_users: bool

    def load(self) -> Measure:
        """The measuring function; ImportError/AttributeError when it is not there yet."""
        module_name, _, attribute = self.function.partition(":")
        module = importlib.import_module(module_name)
        measure: Measure = getattr(module, attribute)
        return measure


SOURCES: tuple[Source, ...] = (
    Source("decide", "benchmarks.decide:measure", per_users=True),
    Source("daemon_start", "benchmarks.daemon_start:measure", per_users=True),
    Source("rules_cache", "benchmarks.external:rules_cache", per_users=True),
    Source("import", "benchmarks.import_users:measure", per_users=True),
    Source("frame_to_relay", "benchmarks.frame_to_relay:measure", per_users=False),
    Source("upstream", "benchmarks.upstream_miss:measure", per_users=False),
    Source("journal", "benchmarks.external:journal_rate", per_users=False),
    Source("idle", "benchmarks.daemon_idle:measure_figures", per_users=False),
)


def _lt(limit: float, statistic: Literal["median", "p99"] = "median") -> Target:
    return Target("<", limit, statistic)


FIGURES: tuple[Figure, ...] = (
    # -- decisions in the engine, on the snapshot of N users --------------------------------
    Figure("decide_cached_card", "us", "decide", "AccessEngine.decide, a cached card",
           (_lt(50, "p99"),)),
    Figure("decide_cached_pin", "us", "decide", "AccessEngine.decide, a cached PIN"),
    Figure("decide_unknown_card", "us", "decide", "AccessEngine.decide, a card nobody holds"),
    # -- the real daemon on N users ----------------------------------------------------------
    Figure("startup_to_ready", "s", "daemon_start",
           "daemon process start to READY=1 on NOTIFY_SOCKET", (_lt(2),)),
    Figure("startup_to_http", "s", "daemon_start",
           "daemon process start to its first HTTP answer", (_lt(2),)),
    Figure("rss_steady", "MiB", "daemon_start", "daemon VmRSS once settled after start",
           (Target("<", 60, up_to_users=10_000), _lt(400))),
    Figure("rss_peak_start", "MiB", "daemon_start", "daemon VmHWM (peak RSS) after start"),
    # -- the rules cache (benchmarks/rules_cache.py) -----------------------------------------
    Figure("rebuild_after_change", "ms", "rules_cache",
           "one rule change until it decides", (_lt(50),)),
    Figure("loop_freeze_during_rebuild", "ms", "rules_cache",
           "longest event-loop lag while the change is applied", (_lt(10),)),
    Figure("rss_peak_after_change_ratio", "x", "rules_cache",
           "peak RSS during one rule change / steady RSS", (_lt(1.2),)),
    # -- users import --------------------------------------------------------------------------
    Figure("import_users_per_s", "users/s", "import", "`users import` of an N-user CSV",
           (Target(">", 20_000),)),
    Figure("import_peak_rss", "MiB", "import", "peak RSS of the importing process",
           (_lt(500),)),
    # -- once per run ---------------------------------------------------------------------------
    Figure("frame_to_relay_1ms", "ms", "frame_to_relay",
           "last Wiegand edge to relay active, 1 ms bit interval"),
    Figure("frame_to_relay_2ms", "ms", "frame_to_relay",
           "last Wiegand edge to relay active, 2 ms bit interval"),
    Figure("product_share_1ms", "ms", "frame_to_relay",
           "frame-to-relay minus the end-of-frame wait, 1 ms bit interval"),
    Figure("product_share_2ms", "ms", "frame_to_relay",
           "frame-to-relay minus the end-of-frame wait, 2 ms bit interval"),
    Figure("vs_fixed_100ms_gap_1ms", "x", "frame_to_relay",
           "(100 ms gap + product share) / frame-to-relay, 1 ms bit interval"),
    Figure("vs_fixed_100ms_gap_2ms", "x", "frame_to_relay",
           "(100 ms gap + product share) / frame-to-relay, 2 ms bit interval"),
    Figure("miss_overhead", "ms", "upstream",
           "unknown card decided upstream, minus the upstream's own handling time"),
    Figure("breaker_open_decision", "us", "upstream",
           "unknown card decided while the upstream breaker is open"),
    Figure("journal_events_per_s", "events/s", "journal",
           "durable journal events/s through the running daemon", (Target(">", 2_000),)),
    Figure("forwarding_events_per_s", "events/s", "journal",
           "journal events/s delivered to one loopback agent"),
    Figure("idle_cpu", "%", "idle", "daemon CPU share at rest, every simulated reader",
           (_lt(0.3),)),
    Figure("idle_wakeups_per_s", "1/s", "idle", "event-loop thread wake-ups/s at rest"),
    Figure("idle_all_wakeups_per_s", "1/s", "idle",
           "wake-ups/s at rest, every thread (readers' and OSDP's included)"),
)  # fmt: skip


def source_named(name: str) -> Source:
    """The source called `name`."""
    for source in SOURCES:
        if source.name == name:
            return source
    raise KeyError(name)
