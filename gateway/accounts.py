"""Technician accounts (applied at start-up, and logins and password changes while
running), simulation demo users and public PINs."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from gateway.clock import Clock
from gateway.model import Event, User
from gateway.passwords import MIN_LENGTH, weakness
from gateway.settings import Settings
from gateway.store.errors import StoreError, ValidationError
from gateway.store.technicians import TechnicianStore
from gateway.store.users import UserStore

log = logging.getLogger(__name__)

# The technician password of config/simulate.toml: public knowledge, so no real door takes it.
SIMULATION_PASSWORD = "simulate"
MIN_PASSWORD_LEN = MIN_LENGTH
PRODUCT_NAME = "door-gateway"
INITIAL_ADMIN = "admin"


def password_allowed(settings: Settings, password: str) -> bool:
    """False for the simulation's well-known password on any non-simulated backend."""
    return settings.simulated or password != SIMULATION_PASSWORD


def password_problem(settings: Settings, password: str, username: str = "") -> str | None:
    """Why a new technician password for `username` is refused, or None (CLI and API share
    the rule): too short, reserved for the simulation, or easy to guess (`weakness`)."""
    if len(password) < MIN_PASSWORD_LEN:
        return f"use at least {MIN_PASSWORD_LEN} characters"
    if not password_allowed(settings, password):
        return "that password is reserved for the simulation"
    return weakness(password, known_names(settings, username))


def known_names(settings: Settings, username: str = "") -> tuple[str, ...]:
    """Names an attacker knows that a password must not be built on."""
    device = settings.device
    return (username, device.name, device.id, PRODUCT_NAME)


def ensure_configured_accounts(
    settings: Settings,
    technicians: TechnicianStore,
    users: UserStore,
    emit: Callable[[Event], None],
    clock: Clock,
) -> None:
    """Apply technicians from the config (simulation only) and seed the demo users."""
    for tech in settings.web.technicians:
        if tech.password and technicians.verify_technician(tech.username, tech.password) is None:
            technicians.set_technician_password(tech.username, tech.password, level=tech.level)
    for demo in settings.simulation.demo_users:
        if users.get_user(demo.user_id) is not None:
            continue
        users.add_user(
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
    if not technicians.list_technicians() and not ensure_initial_admin(
        settings, technicians, emit, clock
    ):
        log.warning("no technician account yet: run `door-gateway passwd admin`")


def apply_public_pins(
    settings: Settings, users: UserStore, emit: Callable[[Event], None], clock: Clock
) -> None:
    """Make the store's public PINs exactly `[access] public_pins` (hashed by the store).

    The file is the authority: a file without public PINs removes any stored ones. A
    public PIN that is also a user's private PIN stops start-up with a `StoreError` that
    names the key, never the PIN. A change is journaled with the count only.
    """
    pins = list(settings.access.public_pins)
    try:
        changed = users.set_public_pins(pins)
    except ValidationError as exc:
        raise StoreError(f"{settings.path}: access.public_pins: {exc.message}") from None
    if changed:
        trace = f"{len(pins)} public PINs from the configuration file"
        emit(Event("system", clock.time(), reason="public_pins_changed", trace=trace))


def needs_initial_admin(settings: Settings, has_technicians: bool) -> bool:
    """Whether start-up must create `admin` with a one-time password.

    Only on real hardware with no account at all: a simulated gateway takes its accounts
    from the config file, and a gateway that has any account already has an admin."""
    return not settings.simulated and not has_technicians


def ensure_initial_admin(
    settings: Settings,
    store: TechnicianStore,
    emit: Callable[[Event], None],
    clock: Clock,
    out: TextIO | None = None,
) -> bool:
    """Create `admin` (SUPERADMIN) with a random one-time password when needed; True if so.

    The password is printed once to `out` (stderr: the service log, i.e. journald), never
    to the event journal, which is forwarded to other systems; the journal only records
    that the account was created. The account must change its password at first login.
    """
    if not needs_initial_admin(settings, bool(store.list_technicians())):
        return False
    password = secrets.token_urlsafe(12)  # 96 random bits, 16 characters to type
    store.set_technician_password(INITIAL_ADMIN, password, "SUPERADMIN", must_change=True)
    print(
        f"door-gateway: created technician {INITIAL_ADMIN!r} (SUPERADMIN) with the one-time "
        f"password {password} ; it must be changed at first login (POST /api/v1/password), "
        f"or set one with `door-gateway passwd {INITIAL_ADMIN}`",
        file=out if out is not None else sys.stderr,
        flush=True,
    )
    emit(
        Event(
            "system",
            clock.time(),
            user_id=INITIAL_ADMIN,
            reason="initial_admin_created",
            trace="one-time password printed to the service log; change required at first login",
        )
    )
    return True


def password_change_required(store: TechnicianStore, username: str) -> bool:
    """Whether `username` logs in with a one-time password that must be changed first."""
    return any(t.username == username and t.must_change for t in store.list_technicians())


def verify_technician_in_thread(
    db_path: Path, username: str, password: str
) -> tuple[str, str] | None:
    """Check a login on a worker thread with its own connection (scrypt is slow on purpose)."""
    store = TechnicianStore.open(db_path)
    try:
        tech = store.verify_technician(username, password)
    finally:
        store.close()
    return None if tech is None else (tech.username, tech.level)


class TechnicianAccounts:
    """Technician logins and password changes for the APIs, on the daemon's store.

    A login is checked on a worker thread with its own connection: scrypt is slow on
    purpose, and the event loop must not wait for it."""

    def __init__(self, settings: Settings, store: TechnicianStore, db_path: Path) -> None:
        self._settings, self._store, self._db_path = settings, store, db_path

    async def verify_login(self, username: str, password: str) -> tuple[str, str] | None:
        """(username, level) when the password is right and allowed on this hardware."""
        account = await asyncio.get_running_loop().run_in_executor(
            None, verify_technician_in_thread, self._db_path, username, password
        )
        return account if password_allowed(self._settings, password) else None

    def password_change_required(self, username: str) -> bool:
        """Whether the account still has a one-time password to change first."""
        return password_change_required(self._store, username)

    async def change_password(self, username: str, new: str) -> None:
        """Set a technician's own new password (keeping their level); ValueError if refused."""
        problem = password_problem(self._settings, new, username)
        if problem is not None:
            raise ValueError(problem)
        levels = {t.username: t.level for t in self._store.list_technicians()}
        if username not in levels:
            raise ValueError("no such technician")
        await asyncio.get_running_loop().run_in_executor(
            None, self._store.set_technician_password, username, new, levels[username], False
        )
