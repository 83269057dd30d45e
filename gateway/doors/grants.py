"""A final access decision meets the door: the one path every grant takes to the lock.

A reader's credential (`gateway.pipeline`) and an Akuvox OpenDoor request
(`gateway.opendoor`) both go this way, in this order: `as_door_allows` turns a grant the door
will refuse into a denial with the door's reason, the caller journals that decision, then
`move_door` unlocks (or counts a denial). Journaling first gives the decision a lower
sequence number than the door events it causes.
"""

from __future__ import annotations

from gateway.doors.controller import DoorController
from gateway.model import Decision


def as_door_allows(door: DoorController, decision: Decision) -> Decision:
    """A final grant the door will refuse (lockdown without the user's override, or the
    daemon stopping) as a denial with the door's reason, traced `door:REASON`."""
    if not (decision.final and decision.granted):
        return decision
    refusal = door.grant_refusal(override_lockdown=decision.lockdown_override)
    return decision if refusal is None else decision.refused_by_door(refusal)


def move_door(door: DoorController, decision: Decision, cause: str = "granted") -> bool:
    """Unlock for a final grant (the door may still refuse), else count a denial (a second
    relay in `access_denied` mode pulses). True when the door unlocked; `cause` is the
    door event's trace."""
    if not decision.final:
        return False
    if decision.granted and door.grant(
        decision.user_id,
        override_lockdown=decision.lockdown_override,
        reason=cause,
        starts_schedule=decision.schedule_activation,
    ):
        return True
    door.denied()
    return False
