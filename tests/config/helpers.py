"""Shared bits for the configuration tests: a minimal valid file and a loader of errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gateway.config import ConfigError, load_settings
from gateway.config.schema import key_specs

REPO = Path(__file__).resolve().parents[2]
GATEWAY_TOML = REPO / "config" / "gateway.toml"
SIMULATE_TOML = REPO / "config" / "simulate.toml"

# The smallest sensible real-Pi file: two doors, one Wiegand reader.
MINIMAL_GPIO = """\
[device]
id = "gw"

[hardware]
backend = "gpio"

[[doors]]
name = "front"
relay_pin = 17

[[doors]]
name = "back"
relay_pin = 16

[[readers]]
name = "front-card"
kind = "wiegand"
door = "front"
d0_pin = 5
d1_pin = 6
"""

MINIMAL_SIMULATED = MINIMAL_GPIO.replace('backend = "gpio"', 'backend = "simulated"')


def write(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    """Write `text` as a TOML file in `tmp_path`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    """The messages `load_settings` raises for `path` (fails the test if it loads)."""
    try:
        load_settings(path)
    except ConfigError as exc:
        return exc.errors
    raise AssertionError(f"{path} loaded without errors")


def variant(old: str, new: str, base: str = MINIMAL_GPIO) -> str:
    """`base` with its single occurrence of `old` replaced by `new`."""
    assert base.count(old) == 1, f"{old!r} is not unique in the base file"
    return base.replace(old, new)


def settings_classes(below: type) -> list[type]:
    """Every settings dataclass a key of `below` leads to (not `below` itself)."""
    found: list[type] = []
    for spec in key_specs(below):
        for tp in (spec.type, spec.item_type):
            if dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp not in found:
                found += [tp, *(c for c in settings_classes(tp) if c not in found)]
    return found
