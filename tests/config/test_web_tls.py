"""`[web] tls`: HTTPS by default on real hardware, plain HTTP only on loopback or when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import check_config_command, load_settings
from tests.config.helpers import MINIMAL_GPIO, MINIMAL_SIMULATED, errors_of, write


def test_https_is_the_default_on_real_hardware_and_plain_http_in_simulation(
    tmp_path: Path,
) -> None:
    assert load_settings(write(tmp_path, MINIMAL_GPIO)).web_tls == "auto"
    assert load_settings(write(tmp_path, MINIMAL_SIMULATED)).web_tls == "off"


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.168.1.20:80", "gateway.local:80"])
def test_plain_http_on_the_lan_is_an_error(tmp_path: Path, listen: str) -> None:
    text = MINIMAL_GPIO + f'[web]\nlisten = "{listen}"\ntls = "off"\n'
    (error,) = errors_of(write(tmp_path, text))
    assert "web.tls" in error and "in clear" in error and "allow_plain_http" in error


def test_simulation_on_the_lan_needs_tls_or_the_explicit_switch(tmp_path: Path) -> None:
    text = MINIMAL_SIMULATED + '[web]\nlisten = "0.0.0.0:8080"\n'
    assert "web.tls" in errors_of(write(tmp_path, text))[0]
    allowed = load_settings(write(tmp_path, text + "allow_plain_http = true\n"))
    assert allowed.web_tls == "off" and allowed.web.allow_plain_http


@pytest.mark.parametrize("listen", ["127.0.0.1:8080", "[::1]:8080", "localhost:8080"])
def test_plain_http_on_loopback_is_fine(tmp_path: Path, listen: str) -> None:
    text = MINIMAL_GPIO + f'[web]\nlisten = "{listen}"\ntls = "off"\n'
    assert load_settings(write(tmp_path, text)).web_tls == "off"


def test_site_certificate_needs_both_files_and_only_with_files(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, MINIMAL_GPIO + '[web]\ntls = "files"\n'))
    assert [e.split(": ", 1)[1] for e in errors] == [
        'web.cert_file: required with tls = "files" (a PEM file)',
        'web.key_file: required with tls = "files" (a PEM file)',
    ]
    text = MINIMAL_GPIO + '[web]\ntls = "auto"\ncert_file = "/c.pem"\nallow_plain_http = true\n'
    errors = errors_of(write(tmp_path, text))
    assert any('web.cert_file: only used with tls = "files"' in e for e in errors)
    assert any('web.allow_plain_http: only used with tls = "off"' in e for e in errors)


def test_unknown_tls_mode_is_an_error(tmp_path: Path) -> None:
    (error,) = errors_of(write(tmp_path, MINIMAL_GPIO + '[web]\ntls = "on"\n'))
    assert "web.tls" in error


def test_check_config_summary_says_how_the_web_is_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_config_command(str(write(tmp_path, MINIMAL_GPIO))) == 0
    assert "Web         HTTPS (self-signed) on 127.0.0.1:8080" in capsys.readouterr().out
    assert check_config_command(str(write(tmp_path, MINIMAL_SIMULATED))) == 0
    assert "Web         plain HTTP on 127.0.0.1:8080" in capsys.readouterr().out
