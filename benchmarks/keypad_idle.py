"""Idle cost of a matrix keypad: event-loop wake-ups per second and CPU time while nobody
touches it, on a real event loop over a few seconds (`python -m benchmarks.keypad_idle`).

A keypad that waits for edges should cost nothing at rest; one that polls pays a timer
wake-up and a matrix scan every scan interval. Prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from gateway.clock import SystemClock
from gateway.hw.keypad import MatrixKeypad, SimulatedKeyMatrix
from gateway.model import Credential
from gateway.settings import ReaderSettings

SECONDS = 10.0
SETTINGS = ReaderSettings(name="kp", kind="matrix_keypad", door="front")


class CountingLoop:
    """The keypad's view of the event loop, counting the callbacks that wake it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.wakeups = 0

    def _counted(self, callback: Callable[..., object]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            self.wakeups += 1
            callback(*args)

        return run

    def call_later(self, delay: float, callback: Callable[..., object]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay, self._counted(callback))

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        self._loop.call_soon_threadsafe(self._counted(callback), *args)


class NoKeys:
    def credential(self, credential: Credential) -> None:
        return None

    def key(self, reader: str, key: str, timestamp: float) -> None:
        return None


async def measure(seconds: float) -> dict[str, float]:
    """Run one idle keypad for `seconds`; wake-ups/s and process CPU share."""
    loop = CountingLoop(asyncio.get_running_loop())
    pad = MatrixKeypad(SETTINGS, loop, NoKeys(), SimulatedKeyMatrix(4, 3), SystemClock())
    cpu, wall = time.process_time(), time.monotonic()
    pad.start()
    await asyncio.sleep(seconds)
    pad.close()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {
        "seconds": round(wall, 2),
        "keypad_wakeups_per_s": round(loop.wakeups / wall, 1),
        "process_cpu_percent": round(100 * cpu / wall, 3),
    }


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS
    print(json.dumps({"keypad_idle": asyncio.run(measure(seconds))}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
