"""Akuvox OpenDoor requests carried out: the decision, the journal, then the door.

The web module (`gateway.web.akuvox`) parses and authenticates a request and answers it;
this service does what the request asks, the way the reader pipeline does for a card: the
access rules decide (`gateway.access.http_unlock`, on the engine's own checks), a grant the
door will refuse becomes a denial with the door's reason, the decision is journaled, and
only then does the door move (`gateway.doors.grants`). The in/out state of HTTP unlocks
records a passage only when the door really unlocked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.access.engine import AccessEngine
from gateway.access.http_unlock import HttpUnlockRules, HttpUnlockState
from gateway.clock import Clock, Instant
from gateway.doors.controller import DoorController
from gateway.doors.grants import as_door_allows, move_door
from gateway.model import Event, UnlockClaim
from gateway.settings import Settings

READER = "http_unlock"  # the journal's `reader` and `source` of these events

RecordApi = Callable[[str, str, str], None]  # (reason, username, detail) -> an `api` event


class OpenDoorService:
    """Opens doors for OpenDoor requests that passed authentication and parsing."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        engine: AccessEngine,
        passages: HttpUnlockState,
        doors: Mapping[str, DoorController],
        emit: Callable[[Event], None],
        record_api: RecordApi,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._rules = HttpUnlockRules(engine, passages, settings.http_unlock.card_format)
        self._passages = passages
        self._doors = doors
        self._emit = emit
        self._record_api = record_api

    def record_api(self, reason: str, username: str, detail: str = "") -> None:
        """Journal an `api` event (e.g. a wrong password) by `username`."""
        self._record_api(reason, username, detail)

    def remote_unlock(self, door: str, by: str, address: str) -> str | None:
        """No user named: the sender itself unlocks `door` (journaled as `remote_unlock` with
        the basic-auth user `by`, before the door moves). Never overrides a lockdown.
        None when the door unlocked, else the door's refusal (`lockdown`, `shutdown`)."""
        controller = self._doors[door]
        refusal = controller.grant_refusal()
        reason = "remote_unlock" if refusal is None else "remote_unlock_refused"
        self._record_api(reason, by, f"http_unlock door={door} from {address}")
        if controller.pulse(f"http:{by}"):
            return None
        return refusal or "lockdown"  # a door refuses a pulse only in lockdown or stopping

    def identified_unlock(self, door: str, claim: UnlockClaim, by: str, address: str) -> str | None:
        """The user `claim` names passes `door` if this gateway's rules let them: one
        `access` event, then the door. None when the door unlocked, else the deny reason."""
        now = Instant.read(self._clock)
        origin = f"http_unlock:by={by},from={address},unlock_type={claim.unlock_type or '-'}"
        decided = self._rules.decide(claim, door, now, origin)
        controller = self._doors[door]
        acted = as_door_allows(controller, decided.decision)
        self._emit(
            Event(
                type="access",
                time=now.wall,
                door=door,
                reader=READER,
                user_id=acted.user_id,
                credential_kind=decided.credential_kind,
                credential=decided.credential,
                granted=acted.granted,
                reason=acted.reason,
                source=READER,
                trace=acted.journal_trace,
                direction=decided.direction,
            )
        )
        opened = move_door(controller, decided.decision, cause=READER)
        if opened and acted.user_id is not None:
            self._passages.commit(acted.user_id, decided.direction, now)
        return None if opened else acted.reason
