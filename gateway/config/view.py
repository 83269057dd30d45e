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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.command import config_warnings
from gateway.config.loader import load_settings
from gateway.config.report import ConfigError
from gateway.config.schema import key_specs
from gateway.config.summary import summary
from gateway.settings import Settings
from gateway.urls import MASK, masked_text, masked_url


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
        return ConfigCheck(str(path), False, tuple(exc.errors), (), "")
    warnings = tuple(masked_text(w) for w in config_warnings(settings))
    return ConfigCheck(str(path), True, (), warnings, masked_text(summary(settings)))
