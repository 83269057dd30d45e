"""Technician accounts and simulation demo users, applied at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from gateway.clock import Clock
from gateway.model import Event, User
from gateway.settings import Settings
from gateway.store.repo import Store
from gateway.store.secrets import PinHasher

log = logging.getLogger(__name__)

# The technician password of config/simulate.toml: public knowledge, so no real door takes it.
SIMULATION_PASSWORD = "simulate"


def password_allowed(settings: Settings, password: str) -> bool:
    """False for the simulation's well-known password on any non-simulated backend."""
    return settings.simulated or password != SIMULATION_PASSWORD


def ensure_configured_accounts(
    settings: Settings, store: Store, emit: Callable[[Event], None], clock: Clock
) -> None:
    """Apply technicians from the config (simulation only) and seed the demo users."""
    for tech in settings.web.technicians:
        if tech.password and store.verify_technician(tech.username, tech.password) is None:
            store.set_technician_password(tech.username, tech.password, level=tech.level)
    for demo in settings.simulation.demo_users:
        if store.get_user(demo.user_id) is not None:
            continue
        store.add_user(
            User(
                user_id=demo.user_id,
                first_name=demo.first_name,
                last_name=demo.last_name,
                active=demo.active,
                cards=list(demo.cards),
                pin=demo.pin or None,
            )
        )
        emit(Event("system", clock.time(), user_id=demo.user_id, reason="demo_user_added"))
    if not store.list_technicians():
        log.warning("no technician account yet: run `door-gateway passwd admin`")


def verify_technician_in_thread(
    db_path: Path, hasher: PinHasher, username: str, password: str
) -> tuple[str, str] | None:
    """Check a login on a worker thread with its own connection (scrypt is slow on purpose)."""
    store = Store.open(db_path, hasher)
    try:
        tech = store.verify_technician(username, password)
    finally:
        store.close()
    return None if tech is None else (tech.username, tech.level)
