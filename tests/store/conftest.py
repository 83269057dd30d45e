"""Fixtures for the store tests: a fresh database in tmp_path, all its stores over one
connection (`stores`), and each store on its own fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.access.pins import PinHasher
from gateway.store.engine_state import EngineStateStore
from gateway.store.organisation import OrganisationStore
from gateway.store.stores import Stores
from gateway.store.technicians import TechnicianStore
from gateway.store.users import UserStore

KEY = bytes(range(32))


@pytest.fixture
def hasher() -> PinHasher:
    return PinHasher(KEY)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def stores(db_path: Path, hasher: PinHasher) -> Iterator[Stores]:
    opened = Stores.open(db_path, hasher)
    yield opened
    opened.close()


@pytest.fixture
def users(stores: Stores) -> UserStore:
    return stores.users


@pytest.fixture
def organisation(stores: Stores) -> OrganisationStore:
    return stores.organisation


@pytest.fixture
def technicians(stores: Stores) -> TechnicianStore:
    return stores.technicians


@pytest.fixture
def engine_state(stores: Stores) -> EngineStateStore:
    return stores.engine_state
