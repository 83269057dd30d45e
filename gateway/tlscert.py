"""The web server's TLS: a self-signed certificate made once in the state directory
(`[web] tls = "auto"`), or the site's own files (`tls = "files"`), and the server context.

The self-signed certificate is what a fresh gateway can have without any infrastructure:
browsers warn about it, so the installer compares the SHA-256 fingerprint the browser
shows with the one `door-gateway selftest` prints and the daemon logs at start (API
clients pin it). It is made only when missing, so the fingerprint a client pinned stays
valid across restarts and upgrades; delete both files to get a new one (docs/security.md).

`cryptography` (about 8.5 MiB resident) is never imported by the daemon: the certificate
is made by a short-lived child interpreter (`python -m gateway.tlscert`), and a kept one is
read with the standard library.
"""

from __future__ import annotations

import binascii
import datetime
import hashlib
import ipaddress
import json
import logging
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.atomicfile import state_file_owner, write_atomically
from gateway.settings import Settings

log = logging.getLogger(__name__)

CERT_FILE = "https-cert.pem"
KEY_FILE = "https-key.pem"
VALIDITY_DAYS = 20 * 365  # a pinned fingerprint must not expire under a door in use
MAKE_TIMEOUT_S = 120.0  # the child that makes the certificate (a Pi Zero is slow)
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The first certificate block of a PEM file (a chain file holds the server's first).
PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL
)


@dataclass(frozen=True)
class SubjectNames:
    """The host names and addresses a certificate is made for."""

    dns: list[str] = field(default_factory=list)
    ips: list[IpAddress] = field(default_factory=list)


class TlsError(Exception):
    """The certificate or key cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class TlsFiles:
    """The certificate and key the server uses, and the certificate's fingerprint."""

    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the DER certificate, "AB:CD:..."
    self_signed: bool
    created: bool = False  # made by this call (the first start)


def fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM file's first certificate, as browsers show it."""
    digest = hashlib.sha256(certificate_der(cert_pem)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def certificate_der(cert_pem: bytes) -> bytes:
    """The DER form of a PEM file's first certificate, checked to be an X.509 certificate
    by OpenSSL itself (through `ssl`, without `cryptography`)."""
    block = PEM_CERTIFICATE.search(cert_pem)
    if block is None:
        raise TlsError("not a PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        der = binascii.a2b_base64(b"".join(block.group(1).split()), strict_mode=True)
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=der)
    except (binascii.Error, ssl.SSLError, ValueError) as exc:
        raise TlsError(f"not a PEM certificate ({exc})") from None
    return der


def tls_files(settings: Settings, create: bool = True) -> TlsFiles | None:
    """The files `[web] tls` names: None for "off"; for "auto" the state directory's
    certificate, made now when missing (only when `create`)."""
    tls = settings.web_tls
    if tls == "off":
        return None
    if tls == "files":
        cert, key = Path(settings.web.cert_file), Path(settings.web.key_file)
        return TlsFiles(cert, key, _read_fingerprint(cert), self_signed=False)
    state_dir = Path(settings.device.state_dir)
    cert, key = state_dir / CERT_FILE, state_dir / KEY_FILE
    if cert.exists() and key.exists():
        return TlsFiles(cert, key, _read_fingerprint(cert), self_signed=True)
    if not create:
        raise TlsError(f"{cert} is made at the first start")
    host = socket.gethostname()
    names = subject_names(host, settings.web.listen, local_addresses())
    pem_cert, pem_key = make_self_signed_apart(host, names)
    owner = state_file_owner(state_dir)
    write_atomically(key, pem_key, 0o600, owner=owner)
    write_atomically(cert, pem_cert, 0o644, owner=owner)  # public
    return TlsFiles(cert, key, fingerprint(pem_cert), self_signed=True, created=True)


def _read_fingerprint(cert: Path) -> str:
    try:
        return fingerprint(cert.read_bytes())
    except OSError as exc:
        raise TlsError(f"{cert}: cannot read the certificate ({exc.strerror})") from None
    except TlsError as exc:
        raise TlsError(f"{cert}: {exc}") from None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context on the files: TLS 1.2 or newer, the library's default ciphers."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f'{files.cert} with {files.key}: cannot be used ({exc}); with tls = "auto", '
            "move both files away and a new certificate is made at the next start"
        ) from None
    return context


