"""How long a saved duration has run across a restart: monotonic time in the same boot,
wall time (never negative) after a reboot or when the boot cannot be told."""

from __future__ import annotations

from pathlib import Path

from gateway.clock import Stamp, read_boot_id


def test_the_same_boot_counts_monotonic_time_whatever_the_wall_clock_did() -> None:
    saved = Stamp(wall=5_000.0, mono=100.0, boot="b1")
    assert Stamp(wall=1_400.0, mono=130.0, boot="b1").elapsed_since(saved) == 30.0


def test_after_a_reboot_the_wall_clock_counts_but_never_backwards() -> None:
    saved = Stamp(wall=5_000.0, mono=100.0, boot="b1")
    assert Stamp(wall=5_040.0, mono=12.0, boot="b2").elapsed_since(saved) == 40.0
    assert Stamp(wall=1_400.0, mono=900.0, boot="b2").elapsed_since(saved) == 0.0


def test_an_unreadable_boot_id_is_never_taken_for_the_same_boot(tmp_path: Path) -> None:
    boot = read_boot_id(tmp_path / "missing")
    assert boot == ""
    saved = Stamp(wall=5_000.0, mono=100.0, boot=boot)
    # A monotonic reading of another boot means nothing: the wall clock is used.
    assert Stamp(wall=5_010.0, mono=9_000.0, boot=boot).elapsed_since(saved) == 10.0


def test_the_boot_id_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0f3c2b8e-8d9a-4f6e-9c1d-2a7b5e4d3c21\n", encoding="ascii")
    assert read_boot_id(path) == "0f3c2b8e-8d9a-4f6e-9c1d-2a7b5e4d3c21"
