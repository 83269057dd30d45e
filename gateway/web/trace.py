"""The decision trace of one journaled event, as the API and the status page show it:
the rules consulted in order, which one decided, the engine's notes, the latency and the
frame the reader sent (docs/api.md, "The decision trace")."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import StoredEvent

STEP_SEPARATOR = " > "  # as `Decision.journal_trace` joins the steps
NOTE_PREFIX = "note:"


@dataclass(frozen=True)
class DecisionTrace:
    """What decided an event, read from its journal row."""

    steps: tuple[str, ...]  # rules (or the upstream answer) consulted, in order
    notes: tuple[str, ...]  # what the engine noted on the way (not a rule)
    decided_by: str | None  # the last step: the rule or answer that settled it
    source: str | None  # "cache", "upstream", "policy", ... (the journal's `source`)
    latency_ms: float | None  # credential delivered -> decision journaled
    raw: str | None  # the frame as the reader sent it (bits, bytes), when the journal has it

    def as_dict(self) -> dict[str, object]:
        return {
            "steps": list(self.steps),
            "notes": list(self.notes),
            "decided_by": self.decided_by,
            "source": self.source,
            "latency_ms": self.latency_ms,
            "raw": self.raw,
        }


def decision_trace(event: StoredEvent) -> DecisionTrace:
    """The trace of `event` (any event: one that is not a decision has its trace text as
    its only step)."""
    parts = [part for part in event.trace.split(STEP_SEPARATOR) if part]
    steps = tuple(part for part in parts if not part.startswith(NOTE_PREFIX))
    notes = tuple(part.removeprefix(NOTE_PREFIX) for part in parts if part.startswith(NOTE_PREFIX))
    return DecisionTrace(
        steps=steps,
        notes=notes,
        decided_by=_decisive(steps, event.reason),
        source=event.source,
        latency_ms=event.latency_ms,
        raw=event.raw,
    )


def _decisive(steps: tuple[str, ...], reason: str) -> str | None:
    """The step that settled it: the last one, or the one before when the engine ended
    the trace with the reason itself (a denial from the cache does)."""
    if len(steps) > 1 and steps[-1] == reason:
        return steps[-2]
    return steps[-1] if steps else None
