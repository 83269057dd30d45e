"""Fail on an import cycle among gateway modules, or on an import that breaks the layering.

The rules are docs/architecture.md's "What may import what":

- no cycle, counting every import: at module level, inside a function, and under
  `if TYPE_CHECKING:` (a cycle of type names is still a tangle a newcomer must untie);
- `gateway.app` (the composition root) and `gateway.cli` are imported by `gateway.cli`
  and `gateway.__main__` only;
- `hw` never imports `access`, `store`, `web`; `access` never imports `hw`, `store`, `web`
  (it is pure); `store` never imports `hw`, `web`; `doors` and `upstream` never import `web`;
- `web` reaches the rest only through protocols: what it imports at run time is `web`
  itself, a SHARED module or a CONTRACT module; under `if TYPE_CHECKING:` it may name any
  type (the protocols and contexts it declares are typed with them);
- a SHARED module imports only SHARED modules, and a CONTRACT module imports (at run
  time) only SHARED and CONTRACT modules, so importing one never drags in a service.

Importing `a.b.c` runs `a/b/__init__.py` first: an `__init__` that imports gateway modules
counts as imported too. `ALLOWED` lists the imports that break a rule today, each with the
issue item that removes it; an entry that matches nothing any more is itself an error.
Only the standard library (`ast`) is used.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "gateway"

# The vocabulary every layer may use: data, settings, the clock seam, pure text helpers.
SHARED = frozenset(
    {
        "gateway",  # the version
        "gateway.model",
        "gateway.clock",
        "gateway.settings",
        "gateway.settings_spec",  # the words the settings declare their keys with
        "gateway.strictjson",
        "gateway.safetext",
        "gateway.cardnumbers",
        "gateway.urls",
    }
)

# Values a protocol speaks in: dataclasses, constants, exceptions and pure functions, with
# no I/O and no running state. `web` may import these at run time.
CONTRACTS = frozenset(
    {
        "gateway.access.snapshot",  # the rules snapshot: the engine's data, read by all
        "gateway.access.totp",  # TOTP codes and payloads (the web shows a user theirs)
        "gateway.actatek_records",  # the ACTAtek terminal functions' values
        "gateway.device_time",  # the device clock's seam and values
        "gateway.doors.errors",
        "gateway.doors.events",
        "gateway.doors.state",
        "gateway.store.errors",
        "gateway.store.log_records",
        "gateway.store.records",
        "gateway.store.schema",
        "gateway.store.validate",
    }
)

LAYERS = ("hw", "access", "store", "doors", "upstream", "web")
FORBIDDEN: Mapping[str, frozenset[str]] = {
    "hw": frozenset({"access", "store", "web"}),
    "access": frozenset({"hw", "store", "web"}),
    "store": frozenset({"hw", "web"}),
    "doors": frozenset({"web"}),
    "upstream": frozenset({"web"}),
}
ROOTS = frozenset({"gateway.app", "gateway.cli"})
ROOT_IMPORTERS = frozenset({"gateway.cli", "gateway.__main__"})

# Imports that break a rule today: (importer, imported) -> the issue item that removes it.
ALLOWED: Mapping[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import of a gateway module: where it is and whether it runs."""

    importer: str
    target: str
    path: Path
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root` (its directory), by dotted name."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute module name of a (possibly relative) `from ... import`."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports_in(
    tree: ast.AST, importer: str, path: Path, modules: Mapping[str, Path]
) -> list[Import]:
    """The gateway modules `tree` imports, anywhere in it (functions included)."""
    found: list[Import] = []
    is_package = path.name == "__init__.py"

    def add(target: str, node: ast.stmt, typing_only: bool) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            found.append(Import(importer, target, path, node.lineno, typing_only))

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_statement(stmt, True)
                for stmt in child.orelse:
                    visit_statement(stmt, typing_only)
            elif isinstance(child, ast.stmt):
                visit_statement(child, typing_only)
            else:
                visit(child, typing_only)

    def visit_statement(stmt: ast.stmt, typing_only: bool) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                add(alias.name, stmt, typing_only)
        elif isinstance(stmt, ast.ImportFrom):
            base = _resolve(importer, is_package, stmt.module, stmt.level)
            for alias in stmt.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, stmt, typing_only)
        else:
            visit(stmt, typing_only)

    visit(tree, False)
    return found


def collect_imports(root: Path) -> tuple[dict[str, Path], list[Import]]:
    """The package's modules and every import among them, with the package `__init__`s
    that an import runs (see the module docstring)."""
    modules = module_names(root)
    direct: dict[str, list[Import]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        direct[name] = _imports_in(tree, name, path, modules)
    found: dict[Import, None] = {}  # in order, each once (`from m import a, b` is one)
    for imports in direct.values():
        for item in imports:
            found[item] = None
            found.update(dict.fromkeys(_packages_run(item, direct)))
    return modules, list(found)


def _packages_run(item: Import, direct: Mapping[str, list[Import]]) -> Iterable[Import]:
    """The `__init__`s that importing `item.target` runs, outside the importer's own
    packages, when they import gateway modules themselves."""
    parts = item.target.split(".")
    for end in range(2, len(parts)):
        package = ".".join(parts[:end])
        inside = item.importer == package or item.importer.startswith(package + ".")
        if not inside and direct.get(package):
            yield Import(item.importer, package, item.path, item.line, item.typing_only)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def rule_broken(item: Import) -> str | None:
    """Why `item` breaks a layering rule (not counting `ALLOWED`), or None."""
    source, target, runs = item.importer, item.target, not item.typing_only
    if target in ROOTS and source not in ROOT_IMPORTERS:
        return f"only {' and '.join(sorted(ROOT_IMPORTERS))} import the composition root"
    if source in SHARED and target not in SHARED:
        return "a shared module imports only shared modules"
    if source in CONTRACTS and runs and target not in SHARED | CONTRACTS:
        return "a contract module imports only shared and contract modules"
    here, there = layer_of(source), layer_of(target)
    if here is None or here == there:
        return None
    if there in FORBIDDEN.get(here, frozenset()):
        return f"{here} never imports {there}"
    if here == "web" and runs and target not in SHARED | CONTRACTS:
        return (
            "web reaches the rest only through protocols: at run time it imports web, "
            "shared and contract modules (other types only under TYPE_CHECKING)"
        )
    return None


def tangles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of modules (each imports every other one, directly
    or not), found with Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    groups.append(sorted(group))
    return groups


def _cycle_in(group: set[str], edges: Mapping[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    first = min(group)
    previous: dict[str, str] = {}
    queue = deque([first])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges.get(node, ())):
            if nxt == first:
                path = [node]
                while path[-1] != first:
                    path.append(previous[path[-1]])
                return [*reversed(path), first]
            if nxt in group and nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [first, first]  # not reached: a strongly connected group cycles through first


def _describe_cycle(group: list[str], edges: Mapping[str, set[str]]) -> str:
    """The shortest cycle through the group's first module, and how many more it tangles."""
    cycle = _cycle_in(set(group), edges)
    more = len(group) - len(set(cycle))
    tail = f" (and {more} more modules in the same tangle)" if more else ""
    return f"import cycle: {' -> '.join(cycle)}{tail}"


def problems(root: Path, allowed: Mapping[tuple[str, str], str] = ALLOWED) -> list[str]:
    """Every cycle, every import that breaks a rule (unless allowed), every stale
    allowance: one line each, empty when the package keeps to its layers."""
    _, imports = collect_imports(root)
    edges: dict[str, set[str]] = {}
    for item in imports:
        if item.target != item.importer:
            edges.setdefault(item.importer, set()).add(item.target)
    found = [_describe_cycle(group, edges) for group in tangles(edges)]
    used: set[tuple[str, str]] = set()
    for item in imports:
        why = rule_broken(item)
        if why is None:
            continue
        key = (item.importer, item.target)
        if key in allowed and item.target not in ROOTS:
            used.add(key)
            continue
        kind = "under TYPE_CHECKING" if item.typing_only else "at run time"
        found.append(f"{item.where()}: {item.importer} imports {item.target} {kind}: {why}")
    for key in sorted(set(allowed) - used):
        found.append(f"allowed import no longer needed, remove it from ALLOWED: {key}")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(PACKAGE)
    found = problems(root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
