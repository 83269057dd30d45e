"""Judging a measured sample against its figure's target, and the table `make bench` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.figures import Figure, Sample

PASS, FAIL, NO_TARGET = "pass", "FAIL", "no target"


@dataclass(frozen=True)
class Row:
    """One figure at one user count (None: measured once, whatever the users)."""

    figure: Figure
    users: int | None
    sample: Sample | None
    target: str
    status: str
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row as results.json holds it."""
        sample = self.sample
        return {
            "name": self.figure.name,
            "unit": self.figure.unit,
            "description": self.figure.description,
            "users": self.users,
            "median": None if sample is None else _rounded(sample.median),
            "p99": None if sample is None else _rounded(sample.p99),
            "runs": 0 if sample is None else sample.runs,
            "target": self.target or None,
            "status": self.status,
            "error": self.error or None,
        }


def judge(figure: Figure, users: int | None, sample: Sample | None, error: str = "") -> Row:
    """The row for `figure`: pass, FAIL, or "-" when the figure has no target. A figure
    that was not measured FAILs, target or not: a missing number is never a pass."""
    target = figure.target_for(users)
    text = target.text() if target else ""
    if sample is None:
        return Row(figure, users, None, text, FAIL, error or "not measured")
    if target is None:
        return Row(figure, users, sample, text, NO_TARGET)
    return Row(figure, users, sample, text, PASS if target.passes(sample) else FAIL)


def _rounded(value: float) -> float:
    """Four significant digits: enough for a figure, short in JSON."""
    return float(f"{value:.4g}")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(rows: list[Row]) -> str:
    """A fixed-width table of every row, FAIL rows marked so they stand out."""
    header = ("figure", "users", "median", "p99", "unit", "target", "result")
    lines = [header]
    for row in rows:
        sample = row.sample
        status = row.status if not row.error else f"{row.status} ({row.error[:60]})"
        lines.append(
            (
                row.figure.name,
                "any" if row.users is None else f"{row.users:,}",
                _number(None if sample is None else sample.median),
                _number(None if sample is None else sample.p99),
                row.figure.unit,
                row.target or "-",
                status if row.status != FAIL else f"** {status} **",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(out)
