"""Super Mode's own process: one Wiegand reader on mock pins, one relay, the rescue list.

A listed administrator card opens the door for the pulse time, any other card does not,
and a missing or damaged list opens nothing; every opening and refusal is logged."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.hw.factory import SimulatedHardware
from gateway.hw.formats import encode_h10301
from gateway.hw.sim_drivers import WiegandDriver
from gateway.rescue.__main__ import serve
from gateway.rescue.door import RescueDoor, registry_of
from gateway.rescue.files import (
    LIST_FILE,
    LOG_FILE,
    CustomFormat,
    RescueListError,
    RescuePlan,
    card_hash,
    decode_plan,
    encode_plan,
    parse_log,
    read_plan,
)
from tests.fakes import ManualClock, ManualTimers

KEY = bytes(range(32))
ADMIN = (12, 34567)  # H10301 -> "0C8707"
STRANGER = (13, 4321)  # H10301 -> "0D10E1"
D0, D1, RELAY = 5, 6, 17


def plan(**changes: object) -> RescuePlan:
    base = RescuePlan(
        door="front",
        reader="front-wiegand",
        simulated=True,
        d0_pin=D0,
        d1_pin=D1,
        formats=("H10301",),
        relay_pin=RELAY,
        pulse_s=5.0,
        cards=frozenset({card_hash(KEY, "0C8707")}),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class Rig:
    """A rescue door on simulated pins, with a manual clock for the relay pulse."""

    def __init__(self, rescue_plan: RescuePlan, key: bytes = KEY) -> None:
        self.hw = SimulatedHardware()
        self.clock = ManualClock()
        self.timers = ManualTimers(self.clock)
        self.log: list[str] = []
        self.entries: list[tuple[str, str]] = []
        self.door = RescueDoor(
            rescue_plan,
            key,
            self.hw,
            asyncio.get_running_loop(),
            self.timers,
            self.clock,
            lambda entry: self.entries.append((entry.kind, entry.card)),
        )
        self.reader = WiegandDriver(self.hw)

    async def present(self, facility: int, number: int) -> None:
        await self.reader.send(D0, D1, encode_h10301(facility, number), 2000, 50)

    @property
    def strike_energised(self) -> bool:
        return self.hw.level(RELAY)


async def test_an_admin_card_opens_the_door_for_the_pulse_then_it_locks() -> None:
    rig = Rig(plan())
    rig.door.start()
    assert not rig.strike_energised
    await rig.present(*ADMIN)
    assert rig.strike_energised and rig.door.unlocked
    rig.timers.advance(4.9)
    assert rig.strike_energised
    rig.timers.advance(0.2)
    assert not rig.strike_energised
    assert rig.entries[1:] == [("granted", "0C8707")]


async def test_a_card_not_on_the_list_does_not_open() -> None:
    rig = Rig(plan())
    rig.door.start()
    await rig.present(*STRANGER)
    assert not rig.strike_energised
    assert rig.entries[1:] == [("denied", "0D10E1")]


async def test_a_list_made_with_another_device_key_opens_nothing() -> None:
    rig = Rig(plan(), key=bytes(32))
    await rig.present(*ADMIN)
    assert not rig.strike_energised
    assert rig.entries == [("denied", "0C8707")]


async def test_a_frame_that_fails_its_parity_is_neither_an_opening_nor_a_refusal() -> None:
    rig = Rig(plan())
    bits = list(encode_h10301(*ADMIN))
    bits[5] = "1" if bits[5] == "0" else "0"
    await rig.reader.send(D0, D1, "".join(bits), 2000, 50)
    assert not rig.strike_energised and rig.entries == []


async def test_a_fail_safe_lock_is_held_at_start_released_by_an_admin_card_and_at_close() -> None:
    rig = Rig(plan(lock_type="fail_safe"))
    assert rig.strike_energised  # a maglock holds while energised: locked at start
    await rig.present(*ADMIN)
    assert not rig.strike_energised
    rig.timers.advance(5.0)
    assert rig.strike_energised
    await rig.present(*ADMIN)
    rig.door.close()  # stopping in the middle of a pulse locks at once
    assert rig.strike_energised
    assert rig.entries[-1] == ("stopped", "")


async def test_close_in_the_middle_of_a_pulse_locks_the_door() -> None:
    rig = Rig(plan())
    await rig.present(*ADMIN)
    rig.door.close()
    assert not rig.strike_energised
    rig.timers.advance(10)
    assert not rig.strike_energised


# ------------------------------------------------------------------ the list file


def test_the_list_file_carries_hashes_never_card_numbers() -> None:
    raw = encode_plan(plan())
    assert b"0C8707" not in raw and b"0c8707" not in raw
    assert decode_plan(raw) == plan()


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(version=2),
        lambda d: d.update(cards=["0C8707"]),  # a clear number is not a hash
        lambda d: d.update(cards=[card_hash(KEY, f"{n:06X}") for n in range(21)]),
        lambda d: d.update(relay_pin=40),
        lambda d: d.update(pulse_s=float("nan")),
        lambda d: d.update(pulse_s=3600),
        lambda d: d.update(lock_type="open"),
        lambda d: d.update(formats=[]),
        lambda d: d.update(simulated=False, relay_pin=None),
        lambda d: d.pop("door"),
        lambda d: d.update(surprise=1),
    ],
    ids=[
        "version",
        "clear-number",
        "21-cards",
        "pin",
        "nan-pulse",
        "long-pulse",
        "lock-type",
        "no-format",
        "unwired-relay",
        "no-door",
        "unknown-key",
    ],
)
def test_a_damaged_list_is_refused(damage: object) -> None:
    data = json.loads(encode_plan(plan()))
    damage(data)  # type: ignore[operator]
    with pytest.raises(RescueListError):
        decode_plan(json.dumps(data).encode())


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"version": 1}'])
def test_garbage_is_refused(raw: bytes) -> None:
    with pytest.raises(RescueListError):
        decode_plan(raw)


def test_a_missing_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RescueListError):
        read_plan(tmp_path)


# ------------------------------------------------------------------ the process


async def _serve_briefly(state_dir: Path) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(state_dir, stop))
    await asyncio.sleep(0.05)
    assert not task.done()  # it waits for its stop even with nothing to do
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_the_process_with_a_garbled_list_opens_nothing_and_waits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "device.key").write_bytes(KEY)
    (tmp_path / LIST_FILE).write_bytes(encode_plan(plan())[:-20])
    await _serve_briefly(tmp_path)
    assert "Super Mode opens nothing" in caplog.text
    assert not (tmp_path / LOG_FILE).exists()  # it never started a door


async def test_the_process_logs_its_start_and_stop_to_the_rescue_log(tmp_path: Path) -> None:
    (tmp_path / "device.key").write_bytes(KEY)
    (tmp_path / LIST_FILE).write_bytes(encode_plan(plan()))
    await _serve_briefly(tmp_path)
    entries, unreadable = parse_log((tmp_path / LOG_FILE).read_bytes())
    assert [e.kind for e in entries] == ["started", "stopped"] and unreadable == 0
    assert {(e.door, e.reader) for e in entries} == {("front", "front-wiegand")}
    assert (tmp_path / LOG_FILE).stat().st_mode & 0o777 == 0o600


def test_the_rescue_imports_none_of_the_main_daemons_services() -> None:
    """No web server, no SQLite, no upstream: their failures cannot stop the rescue."""
    code = (
        "import sys, gateway.rescue.__main__\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'sqlite3', 'yarl')\n"
        "       or m.startswith(('gateway.store', 'gateway.web', 'gateway.upstream',\n"
        "                        'gateway.app', 'gateway.access'))]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


async def test_a_site_format_travels_in_the_list_and_reads_at_the_rescue() -> None:
    """A reader with a custom [[wiegand_formats]] entry: the rescue decodes it too."""
    ats30 = CustomFormat(
        "ATS30",
        30,
        (1, 28),
        (13, 28),
        (1, 12),
        ((0, "0_111111111111_0000000000000000_0", "even"),
         (29, "0_000000000000_1111111111111111_0", "odd")),
    )  # fmt: skip
    sent = registry_of((ats30,))["ATS30"].encode(7, 4242)
    card = registry_of((ats30,)).decode(sent, ("ATS30",)).card
    assert card is not None
    listed = plan(formats=("ATS30",), custom_formats=(ats30,), cards=frozenset())
    listed = dataclasses.replace(listed, cards=frozenset({card_hash(KEY, card)}))
    assert decode_plan(encode_plan(listed)) == listed
    rig = Rig(decode_plan(encode_plan(listed)))
    await rig.reader.send(D0, D1, sent, 2000, 50)
    assert rig.strike_energised and rig.entries == [("granted", card)]
