"""Sending one mail through the configured SMTP server (aiosmtplib, on the event loop).

TLS is required unless `[smtp] tls = "off"` (a relay on this machine, which the
configuration check allows only on loopback and without a password): STARTTLS is demanded,
never merely tried, so a man in the middle cannot strip it, and the server's certificate
is checked (chain and host name) against the system's CAs or `ca_file`. A failure is
described by its type, the server's reply code and reply text, never with the password.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Protocol

from gateway.settings import SmtpSettings

__all__ = ["DEFAULT_PORTS", "MailTransport", "SendError", "SmtpTransport", "tls_context"]

DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "off": 25}
MAX_REPLY_SHOWN = 160


class SendError(Exception):
    """A mail was not accepted; `str()` is safe to show (no password in it)."""


class MailTransport(Protocol):
    """What the mailer sends through (a fake in unit tests)."""

    async def send(self, message: EmailMessage) -> str:
        """Deliver `message` to the server; a note on refused recipients ("" if none).
        Raises `SendError` when the server did not accept it."""
        ...


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    """The TLS context for the server (None for `tls = "off"`). Reads `ca_file`: call it
    once, at start-up. Raises ValueError naming the file when it cannot be used."""
    if settings.tls == "off":
        return None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "unusable"
        message = f"smtp.ca_file {settings.ca_file}: not a usable PEM CA file ({reason})"
        raise ValueError(message) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context  # verify_mode CERT_REQUIRED, check_hostname True


class SmtpTransport:
    """One SMTP session per mail: connect, (START)TLS, AUTH, send, quit."""

    def __init__(self, settings: SmtpSettings, context: ssl.SSLContext | None) -> None:
        self._settings = settings
        self._context = context

    @property
    def server(self) -> str:
        """`host:port (tls)`, for status and events."""
        return f"{self._settings.host}:{self.port} ({self._settings.tls})"

    @property
    def port(self) -> int:
        return self._settings.port or DEFAULT_PORTS[self._settings.tls]

    async def send(self, message: EmailMessage) -> str:
        import aiosmtplib  # imported here: only a gateway that mails loads it

        settings = self._settings
        tls = settings.tls
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=self.port,
            timeout=settings.timeout_s,
            use_tls=tls == "implicit",
            start_tls=tls == "starttls",  # True: demanded; fails if the server lacks it
            validate_certs=tls != "off",
            tls_context=self._context,
            username=settings.username or None,
            password=settings.password or None,
        )
        try:
            async with client:
                refused, _ = await client.send_message(message)
        except (
            aiosmtplib.SMTPException,
            OSError,
            ssl.SSLError,
        ) as exc:  # TimeoutError is an OSError
            raise SendError(describe_failure(exc, settings.password)) from None
        if not refused:
            return ""
        return "refused: " + ", ".join(f"{rcpt} ({reply.code})" for rcpt, reply in refused.items())


def describe_failure(exc: BaseException, password: str = "") -> str:
    """`SMTPAuthenticationError 535: 5.7.8 Authentication failed`, `ConnectionRefusedError`,
    `SSLCertVerificationError: ... certificate verify failed ...`: what an installer needs,
    with the password blotted out should a server ever echo it."""
    import aiosmtplib

    name = type(exc).__name__
    code = getattr(exc, "code", None)
    reply = getattr(exc, "message", None)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{name} {code}: {reply}"
    elif isinstance(exc, (ssl.SSLError, aiosmtplib.SMTPException)):
        text = f"{name}: {exc}"
    else:
        text = name
    text = " ".join(text.split())[:MAX_REPLY_SHOWN]
    return text.replace(password, "***") if password else text
