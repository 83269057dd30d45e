"""Fixtures for the store tests: a fresh database in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store.repo import Store
from gateway.store.secrets import PinHasher

KEY = bytes(range(32))


@pytest.fixture
def hasher() -> PinHasher:
    return PinHasher(KEY)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def store(db_path: Path, hasher: PinHasher) -> Iterator[Store]:
    opened = Store.open(db_path, hasher)
    yield opened
    opened.close()
