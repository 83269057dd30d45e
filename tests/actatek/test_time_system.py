"""The real time seam (`TimedatectlTime`) against a stand-in `timedatectl` that records
its arguments: what runs, in which order, and how failures become `TimeSettingError`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.device_time import NtpSetting, TimeSettingError
from gateway.timeset import TimedatectlTime
from tests.durability import FsyncSpy

SCRIPT = """#!/bin/sh
echo "$@" >> {log}
case "$1" in
  show) cat {state} ;;
  show-timesync) echo "time1.example.com time2.example.com" ;;
  set-ntp) if [ "$2" = true ]; then echo yes > {state}; else echo no > {state}; fi ;;
  set-time) {set_time} ;;
esac
"""


def fake(tmp_path: Path, ntp: str = "yes", set_time: str = "true") -> tuple[Path, Path]:
    """A stand-in timedatectl; returns (its path, the file its calls are logged to)."""
    log, state = tmp_path / "calls.log", tmp_path / "ntp.state"
    state.write_text(ntp + "\n")
    binary = tmp_path / "timedatectl"
    binary.write_text(SCRIPT.format(log=log, state=state, set_time=set_time))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary, log


def seam(tmp_path: Path, binary: Path, timeout_s: float = 5.0) -> TimedatectlTime:
    dropin = tmp_path / "timesyncd.conf.d" / "50-door-gateway.conf"
    return TimedatectlTime(SystemClock(), str(binary), dropin, timeout_s)


async def test_reads_ntp_from_timedatectl_and_timesyncd(tmp_path: Path) -> None:
    binary, log = fake(tmp_path)
    setting = await seam(tmp_path, binary).ntp()
    assert setting == NtpSetting(("time1.example.com", "time2.example.com"), True)
    assert log.read_text().splitlines() == [
        "show --property=NTP --value",
        "show-timesync --property=SystemNTPServers --value",
    ]


async def test_set_time_is_refused_while_ntp_runs_then_sent_as_epoch(tmp_path: Path) -> None:
    binary, log = fake(tmp_path)
    time = seam(tmp_path, binary)
    with pytest.raises(TimeSettingError) as refused:
        await time.set_time(1_893_553_445.7)
    assert refused.value.fault is False and "NTP" in refused.value.message
    assert not any(line.startswith("set-time") for line in log.read_text().splitlines())
    await time.set_ntp(NtpSetting(("a.example.com",), False))
    await time.set_time(1_893_553_445.7)
    assert log.read_text().splitlines()[-1] == "set-time @1893553445"


async def test_set_ntp_writes_the_dropin_and_restarts_timesyncd(tmp_path: Path) -> None:
    binary, log = fake(tmp_path, ntp="no")
    time = seam(tmp_path, binary)
    await time.set_ntp(NtpSetting(("0.pool.ntp.org", "10.0.0.1"), True))
    dropin = tmp_path / "timesyncd.conf.d" / "50-door-gateway.conf"
    assert "[Time]\nNTP=0.pool.ntp.org 10.0.0.1\n" in dropin.read_text()
    assert log.read_text().splitlines()[-2:] == ["set-ntp false", "set-ntp true"]
    assert await time.ntp() == NtpSetting(("0.pool.ntp.org", "10.0.0.1"), True)


async def test_the_dropin_survives_a_power_cut_and_timesyncd_can_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary, _ = fake(tmp_path, ntp="no")
    spy = FsyncSpy(monkeypatch)
    await seam(tmp_path, binary).set_ntp(NtpSetting(("10.0.0.1",), True))
    dropin = tmp_path / "timesyncd.conf.d" / "50-door-gateway.conf"
    assert spy.made_durable(dropin)
    assert stat.S_IMODE(dropin.stat().st_mode) == 0o644
    assert sorted(p.name for p in dropin.parent.iterdir()) == [dropin.name]


async def test_failures_become_time_setting_errors(tmp_path: Path) -> None:
    binary, _ = fake(tmp_path, ntp="no", set_time="echo 'Access denied' >&2; exit 1")
    with pytest.raises(TimeSettingError) as failed:
        await seam(tmp_path, binary).set_time(1_893_553_445)
    assert failed.value.fault and "Access denied" in failed.value.message
    slow, _ = fake(tmp_path, ntp="no", set_time="sleep 5")
    with pytest.raises(TimeSettingError, match="did not answer"):
        await seam(tmp_path, slow, timeout_s=0.2).set_time(1_893_553_445)
    with pytest.raises(TimeSettingError, match="cannot run"):
        await seam(tmp_path, tmp_path / "no-such-binary").ntp()
