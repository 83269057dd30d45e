"""What the figures were measured on: CPU, cores, memory, kernel, Python, SQLite."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path
from typing import Any


def _first(path: str, key: str) -> str:
    """The value of the first `key: value` line of a /proc file ("" if absent)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return ""


def _board() -> str:
    """The board's model (a Raspberry Pi names itself in the device tree), "" elsewhere."""
    try:
        return Path("/proc/device-tree/model").read_text(errors="replace").rstrip("\x00\n")
    except OSError:
        return ""


def _os_name() -> str:
    """PRETTY_NAME from /etc/os-release ("" if absent)."""
    try:
        lines = Path("/etc/os-release").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return ""


def describe_machine() -> dict[str, Any]:
    """The machine, as results.json records it, with a one-line `summary`."""
    cpu = _first("/proc/cpuinfo", "model name") or _first("/proc/cpuinfo", "Model")
    mem_kib = _first("/proc/meminfo", "MemTotal").split()
    ram_gib = round(int(mem_kib[0]) / 2**20, 1) if mem_kib else None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    described: dict[str, Any] = {
        "cpu": cpu or platform.processor() or platform.machine(),
        "board": _board() or None,
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gib": ram_gib,
        "kernel": platform.release(),
        "os": _os_name() or None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    described["summary"] = (
        f"{described['cpu']}, {described['cores']} cores, {ram_gib} GiB RAM, "
        f"Linux {described['kernel']}, Python {described['python']}, "
        f"SQLite {described['sqlite']}, load {described['load_average_1m']} at start"
    )
    return described
