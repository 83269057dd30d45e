"""Files written outside SQLite: after a failure part-way, the old file or the new one,
whole; never a truncated file, and no temporary file left behind."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.atomicfile import temp_path, write_atomically

OLD = b"old contents, whole\n"
NEW = b"new contents, " + b"x" * 10_000 + b"\n"


class FailingDisk:
    """The disk seam of `write_atomically`: writes at most `space` bytes, then fails as a
    full disk would; or fails the file's fsync (a power cut before the data was on disk)."""

    def __init__(self, space: int | None = None, fail_fsync: bool = False) -> None:
        self.space = space
        self.fail_fsync = fail_fsync
        self.written = 0

    def write(self, fd: int, data: memoryview) -> int:
        if self.space is not None:
            room = self.space - self.written
            if room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[:room]
        count = os.write(fd, data)
        self.written += count
        return count

    def fsync(self, fd: int) -> None:
        if self.fail_fsync:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_new_file_is_written_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, NEW)
    assert target.read_bytes() == NEW
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert names(tmp_path) == ["state.json"]


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)  # a service umask would turn 0644 into 0600
    try:
        write_atomically(tmp_path / "50-ntp.conf", NEW, mode=0o644)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "50-ntp.conf").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "disk",
    [FailingDisk(space=100), FailingDisk(space=0), FailingDisk(fail_fsync=True)],
    ids=["disk-full-part-way", "disk-full-at-once", "fsync-fails"],
)
def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, disk: FailingDisk) -> None:
    target = tmp_path / "login-locks.json"
    write_atomically(target, OLD)
    with pytest.raises(OSError):
        write_atomically(target, NEW, disk=disk)
    assert target.read_bytes() == OLD
    assert names(tmp_path) == ["login-locks.json"]  # no temporary file left


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path: Path) -> None:
    target = tmp_path / "device.key"
    with pytest.raises(OSError):
        write_atomically(target, NEW, disk=FailingDisk(space=7))
    assert names(tmp_path) == []


def test_a_temporary_file_left_by_a_power_cut_is_cleaned_and_ignored(tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    write_atomically(target, OLD)
    leftover = temp_path(target)
    leftover.write_bytes(b"half a fi")  # what a cut during the write left
    assert target.read_bytes() == OLD  # a reader only ever opens the target
    write_atomically(target, NEW)
    assert target.read_bytes() == NEW
    assert names(tmp_path) == ["users.csv"]


def test_a_temporary_name_that_is_a_symlink_is_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(OLD)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "users.csv"
    temp_path(target).symlink_to(elsewhere)
    write_atomically(target, NEW)
    assert elsewhere.read_bytes() == OLD
    assert target.read_bytes() == NEW and not target.is_symlink()


def test_create_only_never_replaces_a_file_made_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "device.key"
    write_atomically(target, OLD, replace=False)
    with pytest.raises(FileExistsError):
        write_atomically(target, NEW, replace=False)
    assert target.read_bytes() == OLD
    assert names(tmp_path) == ["device.key"]


def test_a_file_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomically(Path("users.xml"), NEW)
    assert (tmp_path / "users.xml").read_bytes() == NEW


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only): a disk that really fills up."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_leaves_the_old_file_whole(small_tmpfs: Path) -> None:
    target = small_tmpfs / "export.csv"
    write_atomically(target, OLD)
    with pytest.raises(OSError) as failure:
        write_atomically(target, b"y" * 200_000)  # three times the file system
    assert failure.value.errno == errno.ENOSPC
    assert target.read_bytes() == OLD
    assert names(small_tmpfs) == ["export.csv"]
