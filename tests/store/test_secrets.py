"""The device key: made once, whole, private; a damaged one stops start-up with a clear
message and is never silently replaced (that would invalidate every PIN)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.store.errors import StoreError
from gateway.store.secrets import (
    DEVICE_KEY_FILE,
    DeviceKeyError,
    load_or_create_device_key,
)
from tests.durability import FsyncSpy
from tests.test_atomicfile import FailingDisk


def test_the_first_start_makes_a_private_32_byte_key_and_keeps_it(tmp_path: Path) -> None:
    key = load_or_create_device_key(tmp_path)
    path = tmp_path / DEVICE_KEY_FILE
    assert len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_device_key(tmp_path) == key  # the next start reads the same key
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEVICE_KEY_FILE]


def test_a_power_cut_during_the_first_start_leaves_no_truncated_key(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_or_create_device_key(tmp_path, disk=FailingDisk(space=5))
    assert not (tmp_path / DEVICE_KEY_FILE).exists()
    key = load_or_create_device_key(tmp_path)  # the next start simply makes one
    assert len(key) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEVICE_KEY_FILE]


@pytest.mark.parametrize("damaged", [b"", b"\x01" * 31], ids=["empty", "truncated"])
def test_a_damaged_key_stops_start_up_and_is_kept(tmp_path: Path, damaged: bytes) -> None:
    path = tmp_path / DEVICE_KEY_FILE
    path.write_bytes(damaged)
    with pytest.raises(DeviceKeyError) as failure:
        load_or_create_device_key(tmp_path)
    message = str(failure.value)
    assert str(path) in message and f"{len(damaged)} of 32 bytes" in message
    assert "backup" in message and "new PIN" in message
    assert isinstance(failure.value, StoreError)  # the CLI's one-line "cannot start"
    assert path.read_bytes() == damaged  # never regenerated behind the admin's back


def test_pins_hashed_before_a_restart_still_match_after_it(tmp_path: Path) -> None:
    before = PinHasher(load_or_create_device_key(tmp_path)).hash("2468")
    after = PinHasher(load_or_create_device_key(tmp_path)).hash("2468")
    assert before == after


def test_the_new_key_reaches_the_disk_before_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = FsyncSpy(monkeypatch)
    load_or_create_device_key(tmp_path)
    assert spy.made_durable(tmp_path / DEVICE_KEY_FILE)
