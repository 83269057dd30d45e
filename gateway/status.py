"""The daemon's status: every component's own `status()`, gathered under one name each.

Components report plain dicts; this module only puts them side by side (and adds the
device's identity and uptime). The status API shows each role the sections it may read
(`gateway.web.roles.STATUS_SECTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gateway import __version__
from gateway.access.engine import AccessEngine
from gateway.clock import Clock, Instant
from gateway.doors.controller import DoorController
from gateway.feedback import ReaderFeedback
from gateway.host import HostHealth
from gateway.hw.readers import ReaderDriver
from gateway.pipeline import AccessPipeline, Upstream
from gateway.reader_chain import ReaderChain
from gateway.rule_changes import RuleChanges
from gateway.settings import DoorSettings, Settings
from gateway.storage import Storage
from gateway.store.journal import EventJournal
from gateway.store.writer import JournalWriter
from gateway.upstream.forward import Forwarder

if TYPE_CHECKING:
    from gateway.notify.mailer import Mailer

Section = Callable[[], dict[str, Any]]


class StatusBoard:
    """The sections of the status, read afresh on every call."""

    def __init__(self, sections: Mapping[str, Section]) -> None:
        self._sections = dict(sections)

    def status(self) -> dict[str, Any]:
        """Every section's current status, by name."""
        return {name: section() for name, section in self._sections.items()}

    def add(self, name: str, section: Section) -> None:
        """A section of a component built after the board (MQTT), shown last."""
        self._sections[name] = section


class InstantStatus(Protocol):
    """A component whose status depends on the present moment."""

    def status(self, now: Instant) -> dict[str, Any]: ...


def build_status_board(
    settings: Settings,
    clock: Clock,
    doors: Mapping[str, DoorController],
    chain: ReaderChain,
    storage: Storage,
    engine: AccessEngine,
    rule_changes: RuleChanges,
    http_unlock: InstantStatus,
) -> StatusBoard:
    """The daemon's status board: one section per component, in the order the status
    API shows them (`gateway.web.roles.STATUS_SECTIONS` says who may read which)."""
    return StatusBoard(
        {
            "device": device_section(settings, clock),
            "doors": doors_section(doors),
            "readers": readers_section(chain.readers, chain.feedback),
            "upstream": upstream_section(chain.upstream, settings.doors),
            "store": store_section(engine, rule_changes, clock),
            "journal": journal_section(storage.journal, storage.writer),
            "forwarding": forwarding_section(storage.forwarder, storage.writer),
            "access": access_section(engine, chain.pipeline, clock),
            "http_unlock": timed_section(http_unlock, clock),
            "system": system_section(HostHealth(storage.db_path.parent)),
            "notifications": notifications_section(storage.mailer),
            "floors": floors_section(chain),
            "web_relay": web_relay_section(chain),
        }
    )


def floors_section(chain: ReaderChain) -> Section:
    """The elevator floor outputs (pin, energised), which are enabled now; `configured`
    false when no `[[floors]]` are."""

    def section() -> dict[str, Any]:
        after = chain.after_grant
        if after is None or after.floors is None:
            return {"configured": False}
        return {"configured": True, **after.floors.status()}

    return section


def web_relay_section(chain: ReaderChain) -> Section:
    """The users' web relay URLs: sent, failed, queued (never a URL), and the grants
    whose floors and URLs were skipped (queue full, store unavailable)."""

    def section() -> dict[str, Any]:
        after = chain.after_grant
        if after is None:
            return {"configured": False}
        sender = after.web_relay.status() if after.web_relay is not None else {}
        return {"configured": after.web_relay is not None, **sender, "grants": after.status()}

    return section


def device_section(settings: Settings, clock: Clock) -> Section:
    """Identity, version, backend, uptime (a duration: counted from now) and the time."""
    started_at = clock.monotonic()

    def section() -> dict[str, Any]:
        return {
            "id": settings.device.id,
            "name": settings.device.name,
            "version": __version__,
            "backend": settings.hardware.backend,
            "timezone": settings.device.timezone,
            "uptime_s": round(clock.monotonic() - started_at, 1),
            "time": clock.time(),  # the gateway's clock: a wrong one misplaces schedules
        }

    return section


def doors_section(doors: Mapping[str, DoorController]) -> Section:
    return lambda: {name: door.status() for name, door in doors.items()}


def readers_section(
    readers: Mapping[str, ReaderDriver], feedback: Mapping[str, ReaderFeedback]
) -> Section:
    """Each reader's driver status, with what its LED and beeper show."""
    return lambda: {
        name: {**reader.status(), "feedback": feedback[name].status()}
        for name, reader in readers.items()
    }


def upstream_section(upstream: Upstream, doors: Sequence[DoorSettings]) -> Section:
    """The verify server and its breaker, anti-passback URLs, and the doors that open to
    any unknown credential while the server is unreachable."""

    def section() -> dict[str, Any]:
        flow, apb = upstream.flow, upstream.apb
        status: dict[str, Any] = {
            "configured": flow is not None,
            "offline_grant_doors": [d.name for d in doors if d.offline_policy == "grant"],
        }
        if flow is not None:
            status.update(flow.status())
        if apb is not None:
            status["antipassback_urls"] = apb.status()
        return status

    return section


def store_section(engine: AccessEngine, rule_changes: RuleChanges, clock: Clock) -> Section:
    """What the rules snapshot in use holds, its version, the reloads that follow this
    daemon's writes, and when the rules in force last changed (`rules_changed_at`, wall
    time; None when they have not changed since the daemon started)."""
    seen = {"version": engine.snapshot.version}
    changed_at: list[float] = []

    def section() -> dict[str, Any]:
        version = engine.snapshot.version
        if version != seen["version"]:
            seen["version"] = version
            changed_at[:] = [clock.time()]
        return {
            **engine.snapshot.counts(),
            # "loading" while the first full load runs (credentials are read from the
            # store first meanwhile); the counts are then those of what was read so far.
            "rules": "loading" if engine.snapshot.loading else "ready",
            "rules_version": version,
            "rules_changed_at": changed_at[0] if changed_at else None,
            **rule_changes.status(),
        }

    return section


def system_section(host: HostHealth) -> Section:
    """The machine: clock synchronised, CPU temperature, firmware flags, disk, memory."""
    return host.status


def journal_section(journal: EventJournal, writer: JournalWriter) -> Section:
    return lambda: {
        "last_seq": journal.last_seq(),
        "max_events": journal.max_events,
        **writer.status(),
    }


def forwarding_section(forwarder: Forwarder, writer: JournalWriter) -> Section:
    """The agents' delivery, and whether events wait for the disk (then nothing new is
    forwarded: only what is durable is)."""
    return lambda: {
        **forwarder.status(),
        "journal_fault": writer.fault,
        "events_waiting_for_disk": writer.status()["queued"],
    }


def notifications_section(mailer: Mailer | None) -> Section:
    """E-mail notifications: off, or the mailer's last mail, backlog and last error."""
    if mailer is None:
        return lambda: {"enabled": False}
    return lambda: {"enabled": True, **mailer.status()}


def access_section(engine: AccessEngine, pipeline: AccessPipeline, clock: Clock) -> Section:
    return lambda: engine.status(Instant.read(clock)) | pipeline.status()


def timed_section(component: InstantStatus, clock: Clock) -> Section:
    return lambda: component.status(Instant.read(clock))
