"""`[[floors]]`, `[lift]` and a reader's `lift` flag: what loads, and every refusal names
the key path, what was expected and what was found."""

from __future__ import annotations

from pathlib import Path

from gateway.config import load_settings, summary
from tests.config.helpers import errors_of, variant, write

LIFT_READER = 'name = "front-card"\nkind = "wiegand"\ndoor = "front"\n'
FLOORS = (
    '\n[[floors]]\nname = "1"\npin = 20\n\n[[floors]]\nname = "B2"\npin = 21\nactive_high = false\n'
)


def test_floors_and_a_lift_reader_load(tmp_path: Path) -> None:
    text = variant(LIFT_READER, LIFT_READER + "lift = true\n") + FLOORS
    text += '\n[lift]\nfloor_enable_s = 8\ndefault_floors = ["1"]\n'
    settings = load_settings(write(tmp_path, text))
    assert [(f.name, f.pin, f.active_high) for f in settings.floors] == [
        ("1", 20, True),
        ("B2", 21, False),
    ]
    assert (settings.lift.floor_enable_s, settings.lift.default_floors) == (8, ("1",))
    assert settings.readers[0].lift


def test_the_elevator_refusals(tmp_path: Path) -> None:
    text = variant(LIFT_READER, LIFT_READER + "lift = true\n")
    text += '\n[[floors]]\nname = "1"\npin = 17\n\n[[floors]]\nname = "1"\n'
    text += '\n[lift]\nfloor_enable_s = 0\ndefault_floors = ["roof"]\n'
    path = write(tmp_path, text)
    errors = errors_of(path)
    expected = [
        "lift.floor_enable_s: expected a number from 1 to 600, found 0",
        "floors[0].pin: expected a GPIO not used elsewhere, found 17, already used by "
        "doors[0].relay_pin",
        'floors[1].name: expected a name not used before, found "1", already used by '
        "floors[0].name",
        'floors[1].pin: expected a BCM GPIO number from 0 to 27 (required with backend "gpio"), '
        "found nothing",
        'lift.default_floors[0]: expected the name of a [[floors]] entry ("1"), found "roof"',
    ]
    for message in expected:
        assert f"{path}: {message}" in errors, errors


def test_a_lift_reader_needs_floors(tmp_path: Path) -> None:
    path = write(tmp_path, variant(LIFT_READER, LIFT_READER + "lift = true\n"))
    assert errors_of(path) == [
        f"{path}: readers[0].lift: expected false while no [[floors]] entry is configured, "
        "found true"
    ]


def test_check_config_summarises_the_floors(tmp_path: Path) -> None:
    text = variant(LIFT_READER, LIFT_READER + "lift = true\n") + FLOORS
    settings = load_settings(write(tmp_path, text))
    assert summary(settings).splitlines()[-1] == (
        "Floors      1 GPIO20, B2 GPIO21 (active low); enabled 10 s after a grant at "
        "front-card; default floors none"
    )
