"""Every reason the journal can hold has words a technician understands: what happened
and what to do. The reasons are collected from the source itself, so a new reason
without an explanation fails here, not in front of a technician at a door."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from gateway.web.page import reasons

SOURCE = Path(__file__).resolve().parents[2] / "gateway"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Places whose snake_case strings are not journal reasons: the page's own modules (they
# only show reasons), the configuration's checks, the hardware drivers (a reader's frame
# verdicts and offline states are its status, not events) and the self-test (its
# `CheckResult` is a check's ok/warn/fail; the run itself is journaled as `selftest`).
NOT_EMITTERS = ("web/page/", "config/", "hw/", "selftest.py")
# Functions whose returned strings are reasons (a deny reason, or why a door refuses).
RETURNS_A_REASON = re.compile(r"^(check_user|grant_refusal|resolve_owner)$")


def _modules() -> Iterator[ast.Module]:
    for path in sorted(SOURCE.rglob("*.py")):
        if not any(part in path.as_posix() for part in NOT_EMITTERS):
            yield ast.parse(path.read_text(encoding="utf-8"))


def _reason_slots(trees: list[ast.Module]) -> dict[str, int]:
    """Every function and record type with a parameter or field named `reason`: the
    position of that argument at a call."""
    slots: dict[str, int] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
                if "reason" in names and node.name != "__init__":  # too many share the name
                    slots[node.name] = names.index("reason")
            elif isinstance(node, ast.ClassDef):
                fields = [
                    s.target.id
                    for s in node.body
                    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                ]
                if "reason" in fields:
                    slots[node.name] = fields.index("reason")
    return slots


def _strings(value: ast.AST | None) -> Iterator[str]:
    """The reason strings an expression can be: a literal, either side of `a if c else
    b`, the values of `{...}.get(...)`, a tuple's members; an f-string's literal start
    as `prefix*`."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        if SNAKE.match(value.value):
            yield value.value
    elif isinstance(value, ast.IfExp):
        yield from _strings(value.body)
        yield from _strings(value.orelse)
    elif isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        for element in value.elts:
            yield from _strings(element)
    elif isinstance(value, ast.Dict):
        for element in value.values:
            yield from _strings(element)
    elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if isinstance(value.func.value, ast.Dict):
            yield from _strings(value.func.value)
        for arg in value.args[1:]:
            yield from _strings(arg)
    elif isinstance(value, ast.JoinedStr) and value.values:
        first = value.values[0]
        if isinstance(first, ast.Constant) and SNAKE.match(str(first.value).rstrip("_")):
            yield f"{first.value}*"


def _call_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else ""


def emitted_reasons() -> set[str]:
    """Every reason the code can journal (and each reader's frame verdicts)."""
    trees = list(_modules())
    slots = _reason_slots(trees)
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "reason":
                        found.update(_strings(keyword.value))
                slot = slots.get(_call_name(node))
                if slot is not None and len(node.args) > slot:
                    found.update(_strings(node.args[slot]))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    name = target.id if isinstance(target, ast.Name) else ""
                    if "REASON" in name.upper() and not name.startswith("_kind"):
                        found.update(_strings(node.value))
                    if name == "DOOR_EVENTS" and isinstance(node.value, ast.Dict):
                        for key in node.value.keys:
                            found.update(_strings(key))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                RETURNS_A_REASON.match(node.name)
            ):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return):
                        found.update(_strings(inner.value))
    return found


def test_the_walk_finds_the_reasons_of_every_part() -> None:
    found = emitted_reasons()
    # engine, anti-passback, doors, upstream, APIs, journal: the walk reaches each
    expected = {
        "user_inactive", "user_expired", "outside_schedule", "unknown_credential",
        "anti_passback", "keypad_locked_out", "upstream_timeout", "upstream_http_*",
        "forced_open", "unlocked", "lockdown", "login_failed", "journal_gap", "user_*",
    }  # fmt: skip
    assert expected <= found, expected - found


def test_every_reason_the_code_can_emit_has_words() -> None:
    found = emitted_reasons()
    missing = sorted(r for r in found if not r.endswith("*") and r not in reasons.REASONS)
    missing += sorted(r for r in found if r.endswith("*") and r[:-1] not in reasons.PREFIXES)
    assert not missing, f"add these to gateway/web/page/reasons.py REASONS: {missing}"


def test_a_reason_is_said_for_the_event_it_belongs_to() -> None:
    said = reasons.explain("user_inactive", user_id="1003", door="front")
    assert said.what == "User 1003 is inactive."
    assert said.todo == "activate the user, or check their validity dates"
    assert reasons.explain("forced_open", door="front").what.startswith("ALARM: door front was")
    assert "HTTP error" in reasons.explain("upstream_http_503").what
    # a reason from a newer journal than this table still reads as words, never an error
    assert reasons.explain("brand_new_reason") == reasons.Said("brand new reason", "")
