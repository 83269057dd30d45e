"""The verify URL: the Akuvox template with its `{Variable}` placeholders filled in.

The integrator writes a URL template such as
`https://srv/verify?code={Card}/{Pin}&dev={DeviceID}&t={Time}`. For each request the
credential in use fills its own variables, every other credential variable becomes empty,
and every value is percent-encoded (so a QR code full of `&`/`=` cannot add parameters).

PINs and QR codes travel in the URL (that is the protocol), so anything that may be written
to a log or an event is built by `redacted_url`, which fills the same template with the PIN
replaced by `****`, a QR code by its fingerprint, and hides a password in `user:password@`.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from gateway.model import CredentialKind, shown_credential
from gateway.urls import UNPARSABLE, host_and_path

_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}")
PASSWORD_MASK = "***"

# Which placeholders each credential kind fills (the reference's variable table).
KIND_VARIABLES: dict[str, tuple[str, ...]] = {
    "qr": ("QRCode",),
    "card": ("Card", "CardCode"),
    "pin": ("Pin", "PINCode"),
    "face": ("Face", "FaceData"),
}
CREDENTIAL_VARIABLES: tuple[str, ...] = tuple(v for vs in KIND_VARIABLES.values() for v in vs)

# {Type} in a two-factor exchange: the reference's field table, "1 = RF Card + PIN,
# 2 = PIN + RF Card" (the combination, not the step; the step is our {Step} extension).
TWO_FACTOR_TYPES: dict[str, str] = {"card+pin": "1", "pin+card": "2"}


@dataclass(frozen=True)
class VerifyRequest:
    """Everything one verify request says, before it becomes a URL.

    `value` is the credential as sent: a card already in the reader's display format.
    `step` is 0 for a single-factor request, 1 or 2 in a two-factor exchange, where
    `two_factor_type` ("1"/"2") and `session` (random, the same for both steps) are set.
    """

    kind: CredentialKind
    value: str
    device_id: str
    time: str
    step: int = 0
    two_factor_type: str = ""
    session: str = ""

    @property
    def is_secret(self) -> bool:
        """A PIN or a QR code: never in a log or an event as it is."""
        return self.kind in ("pin", "qr")

    def variables(self, for_log: bool = False) -> dict[str, str]:
        """Placeholder name -> raw (not yet encoded) value; with `for_log`, the credential
        as logs show it (a PIN masked, a QR code as its fingerprint)."""
        value = shown_credential(self.kind, self.value) if for_log else self.value
        filled = dict.fromkeys(CREDENTIAL_VARIABLES, "")
        for name in KIND_VARIABLES.get(self.kind, ()):
            filled[name] = value
        two_factor = self.step > 0
        filled.update(
            DeviceID=self.device_id,
            Time=self.time,
            # {Token}: "credential collected in the current step" (two-factor only).
            Token=value if two_factor else "",
            Type=self.two_factor_type if two_factor else "",
            Session=self.session if two_factor else "",
            Step=str(self.step) if two_factor else "",
        )
        return filled


def fill_template(
    template: str, variables: dict[str, str], verbatim: frozenset[str] = frozenset()
) -> str:
    """`template` with each known `{Name}` replaced by its percent-encoded value.

    Names in `verbatim` are inserted as they are (the `****` of a redacted URL should
    read as stars, not `%2A%2A%2A%2A`). Unknown placeholders stay as written (the
    configuration loader rejects them).
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = variables.get(name)
        if value is None:
            return match.group(0)
        return value if name in verbatim else quote(value, safe="")

    return _PLACEHOLDER.sub(replace, template)


def build_url(template: str, request: VerifyRequest) -> str:
    """The URL actually requested (it may hold a PIN: never log it)."""
    return fill_template(template, request.variables())


def redacted_url(template: str, request: VerifyRequest) -> str:
    """The URL as it may appear in logs and events: a PIN as `****`, a QR code as its
    fingerprint, no password."""
    if request.is_secret:
        verbatim = frozenset((*KIND_VARIABLES.get(request.kind, ()), "Token"))
    else:
        verbatim = frozenset()
    return hide_password(fill_template(template, request.variables(for_log=True), verbatim))


def hide_password(url: str) -> str:
    """`scheme://user:password@host/...` -> `scheme://user:***@host/...`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable url)"
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{PASSWORD_MASK}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def trace_target(url: str) -> str:
    """`host[:port]/path` of an (already redacted) URL: the short form used in traces."""
    shown = host_and_path(url)
    if shown is None:
        return UNPARSABLE
    return shown if urlsplit(url).path else shown + "/"


def server_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, for status pages ("" when there is none)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.hostname}{port}" if parts.hostname else ""


def format_time(now: float, tz: ZoneInfo, time_format: str) -> str:
    """{Time}: `now` (UTC epoch seconds) in the device's zone; "" format = ISO 8601."""
    local = datetime.fromtimestamp(now, tz)
    if time_format == "":
        return local.isoformat(timespec="seconds")
    return local.strftime(time_format)
