"""A key is declared once, beside its settings field, and the loader needs nothing else.

The first tests walk a settings class made up here, as a new key would be written; the
others hold every real key to the same standard, so that a key added without its range,
its secrecy or its reader kinds fails here rather than on a site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest

from gateway.config.report import Report
from gateway.config.schema import INVALID, KeySpec, Schema, key_specs
from gateway.settings import GPIO, READER_KINDS, DoorSettings, ReaderSettings, Settings
from gateway.settings_spec import SECRET, Check, integer, matching
from tests.config.helpers import settings_classes


@dataclass(frozen=True)
class Lamp:
    """A settings class as a new section would declare it."""

    name: Annotated[str, matching("[a-z]+", "a name in lowercase letters")]
    brightness: Annotated[int, integer(0, 255)] = 128
    colour: Literal["red", "green"] = "red"
    code: Annotated[str, matching("[0-9]{4}", "4 digits"), SECRET] = ""
    zones: tuple[Annotated[int, integer(1, 8)], ...] = ()


def _walk(raw: object) -> tuple[Any, list[str]]:
    report = Report("lamp.toml")
    value = Schema(report).table(Lamp, raw, "lamp")
    return value, report.errors


def test_a_declared_key_is_read_with_its_type_and_default() -> None:
    value, errors = _walk({"name": "desk", "brightness": 40, "zones": [1, 3]})
    assert errors == []
    assert value == Lamp("desk", 40, "red", "", (1, 3))


def test_a_declared_key_is_checked_against_its_declaration() -> None:
    raw = {"brightness": 300, "colur": "green", "code": "12x4", "zones": [1, 9]}
    value, errors = _walk(raw)
    assert value is INVALID
    assert errors == [
        'lamp.toml: lamp.colur: unknown key (did you mean "colour"?); expected one of: '
        "name, brightness, colour, code, zones",
        "lamp.toml: lamp.name: expected a name in lowercase letters, found nothing",
        "lamp.toml: lamp.brightness: expected an integer from 0 to 255, found 300",
        "lamp.toml: lamp.code: expected 4 digits, found a value that is not shown",
        "lamp.toml: lamp.zones[1]: expected an integer from 1 to 8, found 9",
    ]


@pytest.mark.parametrize("cls", settings_classes(below=Settings), ids=lambda cls: cls.__name__)
def test_every_key_declares_what_it_accepts(cls: type) -> None:
    """A number without a range is a key nobody thought about: every number has one."""
    for spec in key_specs(cls):  # raises TypeError for a type TOML cannot hold
        for tp, check in ((spec.type, spec.check), (spec.item_type, spec.item_check)):
            if tp in (int, float):
                assert check is not None, f"{cls.__name__}.{spec.name}: a number without range"


def _looks_secret(spec: KeySpec) -> bool:
    return re.search(r"(password|token|(^|_)pins?|_key)$", spec.name) is not None


@pytest.mark.parametrize("cls", settings_classes(below=Settings), ids=lambda cls: cls.__name__)
def test_every_secret_is_declared_secret(cls: type) -> None:
    for spec in key_specs(cls):
        if _looks_secret(spec) and not _is_gpio(spec):
            assert spec.secret, f"{cls.__name__}.{spec.name} is not declared SECRET"


def _is_gpio(spec: KeySpec) -> bool:
    return GPIO in (spec.check, spec.item_check)


@pytest.mark.parametrize("cls", [DoorSettings, ReaderSettings], ids=lambda cls: cls.__name__)
def test_every_pin_key_is_a_gpio(cls: type) -> None:
    """A GPIO key is range-checked and joins the no-pin-twice check by its type alone."""
    for spec in key_specs(cls):
        named_pin = spec.name.endswith(("_pin", "_pins"))
        assert named_pin == _is_gpio(spec), f"{cls.__name__}.{spec.name}"


def test_reader_keys_name_real_kinds() -> None:
    for spec in key_specs(ReaderSettings):
        if spec.used_by is not None:
            assert set(spec.used_by.kinds) <= set(READER_KINDS), spec.name
            assert set(spec.used_by.required_on_gpio) <= set(spec.used_by.kinds), spec.name


def test_a_declaration_with_two_checks_is_refused() -> None:
    @dataclass(frozen=True)
    class Twice:
        level: Annotated[int, integer(0, 1), Check("anything", lambda v: True)] = 0

    with pytest.raises(TypeError, match=r"Twice\.level: more than one Check"):
        key_specs(Twice)


def test_a_type_toml_cannot_hold_is_refused() -> None:
    @dataclass(frozen=True)
    class Odd:
        ratio: complex = 0j

    with pytest.raises(TypeError, match=r"Odd\.ratio"):
        key_specs(Odd)
