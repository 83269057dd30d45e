"""A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and AUTH, for the mailer tests
and the whole-daemon test; verbs for what it does (`go_down`, `come_back`) and what it
received (`mails`). Its certificate comes from a CA the test makes (`TestCa`)."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "gateway"
PASSWORD = "Mail-Pass-4471"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TestCa:
    """A CA certificate (`ca_file`, what the gateway trusts) and a server certificate for
    127.0.0.1 and localhost signed by it (`cert_file`, `key_file`)."""

    __test__ = False  # not a test class (pytest collects names starting with "Test")

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def make(cls, directory: Path) -> TestCa:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notify test CA")])
        ca_cert = (
            _builder(ca_name, ca_name, ca_key, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (
            _builder(name, ca_name, key, now)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        made = cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        made.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        made.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        made.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return made

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


@dataclass(frozen=True)
class Received:
    """One mail as the server accepted it."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool  # the session was encrypted when the mail came
    login: str  # who authenticated ("" if nobody)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = (
            auth.login.decode() if session.authenticated and isinstance(auth, LoginPassword) else ""
        )
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), message, session.ssl is not None, login
        )
        with self._server.lock:
            self._server.mails.append(received)
        return "250 Message accepted for delivery"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USERNAME, PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpServer:
    """A mail server on 127.0.0.1:`port` that demands STARTTLS before AUTH and mail (or
    another `mode`)."""

    def __init__(self, ca: TestCa, port: int | None = None, mode: str = "starttls") -> None:
        self.ca = ca
        self.port = port or free_port()
        # "starttls"; "implicit": TLS from the first byte (SMTPS); "plain": no TLS at all
        self.mode = mode
        self.mails: list[Received] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def come_back(self) -> SmtpServer:
        """Listen (again, on the same port)."""
        tls: dict[str, Any] = {"tls_context": self.ca.server_context(), "require_starttls": True}
        if self.mode == "implicit":
            # aiosmtpd cannot tell an implicit TLS session from a plain one: AUTH is
            # offered only without its require-TLS switch (the whole session is TLS).
            tls = {"ssl_context": self.ca.server_context(), "auth_require_tls": False}
        elif self.mode == "plain":
            tls = {"auth_require_tls": False}
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, authenticator=_authenticate, **tls
        )
        self._controller.start()
        return self

    def go_down(self) -> None:
        """Stop listening: connections are refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.mails)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The mails, once at least `count` arrived (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.received()
            if len(mails) >= count:
                return mails
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received())} mails arrived, expected {count}")

    async def arrived(self, count: int, timeout: float = 10.0) -> list[Received]:
        """`wait_for` without blocking the event loop (the mailer runs on it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.received()
            if len(mails) >= count:
                return mails
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.received())} mails arrived, expected {count}")
