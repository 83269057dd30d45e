"""URLs as they may appear in events, logs and messages: never a password (a loggable URL
keeps only scheme, host and path; a masked URL keeps its shape with the secrets as `****`)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

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


MASK = "****"  # as a PIN is shown everywhere; never says how long the secret is
# Query parameter names that carry a credential (matched anywhere in the name).
_CREDENTIAL_PARAM = re.compile(r"pass|pwd|token|secret|key|auth|sig|session|cred", re.IGNORECASE)


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
