"""Files written so that a power cut leaves the old file or the new one, never half of one.

Every file door-gateway writes outside SQLite goes through `write_atomically`: the bytes go
to a temporary file beside the target, which is fsynced, renamed over the target, and then
the directory is fsynced so that the rename itself is on disk.

Writers of one directory take an exclusive `flock` on it for the few milliseconds of a
write, so two processes (the daemon and `door-gateway passwd`) never share the temporary
file, and a temporary file left by a power cut is simply removed by the next writer.
Readers never look at temporary files: they open the target, which is always whole.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Protocol

TEMP_SUFFIX = ".tmp"


class Disk(Protocol):
    """The two calls that put a file's bytes on disk (tests make them fail part-way)."""

    def write(self, fd: int, data: memoryview) -> int:
        """Write some of `data`; return how many bytes were written."""
        ...

    def fsync(self, fd: int) -> None:
        """Flush the file (or directory) behind `fd` to the disk."""
        ...


class OsDisk:
    """The real system calls."""

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)


OS_DISK = OsDisk()


def temp_path(path: Path) -> Path:
    """Where `write_atomically` stages `path`: a hidden name in the same directory."""
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def state_file_owner(directory: Path) -> tuple[int, int] | None:
    """The (uid, gid) a new file in `directory` must get, or None to keep the writer's.

    Run as root (`sudo door-gateway passwd`), a file written into the state dir would be
    root's and unreadable by the daemon, which runs as the state dir's owner."""
    if os.geteuid() != 0:
        return None
    info = os.stat(directory)
    return info.st_uid, info.st_gid


def write_atomically(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    *,
    owner: tuple[int, int] | None = None,
    replace: bool = True,
    disk: Disk = OS_DISK,
) -> None:
    """Put `data` at `path` with exactly `mode` (and `owner`), all or nothing.

    With `replace=False` an existing file is kept and `FileExistsError` is raised (for a
    file that must be made once, such as the device key, even by two processes at once).
    On any error the target is as it was and no temporary file is left.
    """
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)  # released when dir_fd is closed
        if not replace and _exists(path.name, dir_fd):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        temp = temp_path(path).name
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)  # what a power cut during a write left
        try:
            _write_file(temp, dir_fd, data, mode, owner, disk)
            os.replace(temp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
        _fsync_directory(dir_fd, disk)
    finally:
        os.close(dir_fd)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _write_file(
    name: str, dir_fd: int, data: bytes, mode: int, owner: tuple[int, int] | None, disk: Disk
) -> None:
    # O_EXCL | O_NOFOLLOW: a symlink planted at the temporary name (an export into a shared
    # directory) is refused, never followed.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, mode, dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode)  # exactly `mode`, whatever the umask took away
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[disk.write(fd, view) :]
        disk.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(dir_fd: int, disk: Disk) -> None:
    try:
        disk.fsync(dir_fd)
    except OSError as exc:
        # Some file systems cannot fsync a directory; the file itself is already on disk.
        if exc.errno != errno.EINVAL:
            raise
