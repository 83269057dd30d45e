"""A real mosquitto on a free loopback port, with a generated configuration: started and
stopped by the caller (also in the middle of a run, on the same port, for an outage).
The MQTT tests and the fleet simulator (`benchmarks.fleet`) use it; Debian's `mosquitto`
package provides the broker (scripts/system-deps.sh), no service is needed."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available() -> bool:
    return Path(MOSQUITTO).exists()


class Mosquitto:
    """One broker. `users` (name -> password) and `acl` (mosquitto acl_file text) turn on
    authentication; without them anyone may connect and publish anywhere. `tls` (CA,
    certificate, key) makes the listener TLS only, and requires a client certificate
    signed by that CA (its common name is the client's user)."""

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, str] | None = None,
        acl: str = "",
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Sessions and their queued messages outlive a restart: the checker's
            # subscription sees what was published while it or the broker was away.
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 0",
            f"user {getpass.getuser()}",  # as root, mosquitto would drop to its own user
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
        ]
        self.tls = tls is not None
        if tls is not None:
            ca, cert, key = tls
            lines[1:1] = [
                f"cafile {ca}",
                f"certfile {cert}",
                f"keyfile {key}",
                "require_certificate true",
                "use_identity_as_username true",
            ]
        if users:
            passwords = directory / "passwords"
            passwords.touch(mode=0o600)
            for name, password in users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(passwords), name, password],
                    check=True,
                    capture_output=True,
                )
            (directory / "acl").write_text(acl)
            lines += [
                "allow_anonymous false",
                f"password_file {passwords}",
                f"acl_file {directory / 'acl'}",
            ]
        else:
            lines.append("allow_anonymous true")
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        log = (self.directory / "mosquitto.log").open("ab")
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.directory / 'mosquitto.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def rss_kib(self) -> int:
        """The broker's resident memory (VmRSS)."""
        assert self._process is not None
        status = Path(f"/proc/{self._process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])
