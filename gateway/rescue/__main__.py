"""`python -m gateway.rescue`: Super Mode's process (the unit door-gateway-rescue.service).

It reads the rescue list and the device key from the state directory and runs one
`RescueDoor` until SIGTERM or SIGINT; the door is locked on the way in and on the way out.
A missing or damaged list opens nothing: the process logs why and waits, touching no GPIO
line, so the unit's state still tells that Super Mode was started.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from gateway.clock import SystemClock
from gateway.doors.timers import LoopTimers
from gateway.hw.gpio import GpioLines, SimulatedFactory, real_pin_factory
from gateway.rescue.door import RescueDoor, file_log
from gateway.rescue.files import RescueListError, read_device_key, read_plan

DEFAULT_STATE_DIR = "/var/lib/door-gateway"
log = logging.getLogger("gateway.rescue")


async def serve(state_dir: Path, stop: asyncio.Event) -> None:
    """Run Super Mode for the list in `state_dir` until `stop` is set."""
    try:
        plan = read_plan(state_dir)
        key = read_device_key(state_dir)
    except RescueListError as exc:
        log.error("Super Mode opens nothing: %s", exc)
        await stop.wait()
        return
    lines = GpioLines(SimulatedFactory() if plan.simulated else real_pin_factory())
    try:
        loop = asyncio.get_running_loop()
        clock = SystemClock()
        door = RescueDoor(plan, key, lines, loop, LoopTimers(loop), clock, file_log(state_dir))
        try:
            door.start()
            await stop.wait()
        finally:
            door.close()
    finally:
        lines.close()


async def _main(state_dir: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(state_dir, stop)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run until stopped."""
    parser = argparse.ArgumentParser(
        prog="door-gateway-rescue",
        description="Super Mode: open one door for the rescue list's cards (docs/rescue.md)",
    )
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(_main(args.state_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
