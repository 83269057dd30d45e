"""The machine's health as the status page shows it, read from fake /sys and /proc files."""

from __future__ import annotations

from pathlib import Path

from gateway.host import CPU_TEMPERATURE, MEMINFO, THROTTLED, HostHealth


def fake_root(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "root"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_pi_under_voltage_shows_its_temperature_flags_and_memory(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path,
        {
            CPU_TEMPERATURE: "61234\n",
            THROTTLED: "50005\n",  # under-voltage and throttled now, both since boot
            MEMINFO: "MemTotal:        3884096 kB\nMemFree: 1 kB\nMemAvailable:    2000000 kB\n",
        },
    )
    status = HostHealth(tmp_path, root, clock_synchronised=lambda: True).status()
    assert status["cpu_temperature_c"] == 61.2
    flags = status["throttling"]
    assert flags["undervoltage_now"] and flags["throttled_now"]
    assert flags["undervoltage_since_boot"] and flags["throttled_since_boot"]
    assert not flags["frequency_capped_now"] and not flags["soft_temperature_limit_now"]
    assert status["memory_total_bytes"] == 3884096 * 1024
    assert status["memory_available_bytes"] == 2000000 * 1024
    assert status["clock_synchronised"] is True
    assert status["disk_free_bytes"] > 0 and status["disk_total_bytes"] >= status["disk_free_bytes"]


def test_vcgencmd_style_text_is_read_too(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {THROTTLED: "throttled=0x0\n"})
    flags = HostHealth(tmp_path, root).status()["throttling"]
    assert flags is not None and not any(flags.values())


def test_a_machine_that_is_no_pi_shows_nothing_rather_than_failing(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {CPU_TEMPERATURE: "garbage", THROTTLED: "zz"})
    status = HostHealth(tmp_path / "gone", root, clock_synchronised=lambda: None).status()
    assert status == {
        "clock_synchronised": None,
        "cpu_temperature_c": None,
        "throttling": None,
        "disk_total_bytes": None,
        "disk_free_bytes": None,
        "memory_total_bytes": None,
        "memory_available_bytes": None,
    }
