"""Each OSDP reader's Secure Channel key: made only in install mode, kept 0600 in the state
dir, never logged; without a key (or without libosdp) the reader shows why it is offline."""

from __future__ import annotations

import asyncio
import logging
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.hw.factory import SimulatedHardware
from gateway.hw.osdp_keys import OsdpKeyStore
from gateway.hw.osdp_reader import OsdpReader
from gateway.hw.readers import ReaderContext, UnavailableReader, build_reader
from tests.osdp.harness import Recorder, osdp_settings


@pytest.fixture
def hardware() -> Iterator[SimulatedHardware]:
    hardware = SimulatedHardware()
    yield hardware
    hardware.close()


def context(hardware: SimulatedHardware, state_dir: Path) -> ReaderContext:
    recorder = Recorder()
    loop = asyncio.get_event_loop()
    return ReaderContext(hardware, loop, recorder, hardware.clock, (), recorder.emit, state_dir)


async def test_without_a_key_and_install_mode_the_reader_says_what_to_do(
    hardware: SimulatedHardware, tmp_path: Path
) -> None:
    reader = build_reader(osdp_settings(), context(hardware, tmp_path))
    assert isinstance(reader, UnavailableReader)
    assert "set install = true" in reader.status()["offline_reason"]
    assert not (tmp_path / "osdp").exists()  # no key is made outside install mode


async def test_install_mode_makes_a_private_key_once_and_never_logs_it(
    hardware: SimulatedHardware, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = osdp_settings(install=True)
    reader = build_reader(settings, context(hardware, tmp_path))
    assert isinstance(reader, OsdpReader)
    path = tmp_path / "osdp" / "gate-osdp.scbk"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = path.read_text()
    assert len(key) == 32 and bytes.fromhex(key)
    assert key not in caplog.text and key not in str(reader.status()).lower()
    # the next start uses the same key, install mode or not
    assert OsdpKeyStore(tmp_path).load("gate-osdp") == bytes.fromhex(key)
    again = build_reader(osdp_settings(name="gate-osdp"), context(hardware, tmp_path))
    assert isinstance(again, OsdpReader) and path.read_text() == key


async def test_a_key_file_others_can_read_is_refused(
    hardware: SimulatedHardware, tmp_path: Path
) -> None:
    (tmp_path / "osdp").mkdir()
    key_file = tmp_path / "osdp" / "gate-osdp.scbk"
    key_file.write_text("00" * 16)
    key_file.chmod(0o644)
    reader = build_reader(osdp_settings(), context(hardware, tmp_path))
    assert isinstance(reader, UnavailableReader)
    assert "readable by others" in reader.status()["offline_reason"]
    assert "00" * 16 not in reader.status()["offline_reason"]


async def test_without_libosdp_the_reader_is_offline_with_the_reason(
    hardware: SimulatedHardware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An armhf install: PyPI has no libosdp wheel for it (docs/packaging.md).
    monkeypatch.setitem(sys.modules, "osdp", None)
    monkeypatch.setitem(sys.modules, "gateway.hw.osdp_bus", None)
    reader = build_reader(osdp_settings(install=True), context(hardware, tmp_path))
    assert isinstance(reader, UnavailableReader)
    assert "libosdp" in reader.status()["offline_reason"]
    assert not (tmp_path / "osdp").exists()
