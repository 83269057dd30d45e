"""The effective configuration as the status page shows it, every secret masked, and the
`check-config` result of a file, as data.

What is secret is read from the settings declarations (`SECRET` beside a field in
`gateway.settings`), so a new secret key is masked as soon as it is declared. Beyond the
declared secrets, every string is looked at as a URL: the password of a
`user:password@host` and the values of query parameters whose names say they are
credentials (`token`, `key`, `password`, ...) are masked too, because an upstream URL,
an input action or an anti-passback URL may carry them (docs/status-page.md).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from gateway.config.command import config_warnings
from gateway.config.loader import load_settings
from gateway.config.report import ConfigError
from gateway.config.schema import key_specs
from gateway.config.summary import summary
from gateway.settings import Settings

MASK = "****"  # as a PIN is shown everywhere; never says how long the secret is
# Query parameter names that carry a credential (matched anywhere in the name).
_CREDENTIAL_PARAM = re.compile(r"pass|pwd|token|secret|key|auth|sig|session|cred", re.IGNORECASE)


def masked_settings(settings: Settings) -> dict[str, Any]:
    """`settings` as nested plain data (TOML's shape), secrets replaced by `MASK`; an
    empty secret stays empty, so "not set" still shows. A reader shows only the keys
    of its kind."""
    return _masked_table(settings)


def _masked_table(table: object) -> dict[str, Any]:
    """A table's keys; a reader's keys for other kinds of reader are left out (they have
    no effect on it)."""
    shown: dict[str, Any] = {}
    cls: type = type(table)
    kind = getattr(table, "kind", None)
    for spec in key_specs(cls):
        if spec.used_by is not None and kind not in spec.used_by.kinds:
            continue
        value = getattr(table, spec.name)
        shown[spec.name] = _masked_secret(value) if spec.secret else _masked_value(value)
    return shown


def _masked_secret(value: Any) -> Any:
    if isinstance(value, tuple):
        return [MASK for _ in value]  # how many, as check-config says, never which
    if value in ("", None):
        return value
    return MASK


def _masked_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _masked_table(value)
    if isinstance(value, tuple):
        return [_masked_value(item) for item in value]
    if isinstance(value, str):
        return masked_url(value)
    return value


def masked_url(text: str) -> str:
    """`text` with a URL's password and credential-like query values masked; any other
    text (or a URL without them) unchanged."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{quote(parts.username or '', safe='')}:{MASK}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_CREDENTIAL_PARAM.search(name) for name, _ in pairs):
        masked = [(n, MASK if _CREDENTIAL_PARAM.search(n) else v) for n, v in pairs]
        query = urlencode(masked, safe="{}*$")
    if (netloc, query) == (parts.netloc, parts.query):
        return text
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def masked_text(text: str) -> str:
    """`text` (a check-config message) with every URL in it masked as `masked_url` does:
    a message quotes what it found, and a URL the check refused may carry a password."""
    return _URL_IN_TEXT.sub(lambda found: masked_url(found.group(0)), text)


@dataclass(frozen=True)
class ConfigCheck:
    """What `door-gateway check-config FILE` says about a file, as data."""

    path: str
    valid: bool
    errors: tuple[str, ...]  # one line per problem (secrets by type only)
    warnings: tuple[str, ...]  # valid but risky settings
    summary: str  # the one-screen summary of a valid file, "" otherwise

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def check_file(path: str | Path) -> ConfigCheck:
    """Check the file at `path` as `check-config` does (reads it from disk now); the
    credentials of any URL a message quotes are masked."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return ConfigCheck(str(path), False, tuple(masked_text(e) for e in exc.errors), (), "")
    warnings = tuple(masked_text(w) for w in config_warnings(settings))
    return ConfigCheck(str(path), True, (), warnings, masked_text(summary(settings)))
