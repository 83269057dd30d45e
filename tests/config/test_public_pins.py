"""`[access] public_pins`: checked at load, and never echoed, in errors or in the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import check_config_command, load_settings
from tests.config.helpers import MINIMAL_GPIO, MINIMAL_SIMULATED, errors_of, write

# Digit runs that appear nowhere else in a message or a summary.
FIRST, SECOND = "7391", "46820137"


def with_pins(*pins: str, base: str = MINIMAL_GPIO) -> str:
    items = ", ".join(pins)
    return base + f"[access]\npublic_pins = [{items}]\n"


def quoted(*pins: str) -> list[str]:
    return [f'"{pin}"' for pin in pins]


def test_public_pins_load_and_are_not_in_the_settings_repr(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, with_pins(*quoted(FIRST, SECOND))))
    assert settings.access.public_pins == (FIRST, SECOND)
    assert FIRST not in repr(settings) and SECOND not in repr(settings)


def test_no_public_pins_by_default(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, MINIMAL_GPIO)).access.public_pins == ()


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            quoted("739"),
            'access.public_pins[0]: expected a PIN of 4 to 8 digits in quotes ("0123")',
        ),
        (quoted("739104628"), "access.public_pins[0]: expected a PIN of 4 to 8 digits"),
        (quoted(FIRST, "73a1"), "access.public_pins[1]: expected a PIN of 4 to 8 digits"),
        (quoted(FIRST, " 7391"), "access.public_pins[1]: expected a PIN of 4 to 8 digits"),
        ([FIRST], "access.public_pins[0]: expected a PIN of 4 to 8 digits in quotes"),
        (
            quoted(FIRST, SECOND, "5555", "6666"),
            "access.public_pins: expected an array of at most 3 public PINs, "
            "found an array of 4 values that are not shown",
        ),
        (
            quoted(FIRST, SECOND, FIRST),
            "access.public_pins[2]: expected a PIN not listed before, "
            "found the same PIN as access.public_pins[0]",
        ),
    ],
    ids=["short", "long", "letters", "space", "integer", "four", "twice"],
)
def test_bad_public_pins_are_named_never_shown(
    tmp_path: Path, items: list[str], expected: str
) -> None:
    errors = errors_of(write(tmp_path, with_pins(*items)))
    assert len(errors) == 1 and expected in errors[0], errors
    for secret in (FIRST, SECOND, "739", "73a1", "5555", "6666"):
        assert secret not in errors[0]


def test_a_string_instead_of_an_array_is_not_shown(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + f'[access]\npublic_pins = "{FIRST}"\n'
    errors = errors_of(write(tmp_path, text))
    assert len(errors) == 1 and "access.public_pins: expected" in errors[0]
    assert FIRST not in errors[0]


def test_a_public_pin_may_not_be_a_demo_users_pin(tmp_path: Path) -> None:
    text = with_pins(*quoted(SECOND, FIRST), base=MINIMAL_SIMULATED) + (
        f'[simulation]\n[[simulation.demo_users]]\nuser_id = "1001"\npin = "{FIRST}"\n'
    )
    errors = errors_of(write(tmp_path, text))
    assert len(errors) == 1
    assert "access.public_pins[1]: expected a PIN no user has" in errors[0]
    assert "simulation.demo_users[0].pin" in errors[0]
    assert FIRST not in errors[0]


def test_check_config_counts_public_pins_without_showing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, with_pins(*quoted(FIRST, SECOND)))
    assert check_config_command(str(path)) == 0
    out, err = capsys.readouterr()
    assert "2 public PINs (not shown)" in out
    assert FIRST not in out + err and SECOND not in out + err


def test_check_config_errors_do_not_show_them_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, with_pins(*quoted(FIRST, FIRST, "12x4")))
    assert check_config_command(str(path)) == 2
    out, err = capsys.readouterr()
    assert "access.public_pins[2]" in err
    assert FIRST not in out + err and "12x4" not in out + err
