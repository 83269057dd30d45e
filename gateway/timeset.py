"""The device's clock and NTP setting (ACTAtek section 10), behind one seam: the system
time part of `gateway.hw.factory.Hardware`, which makes one of these.

- `TimedatectlTime` (a real Pi): the system clock is the device's clock. Setting the time
  runs `timedatectl set-time @EPOCH`; NTP is systemd-timesyncd, switched with
  `timedatectl set-ntp` and pointed at servers through a drop-in file
  (`/etc/systemd/timesyncd.conf.d/50-door-gateway.conf`). Every command runs as an asyncio
  subprocess with a deadline, so the event loop never waits on it. The service needs a
  polkit rule letting its user call org.freedesktop.timedate1 (set-time, set-ntp) and the
  drop-in directory in its `ReadWritePaths`; without them the API answers the error.
- `SimulatedTime` (simulation): nothing outside the process changes. A time set through
  the API is kept as an offset in the store and applied to the time the API shows; the
  daemon's own clock (timestamps, schedules, timers) stays real.

Both refuse to set the time while NTP is enabled, as timedatectl does: NTP would undo it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any, Protocol

from gateway.atomicfile import write_atomically
from gateway.clock import Clock
from gateway.device_time import NtpSetting, TimeSettingError

DROPIN = Path("/etc/systemd/timesyncd.conf.d/50-door-gateway.conf")
COMMAND_TIMEOUT_S = 10.0
SIMULATED_KEY = "simulated_time"
# What Raspberry Pi OS (Debian) ships as systemd-timesyncd's fallback servers.
DEFAULT_SERVERS: tuple[str, ...] = tuple(f"{n}.debian.pool.ntp.org" for n in range(4))


class SettingsStore(Protocol):
    """Where the simulated clock keeps its offset (the terminal settings in the store)."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any) -> None: ...


def ntp_is_on() -> TimeSettingError:
    """The refusal to set the time while NTP runs (a fresh exception each time)."""
    return TimeSettingError(
        "NTP is enabled and would undo a manual time: disable NTP first", fault=False
    )


class TimedatectlTime:
    """The real system clock and systemd-timesyncd, through `timedatectl`."""

    def __init__(
        self,
        clock: Clock,
        binary: str = "timedatectl",
        dropin: Path = DROPIN,
        timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self._clock = clock
        self._binary = binary
        self._dropin = dropin
        self._timeout_s = timeout_s

    async def _run(self, *args: str) -> str:
        """Run `timedatectl ARGS` and return its output; `TimeSettingError` on failure."""
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: a timeout kills it whole
            )
        except OSError as exc:
            raise TimeSettingError(f"cannot run {self._binary}: {exc.strerror}") from exc
        try:
            out, err = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise TimeSettingError(f"timedatectl {args[0]} did not answer in time") from None
        if process.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[:1]
            raise TimeSettingError(f"timedatectl {args[0]} failed: {''.join(detail)}".strip())
        return out.decode(errors="replace").strip()

    async def now(self) -> float:
        return self._clock.time()

    async def set_time(self, epoch: float) -> None:
        if (await self.ntp()).enabled:
            raise ntp_is_on()
        await self._run("set-time", f"@{int(epoch)}")

    async def ntp(self) -> NtpSetting:
        enabled = await self._run("show", "--property=NTP", "--value") == "yes"
        return NtpSetting(await self._servers(), enabled)

    async def _servers(self) -> tuple[str, ...]:
        loop = asyncio.get_running_loop()
        configured = await loop.run_in_executor(None, _read_dropin, self._dropin)
        if configured:
            return configured
        for prop in ("SystemNTPServers", "FallbackNTPServers"):
            try:  # timesyncd answers only while it runs (NTP enabled)
                servers = await self._run("show-timesync", f"--property={prop}", "--value")
            except TimeSettingError:
                return ()
            if servers:
                return tuple(servers.split())
        return ()

    async def set_ntp(self, setting: NtpSetting) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _write_dropin, self._dropin, setting.servers)
        except OSError as exc:
            raise TimeSettingError(f"cannot write {self._dropin}: {exc.strerror}") from exc
        # Switching off and on restarts timesyncd, which then reads the new servers.
        await self._run("set-ntp", "false")
        if setting.enabled:
            await self._run("set-ntp", "true")


def _read_dropin(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ()
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "NTP":
            return tuple(value.split())
    return ()


def _write_dropin(path: Path, servers: tuple[str, ...]) -> None:
    """Write the drop-in atomically: timesyncd never reads half a file."""
    text = (
        "# Written by door-gateway (ACTAtek API: set NTP Server setting); edits are replaced.\n"
        f"[Time]\nNTP={' '.join(servers)}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text.encode("utf-8"), 0o644)  # timesyncd reads it as its own user


class SimulatedTime:
    """The simulated device clock: an offset and an NTP setting kept in the store."""

    def __init__(self, clock: Clock, store: SettingsStore) -> None:
        self._clock = clock
        self._store = store

    def _state(self) -> dict[str, Any]:
        saved = self._store.get(SIMULATED_KEY)
        state: dict[str, Any] = {
            "offset_s": 0.0,
            "ntp_servers": list(DEFAULT_SERVERS),
            "ntp_enabled": True,
        }
        if isinstance(saved, dict):
            state.update(saved)
        return state

    async def now(self) -> float:
        return self._clock.time() + float(self._state()["offset_s"])

    async def set_time(self, epoch: float) -> None:
        state = self._state()
        if state["ntp_enabled"]:
            raise ntp_is_on()
        state["offset_s"] = epoch - self._clock.time()
        self._store.put(SIMULATED_KEY, state)

    async def ntp(self) -> NtpSetting:
        state = self._state()
        return NtpSetting(tuple(state["ntp_servers"]), bool(state["ntp_enabled"]))

    async def set_ntp(self, setting: NtpSetting) -> None:
        state = self._state()
        state["ntp_servers"] = list(setting.servers)
        state["ntp_enabled"] = setting.enabled
        if setting.enabled:
            state["offset_s"] = 0.0  # NTP brings the clock back to the real time
        self._store.put(SIMULATED_KEY, state)
