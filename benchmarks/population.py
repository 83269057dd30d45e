"""A state directory with N cardholders, built fast and cached between benchmark runs.

Each user `i` (0 <= i < N) has user id `U{i}`, one card whose canonical number is the H10301
number of `card_bits(i)` (facility and card number from `i + 1`, facilities from 32 up, so
that no card is one of config/simulate.toml's demo cards, facilities 12 and 13), and one PIN,
`pin_of(i)`. Ten access rights (every slot of every day, so a decision grants at any hour)
sit in ten groups, and each user belongs to one group. Rows go in with `executemany` on the
store's own schema (the store creates and migrates the database first), in one transaction:
1,000,000 users take well under a minute.

The built directory is kept under `benchmarks/.cache/` (or `$BENCH_CACHE`), keyed by N, the
schema version and this module's layout version, and copied for each run with SQLite's
backup API, so a benchmark that writes (a daemon journaling events) never dirties the cache.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.access.pins import PinHasher
from gateway.access.snapshot import ALWAYS_PATTERN
from gateway.hw.formats import encode_h10301
from gateway.storage import DB_FILE
from gateway.store.schema import DAY_COLUMNS, LATEST_VERSION
from gateway.store.secrets import DEVICE_KEY_FILE, load_or_create_device_key
from gateway.store.stores import Stores

LAYOUT_VERSION = 2  # bump when the rows below change: older caches are then rebuilt
GROUPS = 10
FIRST_FACILITY = 32  # above the demo users' cards (config/simulate.toml)
UNKNOWN_FACILITY = 255  # no user's card: a population stays below it
BATCH = 50_000
CACHE_DIR = Path(os.environ.get("BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))


def card_number(i: int) -> tuple[int, int]:
    """User `i`'s H10301 facility code and card number."""
    value = (FIRST_FACILITY << 16) + i + 1
    if value >> 16 >= UNKNOWN_FACILITY:
        raise ValueError(f"user {i} is beyond what 26-bit cards can number here")
    return value >> 16, value & 0xFFFF


def card_value(i: int) -> str:
    """User `i`'s canonical card number, as the Wiegand reader reports it."""
    facility, number = card_number(i)
    return f"{facility << 16 | number:06X}"


def card_bits(i: int) -> str:
    """User `i`'s card as a 26-bit H10301 Wiegand frame."""
    return encode_h10301(*card_number(i))


def unknown_card_value(i: int) -> str:
    """A canonical card number that no user holds (facility 255, above every user's)."""
    return f"{(UNKNOWN_FACILITY << 16) | (i & 0xFFFF):06X}"


def pin_of(i: int) -> str:
    """User `i`'s PIN: eight digits, unique per user."""
    return f"{10_000_000 + i}"


def cached_state_dir(users: int) -> Path:
    """The cached state directory with `users` users, built first if absent."""
    path = CACHE_DIR / f"users-{users}-schema{LATEST_VERSION}-layout{LAYOUT_VERSION}"
    if not (path / DB_FILE).exists():
        build_state_dir(path, users)
    return path


def copy_state_dir(source: Path, target: Path) -> None:
    """A fresh, private copy of the state directory `source` at `target` (which must not
    exist): the device key, and the database through SQLite's backup API."""
    target.mkdir(mode=0o700, parents=True)
    shutil.copy2(source / DEVICE_KEY_FILE, target / DEVICE_KEY_FILE)
    with (
        sqlite3.connect(source / DB_FILE) as origin,
        sqlite3.connect(target / DB_FILE) as copy,
    ):
        origin.backup(copy)
    origin.close()
    copy.close()


def build_state_dir(path: Path, users: int) -> float:
    """Build the population into `path` (replacing it whole); the seconds it took."""
    started = time.monotonic()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="building-", dir=path.parent))
    os.chmod(scratch, 0o700)
    try:
        hasher = PinHasher(load_or_create_device_key(scratch))
        Stores.open(scratch / DB_FILE, hasher).close()  # the schema, at its latest version
        with sqlite3.connect(scratch / DB_FILE, isolation_level=None) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            # A scratch file: durability only matters once it is renamed into the cache.
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the indexes stay in memory
            conn.execute("BEGIN IMMEDIATE")
            _insert_organisation(conn)
            for chunk in _chunks(users):
                _insert_users(conn, chunk, hasher)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # as the store leaves it
        conn.close()
        if path.exists():
            shutil.rmtree(path)
        scratch.rename(path)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return time.monotonic() - started


def _chunks(users: int) -> Iterator[range]:
    for start in range(0, users, BATCH):
        yield range(start, min(users, start + BATCH))


def _insert_organisation(conn: sqlite3.Connection) -> None:
    days = ", ".join(DAY_COLUMNS)
    marks = ", ".join("?" for _ in DAY_COLUMNS)
    for n in range(1, GROUPS + 1):
        conn.execute(
            f"INSERT INTO access_rights (id, name, {days}) VALUES (?, ?, {marks})",
            (n, f"Right {n}", *([ALWAYS_PATTERN] * len(DAY_COLUMNS))),
        )
        conn.execute(
            "INSERT INTO access_groups (id, name, department_id, doors) VALUES (?, ?, 0, NULL)",
            (n, f"Group {n}"),
        )
        conn.execute("INSERT INTO group_rights (group_id, right_id) VALUES (?, ?)", (n, n))


def _insert_users(conn: sqlite3.Connection, chunk: range, hasher: PinHasher) -> None:
    conn.executemany(
        "INSERT INTO users (user_id, first_name, last_name) VALUES (?, ?, ?)",
        ((f"U{i}", f"First{i}", f"Last{i}") for i in chunk),
    )
    conn.executemany(
        "INSERT INTO credentials (kind, value, user_id) VALUES ('card', ?, ?)",
        ((card_value(i), f"U{i}") for i in chunk),
    )
    conn.executemany(
        "INSERT INTO credentials (kind, value, user_id) VALUES ('pin', ?, ?)",
        ((hasher.hash(pin_of(i)), f"U{i}") for i in chunk),
    )
    conn.executemany(
        "INSERT INTO user_groups (user_id, group_id, position) VALUES (?, ?, 0)",
        ((f"U{i}", 1 + i % GROUPS) for i in chunk),
    )


def main() -> int:
    """`python -m benchmarks.population N...`: build (or find) each population."""
    import sys

    for arg in sys.argv[1:] or ["10000"]:
        started = time.monotonic()
        path = cached_state_dir(int(arg))
        print(f"{arg} users: {path} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
