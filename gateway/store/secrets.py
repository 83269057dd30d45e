"""Secrets at rest: the per-device key, keyed PIN hashes and slow password hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

DEVICE_KEY_FILE = "device.key"
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1


def load_or_create_device_key(state_dir: Path) -> bytes:
    """Read the device's 32-byte secret from the state dir, creating it (mode 0600) if absent."""
    path = state_dir / DEVICE_KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) < 32:
            raise ValueError(f"{path}: device key is shorter than 32 bytes; refusing to use it")
        return key
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class PinHasher:
    """Keyed hash of a PIN (HMAC-SHA256 with the device key), so lookups stay O(1)
    while a stolen database does not give PINs away without the key file."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def hash(self, pin: str) -> str:
        """The hex HMAC of `pin`'s digits."""
        return hmac.new(self._key, pin.encode("ascii"), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form `scrypt$N$r$p$salt_hex$hash_hex`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Check `password` against a `hash_password` result, in constant time."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(hash_hex) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)
