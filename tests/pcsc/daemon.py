"""A private pcscd with the vpcd virtual reader, for the tests of the PC/SC reader.

Isolation from anything else on the machine (a system pcscd, systemd's pcscd.socket, a
vpcd on its default port 35963):
- the socket: pcscd 1.9 has its socket path compiled in (/run/pcscd/pcscd.comm), but it
  accepts a listening socket handed over by systemd (LISTEN_FDS/LISTEN_PID, fd 3). We create
  one in a private directory and hand it over the same way; the client library in this
  process is pointed at it with PCSCLITE_CSOCK_NAME, which it reads once, on first use.
- the readers: `-c` gives pcscd a private reader.conf.d holding only vpcd, with a reader
  name of our own and a free pair of TCP ports (vpcd opens two slots: port and port + 1).
pcscd still writes /run/pcscd/pcscd.pid, which is why it must run as root (CI does).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_NAME = "Gateway Test vpcd"  # pcscd appends " 00 00" and " 00 01" for the two slots
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

# Runs in the child: puts the listening socket on fd 3 as systemd would, names the process
# that may use it (its own pid, which exec keeps), then becomes pcscd.
_LAUNCH = (
    "import os, sys\n"
    "fd = int(sys.argv[1])\n"
    "if fd != 3:\n"
    "    os.dup2(fd, 3)\n"
    "    os.close(fd)\n"
    "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def missing_requirements() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return (
            "the pcscd+vpcd tests must run as root (pcscd writes /run/pcscd); "
            "CI runs them as root: `sudo .venv/bin/pytest tests/pcsc`"
        )
    if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
        return "pcscd or vpcd missing: run `sudo bash scripts/system-deps.sh test`"
    return None


def free_port_pair() -> int:
    """A TCP port such that it and the next one are free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free TCP ports")


class PcscDaemon:
    """pcscd in the foreground with a private socket and a private vpcd configuration."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket_path = directory / "pcscd.comm"
        self.log_path = directory / "pcscd.log"
        self.port = free_port_pair()
        self.slot_names = (f"{READER_NAME} 00 00", f"{READER_NAME} 00 01")
        config = directory / "reader.conf.d"
        config.mkdir(exist_ok=True)
        (config / "vpcd").write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
            f"CHANNELID 0x{self.port:04X}\n",
            encoding="utf-8",
        )
        self._config = config
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start pcscd; returns once pyscard sees both vpcd slots."""
        listener = self._listen()
        with listener, self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, str(listener.fileno()), *self._command()],
                pass_fds=(listener.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_for_readers()

    def stop(self) -> None:
        """Stop pcscd (SIGTERM, then SIGKILL) and remove its socket: clients see no service."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_S)
            self._process = None
        self.socket_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        """The end of pcscd's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _command(self) -> list[str]:
        # --auto-exit: a pcscd orphaned by a killed test run leaves after 60 s without clients.
        return [
            shutil.which("pcscd") or "pcscd",
            "--foreground",
            "--auto-exit",
            "--debug",
            "--apdu",
            "--config",
            str(self._config),
        ]

    def _listen(self) -> socket.socket:
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(16)
        return listener

    def _wait_for_readers(self) -> None:
        from smartcard.System import readers

        deadline = time.monotonic() + START_TIMEOUT_S
        seen: list[str] = []
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                seen = [str(reader) for reader in readers()]
            except Exception:  # not listening yet
                seen = []
            if all(name in seen for name in self.slot_names):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"pcscd did not show the vpcd readers within {START_TIMEOUT_S} s "
            f"(saw {seen}); log:\n{self.log_tail()}"
        )
