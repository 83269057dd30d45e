"""The whole-daemon scenarios of tests/daemon/, on a real Pi through the loopback harness.

Each test starts the real daemon on the gateway pins of hw-tests/gateway.toml (lgpio),
plays a device on the harness pins, and reads the relay back on a harness input, with
the kernel's edge timestamps. docs/hw-test-harness.md shows the wiring.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from conftest import Gateway, HarnessPins
from harness import INTERACTIVE_ENV, Harness

from gateway.hw.formats import encode_h10301

RELAY_PULSE_S = 2.0  # relay_pulse_s in hw-tests/gateway.toml
DEBOUNCE_S = 0.05


def card_bits(harness: Harness) -> str:
    return encode_h10301(harness.card_facility, harness.card_number)


def test_wiring_loops_back(pins: HarnessPins, harness: Harness) -> None:
    """Each Wiegand output reaches its sense input: the harness is wired as documented."""
    for name in ("wiegand_d0", "wiegand_d1"):
        wire = harness.wires[name]
        assert wire.sense is not None
        mark = pins.mark()
        pins.set(name, False)
        try:
            pins.wait_edge(mark, wire.sense, False, timeout_s=0.5)
        except AssertionError:
            pytest.fail(f"{name}: GPIO{wire.harness} driven low, GPIO{wire.sense} did not follow")
        finally:
            pins.set(name, True)


def test_card_granted_unlocks_then_locks(
    pins: HarnessPins,
    harness: Harness,
    gateway: Gateway,
    record_property: Callable[[str, object], None],
) -> None:
    relay = harness.wires["relay"].harness
    senses = {w.sense for w in harness.wires.values() if w.sense is not None}
    mark = pins.mark()
    pins.play_wiegand(card_bits(harness))
    unlocked = pins.wait_edge(mark, relay, True, timeout_s=2.0)
    bits = [e for e in pins.edges_since(mark) if e.pin in senses and not e.level]
    assert len(bits) == 26, f"the sense inputs saw {len(bits)} bits, not 26"
    last_bit = max(bits, key=lambda edge: edge.ticks)  # two lines: callbacks may interleave
    latency_ms = (unlocked.ticks - last_bit.ticks) * 1000
    print(f"last Wiegand bit to relay unlocked: {latency_ms:.1f} ms")
    record_property("latency_ms", round(latency_ms, 2))
    assert 0 < latency_ms <= harness.latency_budget_ms

    locked = pins.wait_edge(mark, relay, False, timeout_s=RELAY_PULSE_S + 1.0)
    assert RELAY_PULSE_S - 0.1 <= locked.ticks - unlocked.ticks <= RELAY_PULSE_S + 0.5
    reasons = gateway.wait_reason("granted")
    after = reasons[reasons.index("granted") :]
    assert "unlocked" in after and "locked" in after[after.index("unlocked") :], reasons


def test_unknown_card_is_denied_and_the_relay_stays_locked(
    pins: HarnessPins, harness: Harness, gateway: Gateway
) -> None:
    relay = harness.wires["relay"].harness
    mark = pins.mark()
    pins.play_wiegand(encode_h10301(200, 4242))  # no user has it
    reasons = gateway.wait_reason("unknown_credential")
    assert "granted" not in reasons
    time.sleep(0.5)
    assert pins.edges_since(mark, relay) == [], "the relay moved for an unknown card"


def test_bad_parity_is_denied_and_the_relay_stays_locked(
    pins: HarnessPins, harness: Harness, gateway: Gateway
) -> None:
    bits = card_bits(harness)
    bad_parity = bits[:-1] + ("0" if bits[-1] == "1" else "1")
    relay = harness.wires["relay"].harness
    mark = pins.mark()
    pins.play_wiegand(bad_parity)
    time.sleep(1.0)
    assert pins.edges_since(mark, relay) == [], "the relay moved on a bad-parity frame"
    assert "granted" not in gateway.reasons()


def test_exit_button_unlocks_for_one_pulse(
    pins: HarnessPins, harness: Harness, gateway: Gateway
) -> None:
    relay = harness.wires["relay"].harness
    mark = pins.mark()
    pins.set("exit_button", False)  # pressed: the button pulls the line to ground
    time.sleep(DEBOUNCE_S * 3)
    pins.set("exit_button", True)
    unlocked = pins.wait_edge(mark, relay, True, timeout_s=1.0)
    locked = pins.wait_edge(mark, relay, False, timeout_s=RELAY_PULSE_S + 1.0)
    assert locked.ticks - unlocked.ticks >= RELAY_PULSE_S - 0.1
    assert "exit_button" in gateway.wait_reason("exit_button")


def test_forced_open_alarms_and_the_relay_stays_locked(
    pins: HarnessPins, harness: Harness, gateway: Gateway
) -> None:
    relay = harness.wires["relay"].harness
    mark = pins.mark()
    pins.set("contact", True)  # a normally-closed contact opens: the line goes high
    time.sleep(DEBOUNCE_S * 4)
    pins.set("contact", False)
    reasons = gateway.wait_reason("forced_open")
    assert "door_opened" in reasons
    assert pins.edges_since(mark, relay) == [], "the relay moved on a forced opening"


@pytest.mark.parametrize("kind", ["nfc", "pcsc"])
def test_tag_presented_is_journaled(harness: Harness, gateway: Gateway, kind: str) -> None:
    """A person presents the harness tag to the NFC or PC/SC reader when asked."""
    uid = harness.tags.get(f"{kind}_uid", "")
    if not uid or os.environ.get(INTERACTIVE_ENV) != "1":
        pytest.skip(f"set tags.{kind}_uid and {INTERACTIVE_ENV}=1 to present the {kind} tag")
    reader = harness.tags[f"{kind}_reader"]
    print(f"\n>>> present the {kind} tag {uid} to reader {reader!r} within 30 s")
    gateway.wait_reason("unknown_credential", timeout_s=30.0)
