"""SIGHUP: read the configuration file again and apply what can change without a restart.

A file that does not load (a syntax error, a bad value: everything `check-config` reports)
is rejected as a whole, each error logged, and the running configuration kept. A file that
loads is compared with the running one key by key: the keys in `LIVE_KEYS` are applied at
once; any other change (doors, readers and their pins, the listen address, the state
directory, upstream, forwarding...) is logged as "needs a restart" and NOT applied, so
the daemon never runs half on the old file and half on the new one. What is in force is
always one consistent `Settings`. docs/operations.md ("Reloading the configuration") has
the list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config import ConfigError, load_settings
from gateway.service import ServiceNotifier
from gateway.settings import Settings

log = logging.getLogger(__name__)

# Dotted key paths a reload applies in the running daemon.
LIVE_KEYS = frozenset({"device.log_level"})


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload does: the settings in force afterwards, the keys applied, the keys
    that changed in the file but wait for a restart."""

    settings: Settings
    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted paths where two settings differ; a list of tables (doors, readers)
    counts as one key."""
    if not (dataclasses.is_dataclass(old) and dataclasses.is_dataclass(new)):
        return [] if old == new else [prefix]
    changed: list[str] = []
    for field in dataclasses.fields(old):
        if field.name == "path":  # where the file was read from, not a setting
            continue
        path = f"{prefix}.{field.name}" if prefix else field.name
        changed += changed_keys(getattr(old, field.name), getattr(new, field.name), path)
    return changed


def _with_key(settings: Any, path: str, value: Any) -> Any:
    """`settings` with the key at the dotted `path` set to `value`."""
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(settings, **{head: value})
    return dataclasses.replace(settings, **{head: _with_key(getattr(settings, head), rest, value)})


def _key(settings: Any, path: str) -> Any:
    for part in path.split("."):
        settings = getattr(settings, part)
    return settings


def plan_reload(running: Settings, loaded: Settings) -> ReloadPlan:
    """Compare the file just loaded with the settings in force."""
    changed = changed_keys(running, loaded)
    applied = tuple(key for key in changed if key in LIVE_KEYS)
    in_force = running
    for key in applied:
        in_force = _with_key(in_force, key, _key(loaded, key))
    needs_restart = tuple(key for key in changed if key not in LIVE_KEYS)
    return ReloadPlan(in_force, applied, needs_restart)


class ConfigReloader:
    """Reloads the configuration file on request (SIGHUP), telling systemd around it."""

    def __init__(
        self,
        running: Settings,
        overrides: Callable[[Settings], Settings],
        apply: Callable[[Settings], None],
        notifier: ServiceNotifier,
    ) -> None:
        """`overrides` puts back what the command line set over the file (`--listen`...);
        `apply` puts the settings a reload changed into force."""
        self.running = running
        self._overrides, self._apply, self._notifier = overrides, apply, notifier

    async def reload(self) -> ReloadPlan | None:
        """Read the file again; the plan applied, or None when the file was rejected."""
        path = self.running.path
        self._notifier.reloading()
        log.info("reloading the configuration from %s", path)
        try:
            loaded = await asyncio.to_thread(load_settings, path)
        except ConfigError as exc:
            for message in exc.errors:
                log.error("configuration reload rejected: %s", message)
            log.error(
                "configuration reload rejected (%d error(s)): the running configuration is kept",
                len(exc.errors),
            )
            self._notifier.ready(f"reload of {path} rejected; running configuration kept")
            return None
        plan = plan_reload(self.running, self._overrides(loaded))
        for key in plan.needs_restart:
            log.warning("configuration reload: %s changed: needs a restart, not applied", key)
        if plan.applied:
            self._apply(plan.settings)
            self.running = plan.settings
        log.info(
            "configuration reloaded: %s applied; %d change(s) wait for a restart",
            ", ".join(plan.applied) or "nothing",
            len(plan.needs_restart),
        )
        waiting = f"; {len(plan.needs_restart)} change(s) need a restart" * bool(plan.needs_restart)
        self._notifier.ready(f"configuration reloaded{waiting}")
        return plan
