"""URLs as they may appear in events and logs: never a password, query or fragment."""

from __future__ import annotations

from urllib.parse import urlsplit

UNPARSABLE = "(unparsable url)"


def host_and_path(url: str) -> str | None:
    """`host[:port]/path` of `url` (user, password and query dropped); None if unparsable."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    return f"{host}{port}{parts.path}"


def loggable_url(url: str) -> str:
    """`scheme://host[:port]/path`: what an event may say about a configured URL."""
    shown = host_and_path(url)
    return UNPARSABLE if shown is None else f"{urlsplit(url).scheme}://{shown}"
