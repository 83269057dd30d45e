"""scripts/check_layers.py: small fake `gateway` packages in a temporary directory, each
breaking one rule of docs/architecture.md's "What may import what", and the real tree."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", REPO / "scripts/check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


check_layers = load_checker()


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake `gateway` package: each file's path under it and its source."""
    root = tmp_path / "gateway"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != root and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(source)
    return root


def problems(root: Path, allowed: dict[tuple[str, str], str] | None = None) -> list[str]:
    found: list[str] = check_layers.problems(root, allowed or {})
    return found


def test_the_gateway_package_keeps_to_its_layers() -> None:
    assert problems(REPO / "gateway", check_layers.ALLOWED) == []


def test_the_real_engine_decides_without_the_store() -> None:
    # The snapshot, the PIN hasher and the TOTP helpers are the engine's own vocabulary:
    # none of them may pull the store (and its SQLite, files and threads) into `access`.
    _, imports = check_layers.collect_imports(REPO / "gateway")
    reaching = {
        (item.importer, item.target)
        for item in imports
        if check_layers.layer_of(item.importer) == "access"
        and check_layers.layer_of(item.target) == "store"
    }
    assert sorted(reaching) == []
    assert [key for key in check_layers.ALLOWED if key[0].startswith("gateway.access.")] == []


def test_a_cycle_closed_by_a_type_only_import_is_found_with_its_path(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "app.py": "from gateway.web.server import build_app\n",
            "web/server.py": "from gateway.actatek_settings import TerminalFunctions\n",
            "actatek_settings.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from gateway.app import Gateway\n"
            ),
            "cli.py": "def run() -> None:\n    from gateway.app import Gateway\n",
        },
    )
    found = problems(root)
    assert (
        "import cycle: gateway.actatek_settings -> gateway.app -> gateway.web.server"
        " -> gateway.actatek_settings" in (found)
    )


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "pipeline.py": "import gateway.feedback\n",
            "feedback.py": "def later() -> None:\n    from gateway import pipeline\n",
        },
    )
    assert problems(root) == [
        "import cycle: gateway.feedback -> gateway.pipeline -> gateway.feedback"
    ]


def test_a_tangle_is_reported_once_with_how_many_modules_it_holds(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "a.py": "import gateway.b\nimport gateway.c\n",
            "b.py": "import gateway.a\n",
            "c.py": "import gateway.d\n",
            "d.py": "import gateway.a\n",
        },
    )
    assert problems(root) == [
        "import cycle: gateway.a -> gateway.b -> gateway.a (and 2 more modules in the same tangle)"
    ]


def test_no_cycle_and_no_rule_broken_is_silent(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "model.py": "",
            "access/engine.py": "from gateway.model import Event\n",
            "store/repo.py": "from gateway.access.engine import AccessEngine\n",
            "web/api.py": (
                "from typing import TYPE_CHECKING\n"
                "from gateway.store.errors import StoreError\n"
                "if TYPE_CHECKING:\n"
                "    from gateway.store.repo import Store\n"
            ),
            "store/errors.py": "",
            "cli.py": "from gateway import app\n",
            "app.py": "from gateway.web import api\nfrom gateway.store import repo\n",
        },
    )
    assert problems(root) == []


def test_hardware_code_never_imports_the_store(tmp_path: Path) -> None:
    root = package(tmp_path, {"hw/nfc.py": "import gateway.store.repo\n", "store/repo.py": ""})
    assert problems(root) == [
        f"{root}/hw/nfc.py:1: gateway.hw.nfc imports gateway.store.repo at run time: "
        "hw never imports store"
    ]


def test_the_engine_never_imports_the_store_not_even_for_a_type(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "access/engine.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from gateway.store.repo import Store\n"
            ),
            "store/repo.py": "",
        },
    )
    assert problems(root) == [
        f"{root}/access/engine.py:3: gateway.access.engine imports gateway.store.repo "
        "under TYPE_CHECKING: access never imports store"
    ]


def test_web_names_a_service_only_as_a_type(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "web/api.py": "from gateway.doors.controller import DoorController\n",
            "doors/controller.py": "",
        },
    )
    [found] = problems(root)
    assert found.startswith(
        f"{root}/web/api.py:1: gateway.web.api imports gateway.doors.controller at run time: "
        "web reaches the rest only through protocols"
    )


def test_a_package_init_that_imports_a_service_counts_as_imported(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "web/doors.py": "from gateway.doors.errors import UnknownDoor\n",
            "doors/__init__.py": "from gateway.doors.controller import DoorController\n",
            "doors/errors.py": "",
            "doors/controller.py": "",
        },
    )
    [found] = problems(root)
    assert "gateway.web.doors imports gateway.doors at run time" in found


def test_a_contract_module_that_drags_in_a_service_is_refused(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {"access/totp.py": "from gateway.access.engine import denial\n", "access/engine.py": ""},
    )
    [found] = problems(root)
    assert "a contract module imports only shared and contract modules" in found


def test_only_the_cli_imports_the_composition_root(tmp_path: Path) -> None:
    root = package(
        tmp_path,
        {
            "app.py": "",
            "cli.py": "from gateway.app import run\n",
            "simulation.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from gateway.app import Gateway\n"
            ),
        },
    )
    [found] = problems(root)
    assert "gateway.simulation imports gateway.app under TYPE_CHECKING: only" in found


def test_an_allowed_import_passes_and_a_stale_allowance_fails(tmp_path: Path) -> None:
    root = package(tmp_path, {"access/engine.py": "import gateway.store.index\n"})
    allowed = {("gateway.access.engine", "gateway.store.index"): "item 4"}
    assert problems(root, allowed) == []
    stale = {**allowed, ("gateway.access.engine", "gateway.store.secrets"): "item 4"}
    assert problems(root, stale) == [
        "allowed import no longer needed, remove it from ALLOWED: "
        "('gateway.access.engine', 'gateway.store.secrets')"
    ]


def test_the_command_fails_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = package(tmp_path, {"a.py": "import gateway.b\n", "b.py": "import gateway.a\n"})
    assert check_layers.main(["check_layers.py", str(root)]) == 1
    assert "import cycle: gateway.a -> gateway.b -> gateway.a\n" in capsys.readouterr().err
    assert check_layers.main(["check_layers.py", str(REPO / "gateway")]) == 0
