"""Sources whose measuring modules are written beside this harness: `benchmarks.rules_cache`
(the rules cache: one change, loop freeze, peak memory) and `benchmarks.journal_rate` (the
journal and forwarding rates). Each adapter turns that module's own result into samples;
when the module is not there, the import fails and the harness shows the figures as not
measured (FAIL), never a guess.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.figures import Sample


def _spread(figure: dict[str, Any]) -> Sample:
    """A `{"median", "p99", "runs"}` dict as a sample."""
    return Sample(float(figure["median"]), float(figure["p99"]), int(figure.get("runs", 1)))


def rules_cache(users: int, repetitions: int) -> dict[str, Sample]:
    """rebuild_after_change (ms), loop_freeze_during_rebuild (ms) and
    rss_peak_after_change_ratio, from `benchmarks.rules_cache`, one run per repetition."""
    module = importlib.import_module("benchmarks.rules_cache")
    runs: list[dict[str, Any]] = []
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "rules.db"
            module.build_database(db_path, users)
            runs.append(module.measure(db_path, users))
    return {
        "rebuild_after_change": Sample.of([run["change_s"] * 1000 for run in runs]),
        "loop_freeze_during_rebuild": Sample.of([run["change_max_loop_lag_ms"] for run in runs]),
        "rss_peak_after_change_ratio": Sample.of(
            [run["change_peak_rss_mib"] / run["change_steady_rss_mib"] for run in runs]
        ),
    }


def journal_rate(users: int, repetitions: int) -> dict[str, Sample]:
    """journal_events_per_s and forwarding_events_per_s from `benchmarks.journal_rate`
    (which repeats its own rounds); `users` plays no part."""
    module = importlib.import_module("benchmarks.journal_rate")
    result = module.measure()
    return {
        "journal_events_per_s": _spread(result["daemon"]["events_per_s"]),
        "forwarding_events_per_s": _spread(result["forwarding"]["events_per_s"]),
    }
