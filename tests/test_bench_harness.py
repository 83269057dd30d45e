"""`make bench`'s harness: targets judged as the table shows them, and one end-to-end run at
200 users (one repetition) that writes results.json with every figure named and measured
figures carrying real numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from benchmarks.__main__ import merged_figures, user_counts
from benchmarks.figures import FIGURES, Figure, Sample, Target
from benchmarks.population import card_value, unknown_card_value
from benchmarks.report import FAIL, NO_TARGET, PASS, judge, table

REPO = Path(__file__).resolve().parents[1]
RSS = Figure(
    "rss_steady", "MiB", "daemon_start", "RSS",
    (Target("<", 60, up_to_users=10_000), Target("<", 400)),
)  # fmt: skip
CARD = Figure("decide_cached_card", "us", "decide", "card", (Target("<", 50, "p99"),))


def test_a_target_for_fewer_users_applies_up_to_its_count_then_the_1m_one() -> None:
    steady = Sample(median=100.0, p99=110.0, runs=3)
    assert judge(RSS, 10_000, steady).status == FAIL  # < 60 MiB at 10k
    assert judge(RSS, 100_000, steady).status == PASS  # < 400 MiB up to 1M
    assert judge(RSS, 1_000_000, Sample(450.0, 460.0, 3)).status == FAIL


def test_a_p99_target_is_judged_on_the_p99_not_the_median() -> None:
    assert judge(CARD, 10_000, Sample(median=10.0, p99=49.0, runs=100)).status == PASS
    assert judge(CARD, 10_000, Sample(median=10.0, p99=51.0, runs=100)).status == FAIL


def test_a_figure_not_measured_fails_even_without_a_target() -> None:
    untargeted = Figure("miss_overhead", "ms", "upstream", "miss")
    assert judge(untargeted, None, Sample(1.0, 2.0, 5)).status == NO_TARGET
    missing = judge(untargeted, None, None, "ModuleNotFoundError: no module")
    assert missing.status == FAIL
    assert "** FAIL (ModuleNotFoundError" in table([missing])


def test_sample_is_the_median_and_nearest_rank_p99_of_the_runs() -> None:
    sample = Sample.of([float(n) for n in range(1, 201)])
    assert (sample.median, sample.p99, sample.runs) == (100.5, 198.0, 200)
    assert Sample.of([3.0]) == Sample(3.0, 3.0, 1)


def test_one_million_users_only_with_bench_full() -> None:
    assert user_counts(None, {}) == [10_000, 100_000]
    assert user_counts(None, {"BENCH_FULL": "1"}) == [10_000, 100_000, 1_000_000]
    assert user_counts("200,1_000", {"BENCH_FULL": "1"}) == [200, 1000]


def test_no_population_card_is_a_demo_card_of_the_simulation() -> None:
    # The daemon benchmarks start on config/simulate.toml, whose demo users it seeds: a
    # population card equal to one of theirs stops start-up ("already assigned").
    simulate = tomllib.loads((REPO / "config" / "simulate.toml").read_text())
    demo_users = simulate["simulation"]["demo_users"]
    demo = {int(card, 16) for user in demo_users for card in user["cards"]}
    lowest, highest = int(card_value(0), 16), int(card_value(1_999_999), 16)
    assert not {card for card in demo if lowest <= card <= highest}
    assert int(unknown_card_value(0), 16) > highest


def test_the_harness_runs_end_to_end_at_200_users(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    measured = ("decide", "daemon_start", "import", "frame_to_relay", "upstream")
    done = subprocess.run(
        [
            sys.executable, "-m", "benchmarks", "--users", "200", "--repetitions", "1",
            "--only", ",".join(measured), "--output", str(output),
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "BENCH_CACHE": str(tmp_path / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())
    machine = result["machine"]
    for key in ("cpu", "cores", "ram_gib", "kernel", "python", "sqlite"):
        assert machine[key], key
    rows = {row["name"]: row for row in result["figures"]}
    assert set(rows) == {figure.name for figure in FIGURES}
    for figure in FIGURES:
        row = rows[figure.name]
        if figure.source in measured:
            assert row["runs"] >= 1 and row["median"] is not None, row
            assert row["median"] > 0 or figure.name.startswith("product_share"), row
            assert row["status"] in (PASS, FAIL, NO_TARGET), row
        else:
            assert row["status"] == FAIL and row["median"] is None, row
    assert rows["decide_cached_card"]["users"] == 200
    assert rows["frame_to_relay_1ms"]["users"] is None  # measured once, whatever N
    assert rows["frame_to_relay_1ms"]["median"] >= 2.9  # the 3 ms gap, from the last bit
    assert "decide_cached_card" in done.stdout and "** FAIL" in done.stdout


def test_merge_keeps_the_rows_not_measured_again_with_when_they_were_measured(
    tmp_path: Path,
) -> None:
    previous = {
        "started": "2026-01-01T00:00:00Z",
        "figures": [
            {"name": "import_users_per_s", "users": 100000, "median": 9.0, "runs": 3},
            {"name": "daemon_rss", "users": 1000000, "median": 363.0, "runs": 3},
            {"name": "never_measured", "users": 10, "median": None, "runs": 0},
        ],
    }
    output = tmp_path / "results.json"
    output.write_text(json.dumps(previous), encoding="utf-8")
    measured = [
        {"name": "import_users_per_s", "users": 100000, "median": 21.0, "runs": 3,
         "measured": "2026-02-02T00:00:00Z"},
    ]  # fmt: skip

    rows = merged_figures(measured, output)

    assert rows == [
        measured[0],
        {"name": "daemon_rss", "users": 1000000, "median": 363.0, "runs": 3,
         "measured": "2026-01-01T00:00:00Z"},
    ]  # fmt: skip
    assert merged_figures(measured, tmp_path / "missing.json") == measured
