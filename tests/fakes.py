"""Fakes with verbs for unit tests."""

from __future__ import annotations

from datetime import datetime


class ManualClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 1000.0

    @classmethod
    def at(cls, when: datetime) -> ManualClock:
        """A clock set to an aware datetime."""
        return cls(when.timestamp())

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._wall += seconds
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump the wall clock to an aware datetime (monotonic moves by the same amount)."""
        delta = when.timestamp() - self._wall
        self._wall += delta
        self._mono += max(delta, 0.0)
