"""Cross-checks of e-mail notifications: [notifications] has somewhere to send, [smtp] is
safe to send through, and the doors' e-mail input actions have a mailer to go to.

Messages name the rule, never a value of `password` (a secret)."""

from __future__ import annotations

import ipaddress
import json

from gateway.config.report import NOTHING, Report, hint
from gateway.config.schema import Checked, Located
from gateway.settings import InputActionSettings, NotificationSettings, SmtpSettings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def check_notifications(checked: Checked, report: Report) -> None:
    """Every relation between [notifications], [smtp] and the e-mail input actions."""
    notifications = checked.section(NotificationSettings)
    smtp = checked.section(SmtpSettings)
    enabled = notifications is not None and notifications.value.enabled
    if notifications is not None:
        _check_reasons(notifications, report)
        if enabled:
            _check_addresses(notifications, report)
    if enabled and (smtp is None or (smtp.ok("host") and smtp.value.host == "")):
        report.expected(
            "smtp.host", "the mail server's host name (notifications are enabled)", NOTHING
        )
    if smtp is not None:
        _check_smtp(smtp, report)
        _check_ca_file(smtp, report)
    _check_input_actions(checked, enabled, report)


def _check_addresses(notifications: Located[NotificationSettings], report: Report) -> None:
    settings = notifications.value
    if notifications.ok("sender") and settings.sender == "":
        report.expected(notifications.at("sender"), "the From: address of the mails", NOTHING)
    if notifications.ok("to") and not settings.to:
        report.expected(notifications.at("to"), "at least one address to mail", "[]")


def _check_reasons(notifications: Located[NotificationSettings], report: Report) -> None:
    """A reason nothing can journal would silently never mail: refuse it, with a hint."""
    if not notifications.ok("reasons"):
        return
    # Imported here: only a file that lists reasons needs the table of every reason.
    from gateway.web.page.reasons import REASONS, explanation

    for index, reason in enumerate(notifications.value.reasons):
        if explanation(reason) is None:
            path = f"{notifications.at('reasons')}[{index}]"
            close = hint(reason, REASONS)
            report.expected(
                path, "a reason the journal records (docs/notifications.md)", reason, close
            )


def _check_smtp(smtp: Located[SmtpSettings], report: Report) -> None:
    """Credentials come as a pair and never cross the network in clear; plain SMTP only
    to a relay on this machine."""
    settings = smtp.value
    if settings.password != "" and settings.username == "" and smtp.ok("username"):
        report.add(smtp.at("password"), "only used with a username")
    if settings.username != "" and settings.password == "" and smtp.ok("password"):
        report.add(smtp.at("username"), "needs a password too")
    if not smtp.ok("tls") or settings.tls != "off":
        return
    if settings.username != "" or settings.password != "":
        report.add(
            smtp.at("tls"),
            '"off" would send the username and password in clear: use "starttls" or "implicit"',
        )
    if smtp.ok("host") and settings.host != "" and not is_loopback_host(settings.host):
        report.add(
            smtp.at("tls"),
            f'"off" sends mail in clear to {json.dumps(settings.host)}: only a relay on this '
            'machine (127.0.0.1, ::1, localhost) may be used without TLS; use "starttls" '
            'or "implicit"',
        )
    if settings.ca_file != "":
        report.add(smtp.at("ca_file"), 'only used with tls = "starttls" or "implicit"')


def _check_ca_file(smtp: Located[SmtpSettings], report: Report) -> None:
    """A CA file is one the TLS library can load (read once, at the check)."""
    if smtp.value.ca_file == "" or not smtp.ok("ca_file") or smtp.value.tls == "off":
        return
    from gateway.notify.smtp import tls_context  # the mailer's own TLS set-up, only here

    try:
        tls_context(smtp.value)
    except ValueError as exc:
        report.add(smtp.at("ca_file"), str(exc).split(": ", 1)[1])


def _check_input_actions(checked: Checked, enabled: bool, report: Report) -> None:
    """An e-mail action needs notifications enabled (that an action does something at all
    is checked with the doors: `gateway.config.checks`)."""
    for action in checked.of(InputActionSettings):
        settings = action.value
        if settings.email and not enabled:
            report.add(
                action.at("email"), "needs [notifications] enabled = true (the mailer sends it)"
            )


def is_loopback_host(host: str) -> bool:
    """True for a name or address of this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
