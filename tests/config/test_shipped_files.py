"""The two shipped configuration files load, and say what the docs promise they say."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gateway.config import READER_COMMON_KEYS, READER_KIND_KEYS, load_settings
from gateway.hw.formats import decode_card_frame, encode_h10301
from gateway.settings import READER_KINDS, ReaderSettings, Settings
from tests.config.helpers import GATEWAY_TOML, REPO, SIMULATE_TOML, settings_classes, write

DOCS = REPO / "docs" / "configuration.md"


@pytest.mark.parametrize("path", [GATEWAY_TOML, SIMULATE_TOML], ids=lambda p: p.name)
def test_shipped_file_loads(path: Path) -> None:
    settings = load_settings(path)
    assert settings.path == str(path)
    assert len(settings.doors) >= 2


# ----------------------------------------------------------------------------- simulate.toml


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """simulate.toml loaded with `tmp_path` as the working directory."""
    monkeypatch.chdir(tmp_path)
    return load_settings(SIMULATE_TOML)


def test_simulate_device_and_services(sim: Settings, tmp_path: Path) -> None:
    assert sim.simulated
    assert sim.device.timezone == "Europe/London"
    assert sim.device.state_dir == str(tmp_path / "var")  # relative to the cwd
    assert sim.web.listen == "127.0.0.1:8080"
    assert sim.upstream.url == ""


def test_simulate_first_door_is_fully_wired(sim: Settings) -> None:
    front = sim.doors[0]
    assert front.name == "front"
    pins = (front.relay_pin, front.contact_pin, front.rex_pin, front.tamper_pin, front.alarm_pin)
    assert None not in pins


def test_simulate_front_door_has_wiegand_and_keypad(sim: Settings) -> None:
    by_name = {reader.name: reader for reader in sim.readers}
    card, keypad = by_name["front-wiegand"], by_name["front-keypad"]
    assert (card.kind, card.door, card.direction) == ("wiegand", "front", "in")
    assert (card.d0_pin, card.d1_pin) == (5, 6)
    assert "H10301" in card.formats
    assert (keypad.kind, keypad.door, keypad.direction) == ("wiegand_keypad", "front", "in")


def test_simulate_has_one_reader_of_every_kind_and_an_exit_reader(sim: Settings) -> None:
    kinds = [reader.kind for reader in sim.readers]
    assert sorted(kinds) == sorted(READER_KINDS)
    assert {reader.door for reader in sim.readers} == {door.name for door in sim.doors}
    assert any(reader.direction == "out" for reader in sim.readers)
    serial = next(reader for reader in sim.readers if reader.kind == "serial")
    assert (serial.credential_kind, serial.port) == ("qr", "sim")
    keypad = next(reader for reader in sim.readers if reader.kind == "matrix_keypad")
    assert keypad.row_pins and keypad.col_pins


def test_simulate_technician_and_demo_users(sim: Settings) -> None:
    assert [(t.username, t.password) for t in sim.web.technicians] == [("admin", "simulate")]
    users = {user.user_id: user for user in sim.simulation.demo_users}
    ada = users["1001"]
    assert (ada.first_name, ada.last_name, ada.pin, ada.active) == ("Ada", "Lovelace", "1234", True)
    assert ada.cards == ("0C8707",)
    assert users["1002"].first_name == "Grace" and users["1002"].cards
    assert any(not user.active and user.cards for user in users.values())


def test_simulate_demo_card_is_what_the_reader_decodes() -> None:
    frame = encode_h10301(12, 34567)
    assert decode_card_frame(frame, ("H10301",)).card == "0C8707"


# ----------------------------------------------------------------------------- gateway.toml


def test_gateway_toml_describes_a_real_pi() -> None:
    settings = load_settings(GATEWAY_TOML)
    assert settings.hardware.backend == "gpio"
    assert settings.device.state_dir == "/var/lib/door-gateway"
    assert [door.name for door in settings.doors] == ["front", "back"]
    assert settings.upstream.url == ""
    assert settings.web.listen == "127.0.0.1:8080"
    assert all(not tech.password for tech in settings.web.technicians)
    front = [(r.kind, r.direction) for r in settings.readers if r.door == "front"]
    assert ("wiegand", "in") in front and ("wiegand_keypad", "in") in front
    assert any(r.door == "back" and r.direction == "out" for r in settings.readers)


def test_gateway_toml_has_no_password() -> None:
    text = GATEWAY_TOML.read_text()
    assert not re.search(r"^\s*password\s*=", text, re.MULTILINE)
    assert "door-gateway passwd admin" in text


def _uncomment_examples(text: str) -> str:
    """The commented-out [[readers]] examples of gateway.toml, made live."""
    lines, live = [], False
    for line in text.splitlines():
        if line.startswith("# [[readers]]"):
            live = True
        elif live and not line.startswith("#"):
            live = False
        if live and line.startswith("# ") and re.match(r"# (\[\[readers\]\]|\w+ = )", line):
            line = line[2:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_gateway_toml_commented_examples_are_valid(tmp_path: Path) -> None:
    text = _uncomment_examples(GATEWAY_TOML.read_text())
    settings = load_settings(write(tmp_path, text))
    extra = {reader.kind for reader in settings.readers[3:]}
    assert extra == {"serial", "nfc", "pcsc", "matrix_keypad", "osdp"}


def test_gateway_toml_upstream_example_is_valid(tmp_path: Path) -> None:
    text = GATEWAY_TOML.read_text()
    example = re.search(r'^#\s+(url = "https://[^"]+")$', text, re.MULTILINE)
    assert example is not None
    text = text.replace('\nurl = ""\n', f"\n{example.group(1)}\n", 1)
    settings = load_settings(write(tmp_path, text))
    assert settings.upstream.url.startswith("https://access.example.com/verify?card={Card}")


# ----------------------------------------------------------------------------- docs in sync


@pytest.mark.parametrize("cls", settings_classes(below=Settings), ids=lambda cls: cls.__name__)
def test_every_key_is_documented(cls: type) -> None:
    docs = DOCS.read_text()
    example = GATEWAY_TOML.read_text() + SIMULATE_TOML.read_text()
    for fld in dataclasses.fields(cls):
        in_docs = f"`{fld.name}`" in docs or f".{fld.name}]" in docs  # key or [a.section]
        assert in_docs, f"{cls.__name__}.{fld.name} missing from {DOCS.name}"
        word = re.compile(rf"\b{fld.name}\b")
        assert word.search(example), f"{cls.__name__}.{fld.name} not in the example files"


def test_every_reader_key_belongs_to_some_kind() -> None:
    used = set(READER_COMMON_KEYS).union(*READER_KIND_KEYS.values())
    assert {fld.name for fld in dataclasses.fields(ReaderSettings)} == used
    assert set(READER_KIND_KEYS) == set(READER_KINDS)


def _reader_tables() -> tuple[list[str], dict[str, set[str]]]:
    """From the docs' [[readers]] section: the common keys, and each other key's kinds."""
    section = DOCS.read_text().split("### readers", 1)[1].split("\n### ", 1)[0]
    common_table, kinds_table = section.split("Kind-specific keys", 1)
    common = re.findall(r"^\| `(\w+)` \|", common_table, re.M)
    kinds: dict[str, set[str]] = {}
    for keys_cell, kinds_cell in re.findall(r"^\| (`[^|]+) \| ([a-z_, ]+) \|", kinds_table, re.M):
        for key in re.findall(r"`(\w+)`", keys_cell):
            kinds[key] = set(kinds_cell.split(", "))
    return common, kinds


def test_docs_say_which_reader_kinds_use_each_key() -> None:
    """The reader tables of the docs say what each ReaderSettings field declares."""
    common, kinds = _reader_tables()
    assert common == list(READER_COMMON_KEYS)
    declared = {
        key: {kind for kind, keys in READER_KIND_KEYS.items() if key in keys}
        for key in {key for keys in READER_KIND_KEYS.values() for key in keys}
    }
    assert kinds == declared
