"""The `door-gateway` command: run, check-config, users import/export, passwd."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import sys
from pathlib import Path

from gateway import __version__
from gateway.accounts import MIN_PASSWORD_LEN
from gateway.config import ConfigError, check_config_command, config_warnings, load_settings
from gateway.logsetup import configure_logging
from gateway.model import ADMIN_LEVELS
from gateway.settings import Settings
from gateway.store.records import Technician

DEFAULT_CONFIG = "/etc/door-gateway/gateway.toml"
FIRST_LEVEL = "SUPERADMIN"  # the first account administers everything
LATER_LEVEL = "USERADMIN"  # later new accounts: users and rules, not the device itself


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="door-gateway", description="Door access gateway")
    parser.add_argument("--version", action="version", version=f"door-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon")
    _config_option(run)
    run.add_argument("--state-dir", help="override [device] state_dir")
    run.add_argument("--listen", help="override [web] listen (HOST:PORT)")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", help="the TOML file to check")

    users = commands.add_parser("users", help="import or export users (CSV or XML)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    for name in ("import", "export"):
        sub = user_commands.add_parser(name, help=f"{name} users (.csv or .xml)")
        sub.add_argument("file")
        _config_option(sub)

    passwd = commands.add_parser(
        "passwd",
        help="set a technician password (and clear a login lockout)",
        description=f"The first account is {FIRST_LEVEL}; a later new account is "
        f"{LATER_LEVEL} unless --level says otherwise; an existing account keeps its level. "
        f"Passwords have at least {MIN_PASSWORD_LEN} characters.",
    )
    passwd.add_argument("user")
    passwd.add_argument("--level", default=None, choices=ADMIN_LEVELS)
    _config_option(passwd)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"default {DEFAULT_CONFIG}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config_command(args.file)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for message in exc.errors:
            print(message, file=sys.stderr)
        return 2
    if args.command == "run":
        return _run(args, settings)
    if args.command == "users":
        return _users(args, settings)
    return _passwd(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(args.log_level)
    if args.state_dir:
        state_dir = str(Path(args.state_dir).resolve())
        device = dataclasses.replace(settings.device, state_dir=state_dir)
        settings = dataclasses.replace(settings, device=device)
    if args.listen:
        web = dataclasses.replace(settings.web, listen=args.listen)
        settings = dataclasses.replace(settings, web=web)
    for warning in config_warnings(settings):
        logging.getLogger("gateway").warning("%s", warning.removeprefix("warning: "))
    from gateway.app import run
    from gateway.store.db import explain_os_error
    from gateway.store.errors import StoreError

    try:
        asyncio.run(run(settings))
    except StoreError as exc:  # expected faults: one clear line, no traceback
        logging.getLogger("gateway").critical("cannot start: %s", exc)
        return 1
    except OSError as exc:
        logging.getLogger("gateway").critical(
            "cannot start: %s", explain_os_error(exc, Path(settings.device.state_dir))
        )
        return 1
    except Exception as exc:
        logging.getLogger("gateway").critical("stopped: %s", exc, exc_info=True)
        return 1
    return 0


def _open_store(settings: Settings):  # type: ignore[no-untyped-def]
    from gateway.store.repo import Store
    from gateway.store.secrets import PinHasher, load_or_create_device_key

    state_dir = Path(settings.device.state_dir)
    hasher = PinHasher(load_or_create_device_key(state_dir))
    return Store.open(state_dir / "gateway.db", hasher)


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.errors import StoreError
    from gateway.store.importexport import export_users_file, import_users_file

    try:
        store = _open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args.users_command == "import":
            count = import_users_file(store, Path(args.file))
            print(f"imported {count} users from {args.file}")
        else:
            count = export_users_file(store, Path(args.file))
            print(f"exported {count} users to {args.file}")
    except (StoreError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _passwd(args: argparse.Namespace, settings: Settings) -> int:
    """Set the password, clear the must-change flag and any login lockout of the account."""
    from gateway.store.errors import StoreError
    from gateway.web.security import LOCKS_FILE, AccountLocks

    password = _read_new_password(settings)
    if password is None:
        return 1
    try:
        store = _open_store(settings)
    except StoreError as exc:  # e.g. a damaged device key: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        level = args.level or _passwd_level(store.list_technicians(), args.user)
        store.set_technician_password(args.user, password, level=level)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"password set for {args.user} ({level})")
    cleared = AccountLocks(Path(settings.device.state_dir) / LOCKS_FILE).clear(args.user)
    if cleared:
        print(f"login lockout of {args.user} cleared")
    _journal_passwd(settings, args.user, level, cleared)
    return 0


def _journal_passwd(settings: Settings, user: str, level: str, cleared: bool) -> None:
    """Journal the account change with who ran the command (the login behind sudo)."""
    import os
    import time
    from zoneinfo import ZoneInfo

    from gateway.model import Event
    from gateway.store.journal import EventJournal

    who = os.environ.get("SUDO_USER") or getpass.getuser()
    trace = f"door-gateway passwd by {who}, level {level}"
    if cleared:
        trace += ", lockout cleared"
    db_path = Path(settings.device.state_dir) / "gateway.db"
    journal = EventJournal(db_path, ZoneInfo(settings.device.timezone), settings.journal.max_events)
    try:
        journal.append(Event("api", time.time(), user_id=user, reason="password_set", trace=trace))
    finally:
        journal.close()


def _passwd_level(technicians: list[Technician], user: str) -> str:
    """The level when --level is not given: kept for an existing account, SUPERADMIN for the
    very first one, USERADMIN for later ones (least privilege; raise it with --level)."""
    for tech in technicians:
        if tech.username == user:
            return tech.level
    return FIRST_LEVEL if not technicians else LATER_LEVEL


def _read_new_password(settings: Settings) -> str | None:
    """Twice from a terminal, or one line from a pipe (for provisioning scripts)."""
    from gateway.accounts import password_problem

    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat: ") != first:
            print("error: the passwords differ", file=sys.stderr)
            return None
    else:
        first = sys.stdin.readline().rstrip("\n")
    problem = password_problem(settings, first)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return None
    return first
