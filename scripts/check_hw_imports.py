"""Fail when a hardware library is imported outside gateway/hw/ (a rule of the design)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HARDWARE_MODULES = {"gpiozero", "serial", "nfc", "smartcard", "lgpio", "osdp", "osdp_sys"}


def offending_imports(root: Path) -> list[str]:
    """`file:line: module` for every hardware import outside gateway/hw/."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "hw" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in HARDWARE_MODULES:
                    found.append(f"{path}:{node.lineno}: {name}")
    return found


def main() -> int:
    found = offending_imports(Path("gateway"))
    for line in found:
        print(f"hardware library imported outside gateway/hw/: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