def local_addresses() -> list[IpAddress]:
    """This machine's addresses that are cheap to know: its outbound IPv4 address (a UDP
    socket's route, no packet sent) and what its host name resolves to."""
    found: list[IpAddress] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            found.append(ipaddress.ip_address(probe.getsockname()[0]))
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.append(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    except (OSError, ValueError):
        pass
    return found


def subject_names(host: str, listen: str, addresses: Iterable[IpAddress]) -> SubjectNames:
    """The names a client may reach the gateway by: its host name (and .local, mDNS),
    localhost, loopback, the listen address when it is one, the machine's addresses."""
    dns = [host, f"{host}.local", "localhost"]
    ips: list[IpAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    listen_host = listen.rpartition(":")[0].strip("[]")
    try:
        ips.append(ipaddress.ip_address(listen_host))
    except ValueError:
        if listen_host:
            dns.append(listen_host)
    ips += [ip for ip in addresses if not ip.is_unspecified]
    return SubjectNames([n for n in dict.fromkeys(dns) if n], list(dict.fromkeys(ips)))


def make_self_signed_apart(host: str, names: SubjectNames) -> tuple[bytes, bytes]:
    """`make_self_signed` in a child interpreter, so this process never imports
    cryptography; the key comes back over a pipe, never through a file."""
    request = {"host": host, "dns": names.dns, "ips": [str(ip) for ip in names.ips]}
    try:
        child = subprocess.run(
            [sys.executable, "-m", "gateway.tlscert"],
            # `-m` looks in the working directory first: the one that holds this very
            # package, so the child runs the same code, never a file in the state directory.
            cwd=Path(__file__).resolve().parent.parent,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=MAKE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TlsError(f"cannot make a self-signed certificate ({exc})") from None
    if child.returncode != 0:
        why = child.stderr.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
        raise TlsError(f"cannot make a self-signed certificate ({why[0]})")
    answer = json.loads(child.stdout)
    return str(answer["cert"]).encode(), str(answer["key"]).encode()


def make_self_signed(host: str, names: SubjectNames) -> tuple[bytes, bytes]:
    """A new P-256 key and a certificate for `names`, PEM (certificate, key)."""
    from cryptography import x509  # only in the child that makes it (module docstring)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, host[:64] or "door-gateway"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "door-gateway (self-signed)"),
        ]
    )
    general: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns]
    general += [x509.IPAddress(ip) for ip in names.ips]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))  # a Pi's clock may be behind
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def serving_context(settings: Settings) -> tuple[TlsFiles | None, ssl.SSLContext | None]:
    """`[web] tls`: the files (made at the first start with "auto") and the server's
    context, or (None, None) for plain HTTP. The fingerprint is logged for the installer
    to compare with the browser's."""
    files = tls_files(settings)
    if files is None:
        return None, None
    made = "made now, " if files.created else ""
    kind = "self-signed" if files.self_signed else "the site's"
    log.info(
        "HTTPS with %s certificate %s (%sSHA-256 fingerprint %s)",
        kind,
        files.cert,
        made,
        files.fingerprint,
    )
    return files, server_context(files)


def main() -> int:
    """`python -m gateway.tlscert`: make a certificate for the JSON request on stdin
    (`host`, `dns`, `ips`) and print the PEM certificate and key as JSON."""
    request = json.load(sys.stdin)
    names = SubjectNames(
        [str(name) for name in request["dns"]],
        [ipaddress.ip_address(str(ip)) for ip in request["ips"]],
    )
    cert, key = make_self_signed(str(request["host"]), names)
    json.dump({"cert": cert.decode(), "key": key.decode()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
