"""The keyed PIN hash is part of what a device stores and exports: it never changes."""

from __future__ import annotations

import hashlib
import hmac

from gateway.access.pins import PinHasher

KEY = bytes(range(32))


def test_a_pin_hash_is_the_hmac_sha256_of_its_digits_with_the_device_key() -> None:
    # An export re-imported into the same device (same key) must find every PIN again.
    hasher = PinHasher(KEY)
    assert hasher.hash("2468") == hmac.new(KEY, b"2468", hashlib.sha256).hexdigest()
    assert hasher.hash("2468") == "10d4d50fa42852da2ff3ee40ba484655b27d683203a27d081dedc42cccf00460"
    assert hasher.hash("2468") != PinHasher(bytes(32)).hash("2468")
