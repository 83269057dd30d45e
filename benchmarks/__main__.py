"""`make bench`: every figure of `benchmarks.figures`, against its target, for N users.

    python -m benchmarks [--users 10000,100000] [--repetitions 3] [--only decide,idle]
                         [--output benchmarks/results.json] [--merge]

By default N is 10,000 and 100,000 users, and 1,000,000 too with `BENCH_FULL=1`. Writes
the results (the machine, then one row per figure and user count: median, p99, runs,
target, pass/FAIL) as JSON, and prints them as a table. The exit status is 0 whatever the
figures say: they are measurements, not a gate; the table says FAIL where a target is
missed or a figure could not be measured. With `--merge`, the figures not measured this
time (left out by `--only`) keep their rows from the output file, each with the time it
was measured, so one source can be measured again without running them all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.figures import FIGURES, SOURCES
from benchmarks.machine import describe_machine
from benchmarks.report import Row, judge, table

DEFAULT_USERS = (10_000, 100_000)
FULL_USERS = 1_000_000
DEFAULT_REPETITIONS = 3
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
SKIPPED = "skipped (--only)"


def user_counts(given: str | None, environ: dict[str, str]) -> list[int]:
    """The user counts to measure: `--users` if given, else the defaults (+1M when full)."""
    if given:
        return sorted({int(part.replace("_", "")) for part in given.split(",") if part})
    counts = list(DEFAULT_USERS)
    if environ.get("BENCH_FULL", "") not in ("", "0"):
        counts.append(FULL_USERS)
    return counts


def measure_all(users: list[int], repetitions: int, only: set[str] | None) -> list[Row]:
    """Run every selected source and judge every figure it owns."""
    rows: list[Row] = []
    for source in SOURCES:
        figures = [figure for figure in FIGURES if figure.source == source.name]
        if only is not None and source.name not in only:
            rows.extend(judge(figure, None, None, SKIPPED) for figure in figures)
            continue
        for count in users if source.per_users else users[:1]:
            print(f"bench: {source.name} at {count:,} users ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            error = ""
            try:
                samples = source.load()(count, repetitions)
            except Exception as exc:  # a source that fails leaves its figures unmeasured
                samples, error = {}, f"{type(exc).__name__}: {exc}"
            took = time.monotonic() - started
            print(f"bench: {source.name} took {took:.1f} s {error}", file=sys.stderr, flush=True)
            for figure in figures:
                at = count if source.per_users else None
                rows.append(judge(figure, at, samples.get(figure.name), error))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure, write the JSON, print the table; always 0 (figures, not a gate)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", help="comma-separated user counts (default 10k,100k)")
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument("--only", help="comma-separated source names (default: all)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--merge", action="store_true", help="keep the output's rows of figures not measured"
    )
    args = parser.parse_args(argv)
    users = user_counts(args.users, dict(os.environ))
    only = set(args.only.split(",")) if args.only else None
    started = time.time()
    machine = describe_machine()
    rows = measure_all(users, max(1, args.repetitions), only)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    figures = [{**row.as_json(), "measured": stamp} for row in rows]
    if args.merge:
        figures = merged_figures([f for f in figures if f["error"] != SKIPPED], args.output)
        # The file's user counts are those of its rows, whichever run measured them.
        users = sorted(set(users) | {f["users"] for f in figures if f["users"]})
    result = {
        "machine": machine,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "users": users,
        "repetitions": args.repetitions,
        "figures": figures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(f"\n{machine['summary']}\nwritten to {args.output}")
    return 0


def merged_figures(measured: list[dict[str, Any]], previous_path: Path) -> list[dict[str, Any]]:
    """`measured`, then every row of the file at `previous_path` for a figure and user
    count not measured now (each keeps the time it was measured)."""
    try:
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return measured
    fresh = {(row["name"], row["users"]) for row in measured}
    kept = [
        {**row, "measured": row.get("measured", previous.get("started"))}
        for row in previous.get("figures", [])
        if (row.get("name"), row.get("users")) not in fresh and row.get("runs")
    ]
    return measured + kept


if __name__ == "__main__":
    raise SystemExit(main())
