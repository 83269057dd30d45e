"""Keyed PIN hashes: how the engine, the store and the upstream client name a PIN without
its digits. Pure: the key comes in (the store loads it from the device key file,
`gateway.store.secrets.load_or_create_device_key`)."""

from __future__ import annotations

import hashlib
import hmac


class PinHasher:
    """Keyed hash of a PIN (HMAC-SHA256 with the device key), so lookups stay O(1)
    while a stolen database does not give PINs away without the key file."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def hash(self, pin: str) -> str:
        """The hex HMAC of `pin`'s digits."""
        # The one-shot form: the same HMAC, without building an HMAC object per PIN.
        return hmac.digest(self._key, pin.encode("ascii"), hashlib.sha256).hex()
