"""The machine the daemon runs on: clock synchronisation, CPU temperature, the Raspberry
Pi firmware's undervoltage and throttling flags, disk and memory.

Everything is read from files under `root` (`/` in production, a directory of fake files
in tests) and from the kernel's clock state, each time the status is asked for: a few
small reads, no subprocess. A value that cannot be read (not a Pi, a file missing, a
system call filtered) is None, never an error: the status page shows "not available".
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CPU_TEMPERATURE = "sys/class/thermal/thermal_zone0/temp"  # millidegrees Celsius
# The firmware's flags, as `vcgencmd get_throttled` prints them (hex), without a subprocess.
THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled"
MEMINFO = "proc/meminfo"

# Bits of get_throttled: (bit, name); "now" is the present state, "since_boot" sticky.
THROTTLE_FLAGS = (
    (0, "undervoltage_now"),
    (1, "frequency_capped_now"),
    (2, "throttled_now"),
    (3, "soft_temperature_limit_now"),
    (16, "undervoltage_since_boot"),
    (17, "frequency_capped_since_boot"),
    (18, "throttled_since_boot"),
    (19, "soft_temperature_limit_since_boot"),
)
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised (STA_UNSYNC)
TIMEX_BYTES = 512  # more than struct timex on any architecture; all zero = read only


def kernel_clock_synchronised() -> bool | None:
    """Whether an NTP client (systemd-timesyncd, chrony, ntpd) keeps the kernel clock
    synchronised, as adjtimex(2) with no change reports it; None when it cannot be asked.

    The C library is the one this process already has loaded (`CDLL(None)`): no search
    for it (`ctypes.util.find_library` runs a subprocess) on every status read."""
    try:
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex
        state = adjtimex(ctypes.create_string_buffer(TIMEX_BYTES))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return bool(state != TIME_ERROR)


class HostHealth:
    """The `system` part of the status: read afresh on every call."""

    def __init__(
        self,
        state_dir: Path,
        root: Path = Path("/"),
        clock_synchronised: Callable[[], bool | None] = kernel_clock_synchronised,
    ) -> None:
        self._state_dir = state_dir
        self._root = root
        self._clock_synchronised = clock_synchronised

    def status(self) -> dict[str, Any]:
        """Clock, temperature, firmware flags, disk of the state directory, memory."""
        total, available = self._memory()
        disk_total, disk_free = self._disk()
        return {
            "clock_synchronised": self._clock_synchronised(),
            "cpu_temperature_c": self._temperature(),
            "throttling": self._throttling(),
            "disk_total_bytes": disk_total,
            "disk_free_bytes": disk_free,
            "memory_total_bytes": total,
            "memory_available_bytes": available,
        }

    def _read(self, relative: str) -> str | None:
        try:
            return (self._root / relative).read_text(encoding="ascii", errors="replace")
        except OSError:
            return None

    def _temperature(self) -> float | None:
        text = self._read(CPU_TEMPERATURE)
        try:
            return None if text is None else round(int(text.strip()) / 1000.0, 1)
        except ValueError:
            return None

    def _throttling(self) -> dict[str, bool] | None:
        text = self._read(THROTTLED)
        if text is None:
            return None
        try:
            value = int(text.strip().removeprefix("throttled=").removeprefix("0x"), 16)
        except ValueError:
            return None
        return {name: bool(value >> bit & 1) for bit, name in THROTTLE_FLAGS}

    def _memory(self) -> tuple[int | None, int | None]:
        text = self._read(MEMINFO)
        if text is None:
            return None, None
        fields: dict[str, int] = {}
        for line in text.splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                fields[name] = int(parts[0]) * 1024  # kB
        return fields.get("MemTotal"), fields.get("MemAvailable")

    def _disk(self) -> tuple[int | None, int | None]:
        try:
            stat = os.statvfs(self._state_dir)
        except OSError:
            return None, None
        return stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
