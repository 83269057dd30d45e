"""The simulated hardware's control surface for /sim/...: every input goes into the same
seams as real hardware (mock pins for Wiegand and door inputs, a pseudo-terminal for
serial readers, the simulated PC/SC and NFC backends under the real drivers), all made
by the `SimulatedHardware` the gateway runs on."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock, SteppableClock
from gateway.hw.factory import Hardware, SimulatedHardware
from gateway.hw.reader_base import NotSimulated
from gateway.hw.readers import UnavailableReader
from gateway.hw.sim_drivers import SimulatedInput, WiegandDriver, key_bursts
from gateway.hw.wiegand import WiegandReader
from gateway.settings import FloorSettings
from gateway.web.sim import NotBuilt, UnknownName

if TYPE_CHECKING:
    from gateway.doors.build import DoorInputs
    from gateway.doors.controller import DoorController
    from gateway.feedback import ReaderFeedback
    from gateway.hw.readers import ReaderDriver
    from gateway.reader_chain import ReaderChain


def simulation_for(
    hardware: Hardware,
    chain: ReaderChain,
    doors: Mapping[str, DoorController],
    door_inputs: Mapping[str, DoorInputs],
    clock: Clock,
    floors: Sequence[FloorSettings] = (),
) -> Simulation | None:
    """The `/sim` API's control over `hardware` and what was built on it, or None on real
    hardware: the simulation API exists only to play simulated hardware."""
    if not isinstance(hardware, SimulatedHardware):
        return None
    return Simulation(
        hardware,
        readers=chain.readers,
        door_inputs=door_inputs,
        doors=doors,
        feedback=chain.feedback,
        clock=clock,
        floors=floors,
    )


class Simulation:
    """Implements `gateway.web.sim.SimulationControl` over the readers, doors and reader
    feedback built on `hardware`; `clock` is the daemon's (stepped by /sim/clock)."""

    def __init__(
        self,
        hardware: SimulatedHardware,
        *,
        readers: Mapping[str, ReaderDriver],
        door_inputs: Mapping[str, DoorInputs],
        doors: Mapping[str, DoorController],
        feedback: Mapping[str, ReaderFeedback],
        clock: Clock,
        floors: Sequence[FloorSettings] = (),
    ) -> None:
        self._hardware = hardware
        self._floors = tuple(floors)
        self._readers, self._door_inputs = readers, door_inputs
        self._doors, self._feedback, self._clock = doors, feedback, clock
        self._wiegand = WiegandDriver(hardware)

    def _reader(self, name: str) -> Any:
        reader = self._readers.get(name)
        if reader is None:
            raise UnknownName(f"no reader named {name!r}")
        return reader

    def _input(self, name: str) -> SimulatedInput:
        reader = self._reader(name)
        sim = self._hardware.reader_input(name)
        if sim is None or isinstance(reader, UnavailableReader):
            raise NotBuilt(f"reader {name!r} cannot be driven by the simulation")
        return sim

    async def wiegand(self, reader: str, bits: str, interval_us: float, pulse_us: float) -> None:
        target = self._reader(reader)
        if not isinstance(target, WiegandReader):
            raise NotBuilt(f"reader {reader!r} is not a Wiegand reader on this backend")
        d0, d1 = self._lines(target)
        await self._wiegand.send(d0, d1, bits, interval_us, pulse_us)

    @staticmethod
    def _lines(reader: WiegandReader) -> tuple[int, int]:
        settings = reader.settings
        assert settings.d0_pin is not None and settings.d1_pin is not None
        # A reader wired with crossed lines: the simulation crosses them too.
        if settings.swap_d0_d1:
            return settings.d1_pin, settings.d0_pin
        return settings.d0_pin, settings.d1_pin

    async def keys(self, reader: str, keys: str) -> None:
        target = self._reader(reader)
        if isinstance(target, WiegandReader) and target.kind == "wiegand_keypad":
            burst_bits = 8 if 8 in target.settings.keypad_burst_bits else 4
            d0, d1 = self._lines(target)
            for burst in key_bursts(keys, burst_bits):
                await self._wiegand.send(d0, d1, burst, 2000, 50)
            return
        try:
            await self._input(reader).keys(keys)
        except NotSimulated as exc:
            raise NotBuilt(str(exc)) from exc

    async def card(self, reader: str, uid: str) -> None:
        try:
            await self._input(reader).card(uid)
        except NotSimulated as exc:
            raise NotBuilt(str(exc)) from exc

    async def qr(self, reader: str, text: str) -> None:
        try:
            await self._input(reader).text(text)
        except NotSimulated as exc:
            raise NotBuilt(str(exc)) from exc

    def set_input(self, door: str, name: str, active: bool) -> None:
        inputs = self._door_inputs.get(door)
        if inputs is None:
            raise UnknownName(f"no door named {door!r}")
        if name not in inputs:
            raise UnknownName(f"door {door!r} has no {name} input wired")
        pin, active_low = inputs[name]
        self._hardware.drive(pin, active != active_low)

    def step_clock(self, seconds: float) -> float:
        """Step the gateway's wall clock; the new wall time (epoch seconds)."""
        clock = self._clock
        if not isinstance(clock, SteppableClock):
            raise NotBuilt("this gateway's clock cannot be stepped")
        clock.step(seconds)
        return clock.time()

    def block_loop(self, seconds: float) -> None:
        """Block the event loop for `seconds` on purpose: how a test sees that a stuck
        loop stops the systemd watchdog pings. Reachable only here, on simulated hardware."""
        time.sleep(seconds)

    def outputs(self) -> dict[str, Any]:
        return {
            "doors": {
                name: {
                    "relay": "unlocked" if door.unlocked else "locked",
                    "alarm_output": door.alarm_output,
                    "second_relay": door.status()["second_relay"]["state"],
                }
                for name, door in self._doors.items()
            },
            "readers": {
                name: {"led": fb.led, "beeper": fb.beeper} for name, fb in self._feedback.items()
            },
            # Each lift floor's relay as its pin is driven: energised or not.
            "floors": {
                floor.name: self._hardware.level(floor.pin) == floor.active_high
                for floor in self._floors
                if floor.pin is not None
            },
        }
