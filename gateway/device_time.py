"""The seam of the device's clock and NTP setting (ACTAtek section 10): the `SystemTime`
protocol and the values it speaks in. `gateway.timeset` implements it (timedatectl on a
Pi, an offset in simulation).

Plain values with no I/O (a contract module, `scripts/check_layers.py`): the time endpoints
import them at run time and reach the device's clock through their context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class NtpSetting:
    """NTP servers (in order of preference) and whether the clock follows them."""

    servers: tuple[str, ...]
    enabled: bool


class TimeSettingError(Exception):
    """The time or NTP setting could not be read or changed; the message says why."""

    def __init__(self, message: str, fault: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.fault = fault  # True: the system failed (500); False: the request cannot be (400)


class SystemTime(Protocol):
    """What the time endpoints need of the device's clock."""

    async def now(self) -> float:
        """The device's current time as UTC epoch seconds."""
        ...

    async def set_time(self, epoch: float) -> None: ...

    async def ntp(self) -> NtpSetting: ...

    async def set_ntp(self, setting: NtpSetting) -> None: ...
