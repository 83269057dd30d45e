"""The real daemon with `[web] tls = "auto"`: HTTPS on a certificate it made itself,
reachable by a client that pins the fingerprint, the same certificate after a restart."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import aiohttp

from gateway.tlscert import CERT_FILE, KEY_FILE, fingerprint
from tests.daemon.conftest import SIMULATE, start_daemon


def https_config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.toml"
    text = SIMULATE.read_text()
    listen = 'listen = "127.0.0.1:8080"\n'
    config.write_text(text.replace(listen, listen + 'tls = "auto"\n'))
    return config


async def status_over_pinned_tls(base_url: str, pin: str) -> tuple[int, str]:
    """Log in and read /api/v1/status, trusting only the certificate with `pin`; the
    session cookie's attributes of a page login as well."""
    digest = bytes.fromhex(pin.replace(":", ""))
    connector = aiohttp.TCPConnector(ssl=aiohttp.Fingerprint(digest))
    async with aiohttp.ClientSession(connector=connector) as session:
        login = {"username": "admin", "password": "simulate"}
        async with session.post(f"{base_url}/api/v1/login", json=login) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{base_url}/api/v1/status", headers=headers) as resp:
            status = resp.status
        async with session.post(f"{base_url}/api/v1/login", json={**login, "cookie": True}) as resp:
            cookie = resp.headers.get("Set-Cookie", "")
    return status, cookie


async def test_tls_auto_serves_https_on_a_kept_self_signed_certificate(tmp_path: Path) -> None:
    config, state = https_config(tmp_path), tmp_path / "state"
    daemon = start_daemon(state, config=config)
    try:
        cert = state / CERT_FILE
        pin = fingerprint(cert.read_bytes())
        https_url = daemon.base_url.replace("http://", "https://")
        status, cookie = await status_over_pinned_tls(https_url, pin)
        assert status == 200
        assert "Secure" in cookie and "HttpOnly" in cookie  # served over TLS
        assert stat.S_IMODE((state / KEY_FILE).stat().st_mode) == 0o600
        assert pin in daemon.log()  # logged at start, for the installer to compare
        # Plain HTTP on the same port gets no answer worth anything.
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(f"{daemon.base_url}/api/v1/status") as resp:
                    assert resp.status == 400
            except aiohttp.ClientError:
                pass
        # A client that pins another certificate is refused.
        other = "00:" * 31 + "00"
        try:
            await status_over_pinned_tls(https_url, other)
            raise AssertionError("a wrong fingerprint was accepted")
        except aiohttp.ServerFingerprintMismatch:
            pass
    finally:
        assert daemon.stop() == 0

    made = cert.stat().st_mtime_ns
    again = start_daemon(state, config=config)
    try:
        assert cert.stat().st_mtime_ns == made  # kept: the pinned fingerprint stays valid
        status, _ = await status_over_pinned_tls(again.base_url.replace("http://", "https://"), pin)
        assert status == 200
        assert re.search(r"HTTPS with self-signed certificate .* fingerprint", again.log())
    finally:
        again.stop()


def test_certificate_names_the_host_and_loopback(tmp_path: Path) -> None:
    from cryptography import x509

    state = tmp_path / "state"
    daemon = start_daemon(state, config=https_config(tmp_path))
    daemon.stop()
    cert = x509.load_pem_x509_certificate((state / CERT_FILE).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert validity.days > 10 * 365
