"""Start-up: the relay is locked before anything else, and the journal says so."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

from gateway.app import Gateway
from gateway.config import load_settings
from tests.doors.harness import rig
from tests.fakes import ManualClock

REPO = Path(__file__).resolve().parents[2]


def test_the_lock_at_start_up_is_the_first_event_of_the_door() -> None:
    door = rig(relay_left_unlocked=True, contact_open=True, tamper_tripped=True)
    assert not door.relay_energised and not door.door.unlocked
    assert [(e.reason, e.type, e.trace) for e in door.startup] == [
        ("locked", "door", "startup"),
        ("door_open_at_startup", "door", ""),
        ("tamper", "alarm", "at_startup"),
    ]
    assert door.startup[0].user_id is None and door.startup[0].door == "front"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_restarted_gateway_journals_each_door_locked_before_it_starts(
    tmp_path: Path,
) -> None:
    """After a crash during a pulse the journal ended with `unlocked`: the restart's lock
    must follow it in the journal."""
    settings = load_settings(REPO / "config" / "simulate.toml")
    settings = dataclasses.replace(
        settings,
        device=dataclasses.replace(settings.device, state_dir=str(tmp_path / "state")),
        web=dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}"),
    )
    gateway = Gateway(settings, clock=ManualClock())
    await gateway.start()
    try:
        rows = await gateway.recorder.read_events(0, 1000)
    finally:
        await gateway.stop()
    found = [(row.door, row.reason, row.trace) for row in rows]
    started = found.index((None, "started", found[-1][2]))
    assert ("front", "locked", "startup") in found[:started]
    assert ("back", "locked", "startup") in found[:started]


async def test_a_small_site_is_ready_with_its_rules_loaded(tmp_path: Path) -> None:
    """A site of a few users starts warm: when READY goes out the whole rules cache is in,
    so no request is refused as "rules loading" in its first moments."""
    settings = load_settings(REPO / "config" / "simulate.toml")
    settings = dataclasses.replace(
        settings,
        device=dataclasses.replace(settings.device, state_dir=str(tmp_path / "state")),
        web=dataclasses.replace(settings.web, listen=f"127.0.0.1:{free_port()}"),
    )
    gateway = Gateway(settings, clock=ManualClock())
    await gateway.start()
    try:
        assert not gateway.engine.snapshot.loading
        assert gateway.engine.snapshot.counts()["users"] > 0
    finally:
        await gateway.stop()
