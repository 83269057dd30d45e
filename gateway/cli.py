"""The `door-gateway` command: run, check-config, selftest, users import/export, passwd."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.accounts import MIN_PASSWORD_LEN
from gateway.config import ConfigError, check_config_command, config_warnings, load_settings
from gateway.logsetup import configure_logging
from gateway.model import ADMIN_LEVELS
from gateway.settings import Settings
from gateway.store.records import Technician

if TYPE_CHECKING:
    from gateway.store.stores import Stores
    from gateway.store.technicians import TechnicianStore
    from gateway.store.users import UserStore

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
    run.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="override [device] log_level",
    )

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", help="the TOML file to check")

    selftest = commands.add_parser(
        "selftest",
        help="check the installation: configuration, storage, GPIO, readers, upstream, clock",
        description="One line per check: ok, warn or fail, and what to do. Exits 1 when a "
        "check fails, else 0. Changes nothing; run it as the service user.",
    )
    _config_option(selftest)
    selftest.add_argument(
        "--json",
        action="store_true",
        help="print the report as one JSON object (ok, counts, checks: id, name, status, "
        "detail, action) instead of lines",
    )
    selftest.add_argument(
        "--click",
        action="store_true",
        help="also pulse each door's relay for 1 s (THIS UNLOCKS EVERY DOOR, one at a time); "
        "refused while the daemon holds the relays",
    )

    users = commands.add_parser("users", help="import or export users (CSV or XML)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    for name in ("import", "export"):
        sub = user_commands.add_parser(name, help=f"{name} users (.csv or .xml)")
        sub.add_argument("file")
        _config_option(sub)

    passwd = commands.add_parser(
        "passwd",
        help="set a technician password; disable, enable, delete or re-level an account",
        description=f"Without options: set the password (a new account is created). The "
        f"first account is {FIRST_LEVEL}; a later new account is {LATER_LEVEL} unless "
        f"--level says otherwise. On an existing account, --level, --disable, --enable and "
        f"--delete change only that, without asking for a password. Any change ends the "
        f"account's live sessions on both APIs. Passwords have at least {MIN_PASSWORD_LEN} "
        f"characters and are not common or easy to guess (docs/security.md).",
    )
    passwd.add_argument("user")
    passwd.add_argument("--level", default=None, choices=ADMIN_LEVELS)
    state = passwd.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true", help="no more logins or sessions")
    state.add_argument("--enable", action="store_true", help="undo --disable")
    state.add_argument("--delete", action="store_true", help="remove the account")
    _config_option(passwd)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"default {DEFAULT_CONFIG}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config_command(args.file)
    if args.command == "selftest":
        return _selftest(args.config, args.json, args.click)
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


def _command_line_overrides(args: argparse.Namespace) -> Callable[[Settings], Settings]:
    """What `run`'s options set over the file: applied at start and after every reload,
    so a reload never undoes them."""
    state_dir = str(Path(args.state_dir).resolve()) if args.state_dir else None

    def apply(settings: Settings) -> Settings:
        device = settings.device
        if state_dir:
            device = dataclasses.replace(device, state_dir=state_dir)
        if args.log_level:
            device = dataclasses.replace(device, log_level=args.log_level)
        settings = dataclasses.replace(settings, device=device)
        if args.listen:
            web = dataclasses.replace(settings.web, listen=args.listen)
            settings = dataclasses.replace(settings, web=web)
        return settings

    return apply


def _run(args: argparse.Namespace, settings: Settings) -> int:
    overrides = _command_line_overrides(args)
    settings = overrides(settings)
    configure_logging(settings.device.log_level)
    # A reload asked for before the daemon listens for it must not end the process (the
    # default action of SIGHUP): ignored until the running gateway handles it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for warning in config_warnings(settings):
        logging.getLogger("gateway").warning("%s", warning.removeprefix("warning: "))
    from gateway.app import run
    from gateway.store.db import explain_os_error
    from gateway.store.errors import StoreError
    from gateway.tlscert import TlsError

    try:
        asyncio.run(run(settings, overrides))
    except (StoreError, TlsError) as exc:  # expected faults: one clear line, no traceback
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


def _selftest(path: str, as_json: bool = False, click: bool = False) -> int:
    """`door-gateway selftest`: an unusable file is the first (failed) check; a usable
    one runs every check. Exit status 1 when a check failed, either way."""
    from gateway.config.view import check_file
    from gateway.selftest import (
        SelftestReport,
        System,
        configuration_check,
        print_report,
        run_selftest,
    )

    try:
        settings = load_settings(path)
    except ConfigError:
        report = SelftestReport((configuration_check(check_file(path)),), 0.0)
    else:
        if click and not _journal_click(settings):
            return 1
        report = run_selftest(settings, System(), click=click)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return 1 if report.failed else 0
    return print_report(report)


def _journal_click(settings: Settings) -> bool:
    """Journal a `--click` before any relay moves (the journal is written before a door
    moves, whoever moves it); False, and nothing moves, when it cannot be written."""
    from gateway.store.errors import StoreError
    from gateway.store.statedir import make_state_dir

    doors = ", ".join(door.name for door in settings.doors if door.relay_pin is not None)
    try:
        make_state_dir(Path(settings.device.state_dir))
        _journal_account(settings, "", "relay_click_test", f"doors {doors}")
    except (StoreError, OSError) as exc:
        print(f"error: --click is journaled first, and the journal failed: {exc}", file=sys.stderr)
        return False
    return True


def _open_stores(settings: Settings) -> Stores:
    from gateway.access.pins import PinHasher
    from gateway.storage import pin_lengths
    from gateway.store.secrets import load_or_create_device_key
    from gateway.store.statedir import make_state_dir
    from gateway.store.stores import Stores

    state_dir = Path(settings.device.state_dir)
    make_state_dir(state_dir)
    hasher = PinHasher(load_or_create_device_key(state_dir))
    return Stores.open(state_dir / "gateway.db", hasher, pin_lengths(settings))


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.store.errors import StoreError
    from gateway.store.importexport import export_users_file

    try:
        stores = _open_stores(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args.users_command == "import":
            count = _import_with_progress(stores.users, Path(args.file))
            print(f"imported {count} users from {args.file}")
        else:
            count = export_users_file(stores.users, Path(args.file))
            print(f"exported {count} users to {args.file}")
    except (StoreError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stores.close()
    return 0


def _import_with_progress(users: UserStore, path: Path) -> int:
    """`users import`, with a progress bar on stderr when both outputs are a terminal (a
    script or a log redirecting the output gets only the final line)."""
    from tqdm import tqdm

    from gateway.store.importexport import import_users_file

    on_terminal = sys.stdout.isatty() and sys.stderr.isatty()
    total = path.stat().st_size if on_terminal and path.is_file() else None
    with tqdm(
        total=total,
        desc="importing",
        unit="B",
        unit_scale=True,
        disable=not on_terminal,
        file=sys.stderr,
    ) as bar:

        def progress(bytes_read: int, users_read: int) -> None:
            bar.update(bytes_read - bar.n)
            bar.set_postfix(users=users_read, refresh=False)

        count = import_users_file(users, path, progress=progress)
        if total is not None:
            bar.update(total - bar.n)
        bar.set_postfix(users=count, refresh=False)
    return count


def _passwd(args: argparse.Namespace, settings: Settings) -> int:
    """Set a password (creating the account), or change an existing account's level or
    state; every change moves the account's credential version, which ends its sessions in
    the running daemon at their next request."""
    from gateway.store.errors import StoreError

    if args.delete and args.level:
        print("error: --delete and --level do not go together", file=sys.stderr)
        return 2
    try:
        stores = _open_stores(settings)
    except StoreError as exc:  # e.g. a damaged device key: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    store = stores.technicians
    try:
        technicians = {t.username: t for t in store.list_technicians()}
        existing = technicians.get(args.user)
        changes_state = args.disable or args.enable or args.delete
        if existing is None and changes_state:
            print(f"error: no technician named {args.user!r}", file=sys.stderr)
            return 1
        if existing is None or not (changes_state or args.level):
            return _set_password(args, settings, store, list(technicians.values()))
        _change_account(args, settings, store)
        _warn_without_superadmin(store.list_technicians())
        return 0
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stores.close()


def _set_password(
    args: argparse.Namespace,
    settings: Settings,
    store: TechnicianStore,
    technicians: list[Technician],
) -> int:
    password = _read_new_password(settings, args.user)
    if password is None:
        return 1
    level = args.level or _passwd_level(technicians, args.user)
    store.set_technician_password(args.user, password, level=level)
    disabled = any(t.username == args.user and t.disabled for t in technicians)
    note = "; the account stays disabled (--enable)" if disabled else ""
    print(f"password set for {args.user} ({level}){note}")
    _journal_account(settings, args.user, "password_set", f"level {level}")
    return 0


def _change_account(args: argparse.Namespace, settings: Settings, store: TechnicianStore) -> None:
    """--level, --disable, --enable, --delete on an existing account (no password asked)."""
    user = args.user
    if args.delete:
        store.delete_technician(user)
        print(f"technician {user} deleted; its sessions end")
        _journal_account(settings, user, "technician_deleted", "")
        return
    if args.level:
        store.set_technician_level(user, args.level)
        print(f"level of {user} set to {args.level}; its sessions end (password unchanged)")
        _journal_account(settings, user, "technician_level_set", f"level {args.level}")
    if args.disable or args.enable:
        store.set_technician_disabled(user, args.disable)
        what = "disabled; its sessions end" if args.disable else "enabled"
        print(f"technician {user} {what}")
        reason = "technician_disabled" if args.disable else "technician_enabled"
        _journal_account(settings, user, reason, "")


def _warn_without_superadmin(technicians: list[Technician]) -> None:
    """A site may end up without an enabled SUPERADMIN: allowed (this command can always
    make one), but said."""
    if not any(t.level == FIRST_LEVEL and not t.disabled for t in technicians):
        print(
            f"warning: no enabled {FIRST_LEVEL} account is left; create one with "
            f"`door-gateway passwd NAME --level {FIRST_LEVEL}`",
            file=sys.stderr,
        )


def _journal_account(settings: Settings, user: str, reason: str, what: str) -> None:
    """Journal the account change with who ran the command (the login behind sudo)."""
    import os
    import time
    from zoneinfo import ZoneInfo

    from gateway.model import Event
    from gateway.store.journal import EventJournal

    who = os.environ.get("SUDO_USER") or getpass.getuser()
    command = "selftest --click" if reason == "relay_click_test" else "passwd"
    trace = f"door-gateway {command} by {who}" + (f", {what}" if what else "")
    db_path = Path(settings.device.state_dir) / "gateway.db"
    journal = EventJournal(db_path, ZoneInfo(settings.device.timezone), settings.journal.max_events)
    try:
        journal.append(Event("api", time.time(), user_id=user or who, reason=reason, trace=trace))
    finally:
        journal.close()


def _passwd_level(technicians: list[Technician], user: str) -> str:
    """The level when --level is not given: kept for an existing account, SUPERADMIN for the
    very first one, USERADMIN for later ones (least privilege; raise it with --level)."""
    for tech in technicians:
        if tech.username == user:
            return tech.level
    return FIRST_LEVEL if not technicians else LATER_LEVEL


def _read_new_password(settings: Settings, user: str) -> str | None:
    """Twice from a terminal, or one line from a pipe (for provisioning scripts)."""
    from gateway.accounts import password_problem

    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat: ") != first:
            print("error: the passwords differ", file=sys.stderr)
            return None
    else:
        first = sys.stdin.readline().rstrip("\n")
    problem = password_problem(settings, first, user)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return None
    return first
