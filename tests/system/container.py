"""A Debian root booted with `systemd-nspawn -b`, and commands run inside it.

The cached root (scripts/debian-root.sh) is never written to: the container runs with
`--volatile=overlay`, its writes go to a tmpfs that vanishes when it stops. Nothing here
needs systemd, machined or D-Bus on the host: `--register=no --keep-unit` keep nspawn
from asking for them, and commands enter the container's namespaces with `nsenter`
(where `systemctl` talks to the container's own systemd). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ContainerError(AssertionError):
    """Something in the container did not happen in time; the message says what."""


@dataclass(frozen=True)
class Result:
    """What one command inside the container did."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return (
            f"`{self.command}` exited {self.returncode}\n"
            f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )


@dataclass
class Container:
    """One booted container; `start` boots it, `stop` powers it off."""

    root: Path
    name: str
    console_log: Path
    binds: dict[Path, str] = field(default_factory=dict)  # host dir -> read-only inside
    process: subprocess.Popen[bytes] | None = None
    leader: int = 0  # the container's PID 1 as the host sees it

    def start(self, boot_timeout: float) -> float:
        """Boot and wait until systemd says the boot is over; returns the seconds it took."""
        started = time.monotonic()
        command = [
            "systemd-nspawn", "--quiet", "--boot", f"--directory={self.root}",
            f"--machine={self.name}", "--volatile=overlay", "--register=no",
            "--keep-unit", "--console=read-only", "--timezone=off",
            "--resolv-conf=copy-host",
        ]  # fmt: skip
        command += [f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()]
        with self.console_log.open("wb") as console:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
            )
        self.leader = self._wait_for_leader(deadline=started + 30)
        self.wait_until(
            lambda: (
                self.run("systemctl is-system-running").stdout.strip() in {"running", "degraded"}
            ),
            timeout=max(1.0, boot_timeout - (time.monotonic() - started)),
            what="the container's systemd to finish booting",
        )
        return time.monotonic() - started

    def _wait_for_leader(self, deadline: float) -> int:
        """The container's init: the process below nspawn whose own PID namespace calls
        it 1."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ContainerError(
                    f"systemd-nspawn exited {self.process.returncode} while booting:\n"
                    + self.console()
                )
            for pid in _descendants(self.process.pid):
                if _namespace_pids(pid)[-1:] == [1] and len(_namespace_pids(pid)) > 1:
                    return pid
            time.sleep(0.2)
        raise ContainerError("the container's init did not appear within 30 s:\n" + self.console())

    def run(self, command: str, timeout: float = 60.0, check: bool = False) -> Result:
        """Run a shell command as root inside the container."""
        enter = [
            "nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net",
            "--pid", "--", "/usr/bin/env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
            "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "DEBIAN_FRONTEND=noninteractive",
            "/bin/sh", "-c", command,
        ]  # fmt: skip
        try:
            done = subprocess.run(enter, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ContainerError(f"`{command}` did not finish within {timeout:.0f} s") from exc
        result = Result(
            command,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise ContainerError(result.explain())
        return result

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll `ready` until it holds; returns the seconds waited."""
        started = time.monotonic()
        while not ready():
            if time.monotonic() - started > timeout:
                raise ContainerError(f"waited {timeout:.0f} s for {what}")
            time.sleep(0.5)
        return time.monotonic() - started

    def console(self) -> str:
        return self.console_log.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 60.0) -> None:
        """Power off (nspawn turns SIGTERM into an orderly shutdown); kill if it hangs.
        However nspawn ends, the container's init is killed after it: a killed nspawn
        leaves its init (and every process of the container) running otherwise."""
        try:
            self._stop_nspawn(timeout)
        finally:
            self._kill_leader()

    def _stop_nspawn(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # a container still booting may not heed it
            self.process.kill()
            self.process.wait(timeout=30)
        except KeyboardInterrupt:  # an interrupted run leaves no container behind
            self.process.kill()
            self.process.wait(timeout=30)
            raise

    def _kill_leader(self) -> None:
        """SIGKILL to a PID namespace's init ends every process in that namespace."""
        if not self.leader or len(_namespace_pids(self.leader)) < 2:
            return  # gone already (or its id now names a process of ours: leave it)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.leader, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(_children(child))
    return found


def _namespace_pids(pid: int) -> list[int]:
    """The `NSpid:` line: this process's id in each PID namespace, outermost first."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(part) for part in line.split()[1:]]
    except OSError:
        pass
    return []
