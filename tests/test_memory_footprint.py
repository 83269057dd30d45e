"""The daemon's baseline memory: a library only some configurations use is loaded only
when one does (docs/performance.md, "Baseline memory"). Each check runs in a fresh
interpreter, since this test process has imported everything already."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.tlscert import (
    CERT_FILE,
    KEY_FILE,
    TlsError,
    fingerprint,
    make_self_signed,
    make_self_signed_apart,
    subject_names,
)

REPO = Path(__file__).resolve().parents[1]

# What the daemon itself imports, in the order `door-gateway run` does.
DAEMON_MODULES = ["gateway.cli", "gateway.app"]


def loaded_after(statements: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `statements`."""
    script = f"{statements}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_the_daemon_loads_no_optional_library_until_a_configuration_or_a_request_needs_one() -> (
    None
):
    loaded = loaded_after("\n".join(f"import {module}" for module in DAEMON_MODULES))
    assert "gateway" in loaded
    # cryptography (8.5 MiB): only to make a self-signed certificate at the first start;
    # nfcpy (3.7 MiB): only for a real NFC frontend; pyscard: only for a real PC/SC one;
    # jinja2 (1.9 MiB): at the first status page; segno (0.7 MiB): at the first QR code;
    # aiosmtplib: only with e-mail notifications enabled, at the first mail.
    # aiomqtt and paho (0.5 MiB): only with [mqtt] url. libosdp: only for an OSDP reader.
    optional = {
        "cryptography", "nfc", "smartcard", "jinja2", "aiohttp_jinja2", "segno", "aiosmtplib"
    }  # fmt: skip
    optional |= {"aiomqtt", "paho", "osdp"}
    assert optional & loaded == set()


def test_a_plain_http_daemon_never_loads_cryptography(tmp_path: Path) -> None:
    loaded = loaded_after(
        "from gateway.config import load_settings\n"
        "from gateway.tlscert import serving_context\n"
        f"assert serving_context(load_settings({str(REPO / 'config/simulate.toml')!r})) "
        "== (None, None)"
    )
    assert "cryptography" not in loaded


def test_the_fingerprint_of_a_kept_certificate_is_read_without_cryptography(
    tmp_path: Path,
) -> None:
    cert_pem, _ = make_self_signed("door", subject_names("door", "0.0.0.0:443", []))
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"a comment before the block\n" + cert_pem + cert_pem)  # a chain
    loaded = loaded_after(
        "from pathlib import Path\n"
        "from gateway.tlscert import fingerprint\n"
        f"print(fingerprint(Path({str(cert)!r}).read_bytes()))"
    )
    assert "cryptography" not in loaded
    # What a browser shows: the SHA-256 of the first certificate's DER form.
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    expected = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    assert fingerprint(cert.read_bytes()) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"not a certificate at all",
        b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK==\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    ],
)
def test_a_file_that_is_no_certificate_is_refused(text: bytes) -> None:
    with pytest.raises(TlsError, match="not a PEM certificate"):
        fingerprint(text)


def test_the_simulated_nfc_reader_starts_without_nfcpy() -> None:
    loaded = loaded_after(
        "from gateway.hw.factory import SimulatedHardware\n"
        "from gateway.hw.readers import build_reader\n"
        "import gateway.hw.nfc_sim, gateway.hw.pcsc_sim"
    )
    assert {"nfc", "smartcard"} & loaded == set()


def test_the_first_start_makes_its_certificate_without_holding_cryptography(
    tmp_path: Path,
) -> None:
    simulate = (REPO / "config" / "simulate.toml").read_text()
    config = tmp_path / "gateway.toml"
    config.write_text(
        simulate.replace('state_dir = "var"', f'state_dir = "{tmp_path / "state"}"').replace(
            'listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:8080"\ntls = "auto"'
        )
    )
    (tmp_path / "state").mkdir(mode=0o700)
    loaded = loaded_after(
        "from gateway.config import load_settings\n"
        "from gateway.tlscert import tls_files\n"
        f"files = tls_files(load_settings({str(config)!r}))\n"
        "assert files is not None and files.created"
    )
    assert "cryptography" not in loaded
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((tmp_path / "state" / CERT_FILE).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "state" / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_a_certificate_that_cannot_be_made_stops_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The child interpreter fails (here: one that cannot run at all): no half-made files,
    # an installer's error instead.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(TlsError, match="cannot make a self-signed certificate"):
        make_self_signed_apart("door", subject_names("door", "0.0.0.0:443", []))


def test_the_mqtt_mail_and_secure_card_code_is_loaded_only_when_configured() -> None:
    script = (
        "import gateway.cli, gateway.app, gateway.hw.sim_drivers, gateway.config, json, sys\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    for package in ("gateway.mqtt", "gateway.notify.mailer", "gateway.hw.desfire"):
        assert package not in loaded, package
    assert "gateway.hw.mifare_plus" not in loaded
