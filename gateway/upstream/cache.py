"""Optional cache of upstream grants, so a repeat visitor does not wait for the server.

Keyed by (credential kind, value, door): a grant at one door says nothing about another.
A PIN is never kept in clear: its key is the keyed hash the caller provides (the device's
`PinHasher`); without a hash function PINs are not cached at all. Only grants are kept, so
a revocation on the server takes effect when the entry expires (`ttl_s`), and the size is
bounded: past `max_entries` the oldest entry goes. Time is an input (a monotonic clock).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.model import Credential

CacheKey = tuple[str, str, str]


@dataclass(frozen=True)
class CachedGrant:
    """One remembered grant: when it stops counting, and the server's prompt text."""

    expires: float
    message: str = ""


class GrantCache:
    """A bounded, expiring map of upstream grants (ttl_s 0 = switched off)."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float],
        pin_hash: Callable[[str], str] | None = None,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._pin_hash = pin_hash
        self._entries: OrderedDict[CacheKey, CachedGrant] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    def _key(self, credential: Credential, door: str) -> CacheKey | None:
        """The entry's key, or None for what may not be cached (a PIN without a hash)."""
        if credential.kind != "pin":
            return (credential.kind, credential.value, door)
        if self._pin_hash is None or not credential.value.isascii():
            return None
        return ("pin", self._pin_hash(credential.value), door)

    def get(self, credential: Credential, door: str) -> CachedGrant | None:
        """The live grant for `credential` at `door`, if any (expired entries are dropped)."""
        key = self._key(credential, door) if self.enabled else None
        entry = None
        if key is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.expires <= self._clock():
                del self._entries[key]
                entry = None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, credential: Credential, door: str, message: str = "") -> None:
        """Remember a grant for `ttl_s` (refreshing an existing entry)."""
        key = self._key(credential, door) if self.enabled else None
        if key is None:
            return
        self._entries.pop(key, None)  # re-inserted at the end: the newest
        self._entries[key] = CachedGrant(self._clock() + self._ttl_s, message)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "ttl_s": self._ttl_s,
            "entries": len(self._entries),
            "max_entries": self._max,
            "hits": self.hits,
            "misses": self.misses,
        }
