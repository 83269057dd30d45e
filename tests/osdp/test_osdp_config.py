"""An installer swaps a Wiegand reader for an OSDP one by editing its [[readers]] entry;
the file check says what is wrong with an OSDP bus before the daemon starts."""

from __future__ import annotations

from pathlib import Path

from gateway.config import load_settings
from tests.config.helpers import MINIMAL_GPIO, errors_of, write


def osdp_reader(name: str, address: int, baudrate: int = 115200, port: str = "/dev/ttyUSB0") -> str:
    return f"""
[[readers]]
name = "{name}"
kind = "osdp"
door = "front"
port = "{port}"
baudrate = {baudrate}
osdp_address = {address}
"""


def test_a_wiegand_entry_becomes_an_osdp_one_by_its_keys(tmp_path: Path) -> None:
    text = MINIMAL_GPIO.replace(
        'kind = "wiegand"\ndoor = "front"\nd0_pin = 5\nd1_pin = 6\n',
        'kind = "osdp"\ndoor = "front"\nport = "/dev/ttyUSB0"\nosdp_address = 5\n'
        "install = true\noffline_after_s = 30\n",
    )
    reader = load_settings(write(tmp_path, text)).readers[0]
    assert (reader.kind, reader.port, reader.osdp_address) == ("osdp", "/dev/ttyUSB0", 5)
    assert reader.install and reader.offline_after_s == 30
    assert reader.baudrate == 9600 and reader.formats == ("H10301",)


def test_two_readers_share_a_port_at_two_addresses(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + osdp_reader("a", 1) + osdp_reader("b", 2)
    assert [r.osdp_address for r in load_settings(write(tmp_path, text)).readers[1:]] == [1, 2]


def test_one_address_twice_on_a_port_is_refused(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + osdp_reader("a", 1) + osdp_reader("b", 1)
    errors = errors_of(write(tmp_path, text))
    assert any("readers[2].osdp_address: expected an address not used" in e for e in errors)


def test_a_baud_rate_osdp_does_not_offer_is_refused(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, MINIMAL_GPIO + osdp_reader("a", 1, baudrate=4800)))
    assert any("readers[1].baudrate: expected an OSDP baud rate" in e for e in errors)


def test_readers_of_one_port_share_its_baud_rate(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + osdp_reader("a", 1) + osdp_reader("b", 2, baudrate=9600)
    errors = errors_of(write(tmp_path, text))
    assert any("readers[2].baudrate: expected 115200" in e for e in errors)


def test_an_address_outside_osdp_is_refused(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, MINIMAL_GPIO + osdp_reader("a", 127)))
    assert any("readers[1].osdp_address" in e and "0 to 126" in e for e in errors)


def test_a_real_osdp_reader_needs_its_port(tmp_path: Path) -> None:
    text = MINIMAL_GPIO + osdp_reader("a", 1).replace('port = "/dev/ttyUSB0"\n', "")
    errors = errors_of(write(tmp_path, text))
    assert any("readers[1].port" in e and "required" in e for e in errors)
