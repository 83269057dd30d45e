"""`door-gateway check-config FILE`, and the warnings about valid but risky settings that
it prints (and the daemon logs at start)."""

from __future__ import annotations

import sys

from gateway.config.loader import load_settings
from gateway.config.report import ConfigError
from gateway.config.summary import summary
from gateway.settings import DoorSettings, Settings, UpstreamSettings

# What an upstream server is asked about, as a sentence names it.
_KIND_NAMES = {"card": "card", "pin": "PIN", "qr": "QR code", "plate": "licence plate"}


def _offline_kinds(upstream: UpstreamSettings) -> str:
    """ "card, PIN or QR code": what an offline grant lets in (what goes upstream)."""
    kinds = upstream.methods if upstream.mode == "customize" else ("qr",)
    names = [_KIND_NAMES.get(kind, kind) for kind in kinds]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _offline_grant_warning(door: DoorSettings, upstream: UpstreamSettings) -> str:
    """The warning for a door whose `offline_policy` is "grant" (docs/upstream.md)."""
    head = (
        f'warning: door "{door.name}": offline_policy = "grant" opens this door to ANY '
        f"{_offline_kinds(upstream)} the local cache does not know while the upstream "
        "server is unreachable"
    )
    if not upstream.url:
        return (
            f"{head}. It does nothing while [upstream] url is empty, and takes effect as "
            'soon as one is set: use "deny" unless the door must open for everyone then.'
        )
    return (
        f"{head} (after {upstream.breaker_failures} failed requests: pulling the network "
        'cable is enough). Use "deny" unless the door must open for everyone then.'
    )


def config_warnings(settings: Settings) -> list[str]:
    """Valid settings that weaken the site's security, one sentence each: check-config
    prints them, the daemon logs them at start."""
    return [
        _offline_grant_warning(door, settings.upstream)
        for door in settings.doors
        if door.offline_policy == "grant"
    ]


def check_config_command(path: str) -> int:
    """`door-gateway check-config FILE`: print the summary and any warnings to stderr (0),
    or every error to stderr (2)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        count = len(exc.errors)
        print(f"{count} error{'' if count == 1 else 's'} in {path}", file=sys.stderr)
        return 2
    print(summary(settings))
    for warning in config_warnings(settings):
        print(warning, file=sys.stderr)
    return 0
