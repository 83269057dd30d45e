"""Where each OSDP reader's Secure Channel base key (SCBK) lives: one file per reader in
the state dir, `osdp/<reader name>.scbk`, 32 hex digits, mode 0600.

A key is made once, from the operating system's random source, the first time a reader
in install mode has none, and written (atomically, never replaced) before the gateway
sends it to the reader: a power cut between the two leaves a key on disk that the reader
may lack, never a reader keyed with a key the gateway lost. Keys are never logged and
never shown: `status()` says only whether a reader has one (docs/osdp.md).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from gateway.atomicfile import state_file_owner, write_atomically

SCBK_BYTES = 16
KEY_DIR = "osdp"
KEY_SUFFIX = ".scbk"
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{32}")


class KeyFileError(Exception):
    """A key file exists but cannot be used (the message says why; never the key)."""


class OsdpKeyStore:
    """The SCBK files under `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir / KEY_DIR

    def path(self, reader: str) -> Path:
        """The file of reader `reader`'s key."""
        return self._dir / f"{reader}{KEY_SUFFIX}"

    def load(self, reader: str) -> bytes | None:
        """The reader's key, or None if it has none yet; KeyFileError if the file is
        unreadable, not 32 hex digits, or readable by others than the daemon's user."""
        path = self.path(reader)
        try:
            info = path.stat()
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read the key file {path}: {type(exc).__name__}") from None
        if info.st_mode & 0o077:
            raise KeyFileError(f"the key file {path} is readable by others (want mode 0600)")
        if not _HEX_KEY.fullmatch(text):
            raise KeyFileError(f"the key file {path} does not hold 32 hex digits")
        return bytes.fromhex(text)

    def create(self, reader: str) -> bytes:
        """A fresh random key for `reader`, on disk (0600) before it is returned. If the
        file appeared meanwhile, that key is kept and returned."""
        key = secrets.token_bytes(SCBK_BYTES)
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = state_file_owner(self._dir.parent)
        if owner is not None:
            os.chown(self._dir, *owner)
        try:
            write_atomically(
                self.path(reader), key.hex().encode("ascii"), owner=owner, replace=False
            )
        except FileExistsError:
            existing = self.load(reader)
            if existing is None:  # removed again in between: a broken state dir
                raise KeyFileError(f"the key file {self.path(reader)} vanished") from None
            return existing
        return key

    def load_or_create(self, reader: str) -> tuple[bytes, bool]:
        """The reader's key, made if it has none; and whether it was just made."""
        key = self.load(reader)
        if key is not None:
            return key, False
        return self.create(reader), True
