"""The loopback harness of the hardware test suite: its configuration, and when to skip.

Pure Python (no GPIO library is imported here), so `tests/test_hw_harness.py` checks the
skip message and the pin table on any machine. The pins themselves are driven in
`conftest.py`, through the gateway's own pin factory.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS_ENV = "DOOR_GATEWAY_HARNESS"  # path of the harness file; unset: the suite skips
INTERACTIVE_ENV = "DOOR_GATEWAY_HW_INTERACTIVE"  # "1": ask a person to present the tags
DEFAULT_HARNESS = Path(__file__).resolve().parent / "harness.toml"
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
WIRE_NAMES = ("wiegand_d0", "wiegand_d1", "relay", "contact", "exit_button")
DOC = "docs/hw-test-harness.md"


@dataclass(frozen=True)
class Wire:
    """One harness wire: `harness` pin joined to `gateway` pin (and `sense`, if any)."""

    name: str
    role: str  # "drive": the harness plays a device; "read": it reads a gateway output
    harness: int
    gateway: int
    sense: int | None = None


@dataclass(frozen=True)
class Harness:
    """The harness file: wires, the gateway configuration under test, the test card."""

    path: Path
    gateway_config: Path
    wires: dict[str, Wire]
    card_user: str
    card_facility: int
    card_number: int
    latency_budget_ms: float
    tags: dict[str, str]


def load_harness(path: Path) -> Harness:
    """Read and check a harness file; ValueError says what is wrong in it."""
    data = tomllib.loads(path.read_text())
    raw_wires: dict[str, Any] = data.get("wires", {})
    missing = [name for name in WIRE_NAMES if name not in raw_wires]
    if missing:
        raise ValueError(f"{path}: wires missing: {', '.join(missing)}")
    wires = {name: _wire(path, name, raw_wires[name]) for name in WIRE_NAMES}
    pins = [pin for w in wires.values() for pin in (w.harness, w.gateway, w.sense) if pin]
    if len(pins) != len(set(pins)):
        raise ValueError(f"{path}: a pin is used twice")
    return Harness(
        path=path,
        gateway_config=(path.parent / data["gateway_config"]).resolve(),
        wires=wires,
        card_user=str(data["card_user"]),
        card_facility=int(data["card_facility"]),
        card_number=int(data["card_number"]),
        latency_budget_ms=float(data["latency_budget_ms"]),
        tags={key: str(value) for key, value in data.get("tags", {}).items()},
    )


def _wire(path: Path, name: str, raw: dict[str, Any]) -> Wire:
    role = raw.get("role")
    if role not in ("drive", "read"):
        raise ValueError(f"{path}: wires.{name}.role: expected 'drive' or 'read'")
    sense = raw.get("sense")
    sense_pin = None if sense is None else int(sense)
    return Wire(name, role, int(raw["harness"]), int(raw["gateway"]), sense_pin)


def pi_model(model_file: Path = DEVICE_TREE_MODEL) -> str | None:
    """The board's model string when it is a Raspberry Pi, else None."""
    try:
        model = model_file.read_bytes().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return None
    return model if model.startswith("Raspberry Pi") else None


def skip_reason(environ: dict[str, str], model_file: Path = DEVICE_TREE_MODEL) -> str | None:
    """Why the suite cannot run here (None: it can): not a Pi, or no harness file named."""
    if pi_model(model_file) is None:
        return (
            "not a Raspberry Pi (no 'Raspberry Pi' in /proc/device-tree/model): "
            f"hw-tests run only on a Pi wired as {DOC}"
        )
    harness = environ.get(HARNESS_ENV)
    if not harness:
        return (
            f"no harness configuration: wire the Pi as {DOC}, then run `make hw-test` "
            f"(or set {HARNESS_ENV}=hw-tests/harness.toml)"
        )
    if not Path(harness).is_file():
        return f"{HARNESS_ENV}={harness}: no such file"
    return None
