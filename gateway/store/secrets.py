"""Secrets at rest: the per-device key (the PIN hasher's key, `gateway.access.pins`) and
slow password hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from gateway.atomicfile import OS_DISK, Disk, state_file_owner, write_atomically
from gateway.store.errors import StoreError
from gateway.store.statedir import make_state_dir

DEVICE_KEY_FILE = "device.key"
DEVICE_KEY_BYTES = 32
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1


class DeviceKeyError(StoreError):
    """The device key file exists but cannot be the key: start-up stops, the file is kept."""


def load_or_create_device_key(state_dir: Path, disk: Disk = OS_DISK) -> bytes:
    """Read the device's 32-byte secret from the state dir, creating it (mode 0600) if absent.

    The key is written whole or not at all (`write_atomically`), so a power cut during the
    first start leaves no key and the next start makes one. A key file that is there but
    too short is never replaced: every PIN hash and sealed TOTP secret depends on it. A key
    that group or others may read or write stops start-up with the chmod to run; it is not
    changed behind the administrator's back (they should know who else could read it).
    """
    path = state_dir / DEVICE_KEY_FILE
    try:
        with path.open("rb") as file:
            key = file.read()
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
    except FileNotFoundError:
        return _create_device_key(state_dir, disk)
    if len(key) < DEVICE_KEY_BYTES:
        raise DeviceKeyError(
            f"{path}: the device key is damaged ({len(key)} of {DEVICE_KEY_BYTES} bytes); "
            "every PIN and TOTP secret of this gateway depends on it, so it is not replaced. "
            "Restore it from a backup; without one, move the file away (a new key is made at "
            "the next start) and give every user a new PIN"
        )
    if mode & 0o077:
        raise DeviceKeyError(
            f"{path} is open to group or others (mode {mode:04o}), and with it every PIN "
            f"hash of a copied database can be tested offline; make it private: chmod 600 {path}"
        )
    return key


def _create_device_key(state_dir: Path, disk: Disk) -> bytes:
    if not state_dir.is_dir():
        make_state_dir(state_dir)
    key = secrets.token_bytes(DEVICE_KEY_BYTES)
    path = state_dir / DEVICE_KEY_FILE
    try:
        write_atomically(
            path, key, 0o600, owner=state_file_owner(state_dir), replace=False, disk=disk
        )
    except FileExistsError:  # another process (the CLI, the daemon) made it first: use theirs
        return load_or_create_device_key(state_dir, disk)
    return key


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
