"""`load_settings`: a TOML file -> checked, typed `gateway.settings.Settings`.

The file is read with the standard library's `tomllib` and checked in two passes that
collect *every* problem rather than stopping at the first: the schema pass
(`gateway.config.schema`: unknown keys, wrong types, values out of range, as each
settings field declares) and the cross-check pass (`gateway.config.checks`: relations
between keys, on the values the first pass accepted). Then derived values are filled in.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from gateway.config.checks import cross_check
from gateway.config.report import ConfigError, Report
from gateway.config.schema import INVALID, Schema
from gateway.settings import Settings

_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*\Z")


def load_settings(path: str | Path) -> Settings:
    """Read and check the TOML file at `path`.

    Raises ConfigError listing every problem found. A relative `[device] state_dir` is
    resolved against the current working directory, so the settings hold an absolute path.
    """
    label = str(path)
    return settings_from_document(read_toml(Path(path), label), label)


def settings_from_document(data: dict[str, Any], label: str) -> Settings:
    """Check a parsed TOML document; `label` starts each message (the file's path)."""
    report = Report(label)
    schema = Schema(report)
    settings = schema.table(Settings, data, "")
    cross_check(schema.checked(), report)
    if report.errors or settings is INVALID:
        raise ConfigError(report.errors or [f"{label}: the configuration is not usable"])
    return _finish(settings, label)


def read_toml(path: Path, label: str) -> dict[str, Any]:
    """Parse the file; an unreadable file or a syntax error raises ConfigError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"{label}: cannot read the configuration file: {reason}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        message = (
            f"{label}: line {line}, column {column}: not UTF-8 text (byte 0x{raw[exc.start]:02X})"
        )
        raise ConfigError([message]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_message(label, str(exc), text)]) from None


def _syntax_message(label: str, message: str, text: str) -> str:
    """tomllib's "msg (at line L, column C)" as "FILE: line L, column C: msg"."""
    match = _POSITION.search(message)
    if match is None:
        return f"{label}: {message}"
    reason = message[: match.start()]
    if match.group(1) is not None:
        line, column = int(match.group(1)), int(match.group(2))
    else:  # "at end of document": point just past the last character
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"{label}: line {line}, column {column}: {reason}"


def _finish(settings: Settings, label: str) -> Settings:
    """Fill in derived values: the file path, absolute state dir, upstream device id."""
    device = dataclasses.replace(
        settings.device, state_dir=os.path.abspath(settings.device.state_dir)
    )
    upstream = settings.upstream
    if upstream.device_id == "":
        upstream = dataclasses.replace(upstream, device_id=device.id)
    users = tuple(
        dataclasses.replace(user, cards=tuple(card.upper() for card in user.cards))
        for user in settings.simulation.demo_users
    )
    simulation = dataclasses.replace(settings.simulation, demo_users=users)
    return dataclasses.replace(
        settings, path=label, device=device, upstream=upstream, simulation=simulation
    )
