"""A spy on `os.fsync`: did a file reach the disk whole, and its name with it?"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest


class FsyncSpy:
    """Records every fsync (inode, directory or not) made while installed.

    A file survives a power cut when its own data was fsynced before it got its name, and
    its directory was fsynced after: `made_durable(path)` checks exactly that order.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.synced: list[tuple[int, bool]] = []
        real: Callable[[int], None] = os.fsync

        def spy(fd: int) -> None:
            info = os.fstat(fd)
            self.synced.append((info.st_ino, stat.S_ISDIR(info.st_mode)))
            real(fd)

        monkeypatch.setattr(os, "fsync", spy)

    def made_durable(self, path: Path) -> bool:
        """The file now at `path` was fsynced, then its directory was."""
        file_inode = path.stat().st_ino
        dir_inode = path.parent.stat().st_ino
        if (file_inode, False) not in self.synced:
            return False
        after = self.synced[self.synced.index((file_inode, False)) + 1 :]
        return (dir_inode, True) in after
