"""Random sequences of door inputs, grants and time: the invariants that keep it fail-closed."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.doors.harness import CONTACT, REX, TAMPER, rig

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("edge"), st.sampled_from([CONTACT, REX, TAMPER]), st.booleans()),
        st.tuples(st.just("wait"), st.sampled_from([0.001, 0.01, 0.03, 0.2, 1.0, 6.0, 31.0])),
        st.tuples(st.just("grant"), st.booleans()),
        st.tuples(st.just("lockdown"), st.booleans()),
        st.tuples(st.just("acknowledge")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS)
def test_random_sequences_keep_the_invariants(actions: list[tuple[object, ...]]) -> None:
    door = rig()
    admin_grant_since_lockdown = False
    for action in actions:
        kind = action[0]
        if kind == "edge":
            door.edge(int(action[1]), bool(action[2]))  # type: ignore[call-overload]
        elif kind == "wait":
            door.advance(float(action[1]))  # type: ignore[arg-type]
        elif kind == "grant":
            admin = bool(action[1])
            granted = door.door.grant("u", override_lockdown=admin)
            assert granted == (admin or not door.door.lockdown)
            admin_grant_since_lockdown |= admin and door.door.lockdown
        elif kind == "lockdown":
            if door.door.set_lockdown(bool(action[1]), "admin"):
                admin_grant_since_lockdown = False
        else:
            door.door.acknowledge("guard")
        status = door.door.status()
        # The alarm output shows exactly whether an alarm is active.
        assert door.door.alarm_output == bool(door.door.alarms)
        # In lockdown only an admin grant can have unlocked the door.
        if door.door.lockdown and not admin_grant_since_lockdown:
            assert not door.door.unlocked
        # The relay's electrical state always matches the reported lock state.
        assert door.relay_energised == door.door.unlocked == (status["lock"] == "unlocked")
    # Openings and closings alternate, starting with an opening.
    contact = [r for r in door.reasons() if r in ("door_opened", "door_closed")]
    assert all(a != b for a, b in itertools.pairwise(contact))
    assert not contact or contact[0] == "door_opened"
    # Left alone for longer than any pulse, a door without a schedule is locked.
    door.advance(60)
    assert not door.door.unlocked
    door.door.stop()
    assert not door.relay_energised and door.timers.pending == 0
